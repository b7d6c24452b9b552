import { useCallback, useState, useSyncExternalStore } from 'react';
import { ApolloProvider } from '@apollo/client/react';
import { createApollo } from './apollo.js';
import { clearToken, loadToken, readClaims, saveToken } from './auth.js';
import Bookings, { useSessionBookings } from './Bookings.jsx';
import ErrorBoundary from './ErrorBoundary.jsx';
import Shows from './Shows.jsx';
import SignIn from './SignIn.jsx';
import Todos from './Todos.jsx';

/** A signed-in session: the token, what it says, and the Apollo Client speaking with it. */
function openSession(token) {
  if (!token) return null;
  return { token, claims: readClaims(token), ...createApollo(token) };
}

export default function App() {
  const [session, setSession] = useState(() => openSession(loadToken()));

  const signIn = useCallback(
    (token) => {
      session?.close();
      saveToken(token);
      setSession(openSession(token));
    },
    [session],
  );
  const signOut = useCallback(() => {
    session?.close();
    clearToken();
    setSession(null);
  }, [session]);

  return (
    <>
      <header className="topbar">
        <h1>Switchboard</h1>
        <nav>
          {/* Same tab: GraphiQL offers this tab's token in its headers editor. */}
          <a href="/graphql">GraphiQL</a>
        </nav>
        {session && <Whoami session={session} onSignOut={signOut} />}
      </header>
      <main>
        {session ? (
          <ApolloProvider client={session.client} key={session.token}>
            <SignedIn session={session} />
          </ApolloProvider>
        ) : (
          <SignIn onSignIn={signIn} />
        )}
      </main>
    </>
  );
}

function Whoami({ session, onSignOut }) {
  const live = useSyncExternalStore(session.socket.subscribe, session.socket.get);
  const { claims } = session;
  const admin = claims?.roles.includes('admin');
  return (
    <div className="whoami">
      <span data-testid="whoami">
        {claims?.sub ? (
          <>
            Signed in as <strong data-testid="whoami-sub">{claims.sub}</strong>
          </>
        ) : (
          'Signed in with a token that is not a JWT'
        )}
      </span>
      {admin && <span className="badge badge-admin">administrator</span>}
      {claims?.exp && (
        <span className="muted">until {new Date(claims.exp * 1000).toLocaleTimeString()}</span>
      )}
      <span className={`badge badge-socket-${live}`} data-testid="socket-state" data-state={live}>
        {live === 'live' ? 'live' : live}
      </span>
      <button type="button" data-testid="sign-out" onClick={onSignOut}>
        Sign out
      </button>
    </div>
  );
}

function SignedIn({ session }) {
  const userId = session.claims?.sub ?? '';
  const admin = Boolean(session.claims?.roles.includes('admin'));
  const [bookings, addBooking] = useSessionBookings(userId);
  return (
    <div className="columns">
      <ErrorBoundary name="todos">
        <Todos ownerId={userId} />
      </ErrorBoundary>
      <div className="stack">
        <ErrorBoundary name="shows">
          <Shows admin={admin} onBooked={addBooking} />
        </ErrorBoundary>
        <ErrorBoundary name="bookings">
          <Bookings bookings={bookings} />
        </ErrorBoundary>
      </div>
    </div>
  );
}
