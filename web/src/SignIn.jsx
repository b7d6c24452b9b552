import { useState } from 'react';
import DevSignIn from './DevSignIn.jsx';

// Only development builds (web/.env.development) offer signing in as anyone; in a
// production build this is `false` and the bundler drops DevSignIn altogether.
const DEV_SIGN_IN = import.meta.env.VITE_DEV_SIGN_IN === 'true';

/** Signing in: with a token from elsewhere, or (development builds) as anyone. */
export default function SignIn({ onSignIn }) {
  return (
    <section className="panel sign-in" data-testid="sign-in">
      <h2>Sign in</h2>
      {DEV_SIGN_IN && <DevSignIn onSignIn={onSignIn} />}
      <PasteToken onSignIn={onSignIn} />
    </section>
  );
}

function PasteToken({ onSignIn }) {
  const [token, setToken] = useState('');
  const submit = (event) => {
    event.preventDefault();
    const value = token.trim().replace(/^Bearer\s+/i, '');
    if (value) onSignIn(value);
  };
  return (
    <form onSubmit={submit} className="stack">
      <h3>With a token</h3>
      <label>
        Bearer token
        <textarea
          data-testid="token-input"
          rows={3}
          value={token}
          onChange={(e) => setToken(e.target.value)}
          placeholder="eyJhbGciOi… (cargo xtask token --sub <user id>)"
        />
      </label>
      <button type="submit" data-testid="token-sign-in" disabled={!token.trim()}>
        Use this token
      </button>
    </form>
  );
}
