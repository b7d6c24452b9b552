// The signed-in user's bearer token, kept in this tab's sessionStorage (gone when the tab
// closes), and what the app reads from it for display. The gateway and the services verify
// the token; nothing here trusts it.

const TOKEN_KEY = 'switchboard.token';

export function loadToken() {
  return window.sessionStorage.getItem(TOKEN_KEY) || null;
}

export function saveToken(token) {
  window.sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  window.sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * The claims of a JWT, decoded without verifying it: `{ sub, roles, exp }`, or `null` when
 * `token` is not a JWT (the gateway then answers UNAUTHENTICATED, which the page shows).
 */
export function readClaims(token) {
  const payload = token?.split('.')[1];
  if (!payload) return null;
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(
      Uint8Array.from(window.atob(base64), (c) => c.charCodeAt(0)),
    );
    const claims = JSON.parse(json);
    return {
      sub: typeof claims.sub === 'string' ? claims.sub : null,
      roles: Array.isArray(claims.roles) ? claims.roles : [],
      exp: typeof claims.exp === 'number' ? claims.exp : null,
    };
  } catch {
    return null;
  }
}
