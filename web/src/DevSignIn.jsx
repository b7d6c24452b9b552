import { useState } from 'react';
import ErrorList from './ErrorList.jsx';

/**
 * Development only: asks the gateway to sign a token for any user id (POST /dev/token,
 * served when the gateway runs with GATEWAY_DEV_TOKENS=true, 404 otherwise).
 */
export default function DevSignIn({ onSignIn }) {
  const [userId, setUserId] = useState('');
  const [admin, setAdmin] = useState(false);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignIn(await devToken(userId.trim(), admin));
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} className="stack dev-sign-in" data-testid="dev-sign-in">
      <h3>
        As anyone <span className="badge badge-dev">development</span>
      </h3>
      <label>
        User id
        <input
          data-testid="dev-user-id"
          value={userId}
          onChange={(e) => setUserId(e.target.value)}
          placeholder="ada"
          autoComplete="username"
        />
      </label>
      <label className="inline">
        <input
          type="checkbox"
          data-testid="dev-admin"
          checked={admin}
          onChange={(e) => setAdmin(e.target.checked)}
        />
        administrator
      </label>
      <button type="submit" data-testid="dev-sign-in-button" disabled={busy || !userId.trim()}>
        Sign in
      </button>
      <ErrorList error={error} />
    </form>
  );
}

/** The token the gateway signs for `sub` (with the `admin` role when `admin`). */
async function devToken(sub, admin) {
  const response = await fetch('/dev/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(admin ? { sub, roles: ['admin'] } : { sub }),
  });
  const text = await response.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: described by the status below.
  }
  if (response.ok && typeof body?.token === 'string') return body.token;
  // The gateway refuses with {"error": "<why>"}; a 404 means dev tokens are off.
  const why =
    response.status === 404
      ? 'this gateway does not sign development tokens (start it with GATEWAY_DEV_TOKENS=true)'
      : (body?.error ?? `POST /dev/token answered ${response.status}`);
  const error = new Error(why);
  error.code = response.status === 400 ? 'BAD_USER_INPUT' : `HTTP_${response.status}`;
  throw error;
}
