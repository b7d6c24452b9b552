// Any error the app meets, as the list of `{ code, message }` the page shows: the
// gateway's `extensions.code` when it sent one, else a code naming what failed.
import { CombinedGraphQLErrors, ServerError, ServerParseError } from '@apollo/client/errors';

/** WebSocket close codes the gateway uses, by what they mean to a user. */
const CLOSE_CODES = {
  4403: 'UNAUTHENTICATED', // graphql-transport-ws "Forbidden"
  4408: 'TIMEOUT', // no connection_init in time
  1001: 'UNAVAILABLE', // the gateway is shutting down
};

/** The code of a socket closed with `code` and `reason`. */
function closeCode(code) {
  return CLOSE_CODES[code] ?? `SOCKET_CLOSED_${code}`;
}

function fromGraphQL(errors) {
  return errors.map((e) => ({
    code: e.extensions?.code ?? 'GRAPHQL_ERROR',
    message: e.message,
  }));
}

export function describeError(error) {
  if (!error) return [];
  if (CombinedGraphQLErrors.is(error)) return fromGraphQL(error.errors);
  if (ServerError.is(error)) {
    try {
      const body = JSON.parse(error.bodyText);
      if (Array.isArray(body.errors) && body.errors.length) return fromGraphQL(body.errors);
    } catch {
      // Not JSON: fall through to the status.
    }
    const code = error.statusCode === 503 ? 'UNAVAILABLE' : `HTTP_${error.statusCode}`;
    return [{ code, message: error.message }];
  }
  if (ServerParseError.is(error)) {
    return [{ code: 'BAD_RESPONSE', message: 'the server answered something that is not JSON' }];
  }
  const closed = /^Socket closed with event (\d+)\s*(.*)$/.exec(error.message ?? '');
  if (closed) {
    return [
      {
        code: closeCode(closed[1]),
        message: closed[2] || 'the subscription socket was closed',
      },
    ];
  }
  if (error instanceof TypeError) {
    return [{ code: 'NETWORK_ERROR', message: `the gateway cannot be reached (${error.message})` }];
  }
  return [{ code: error.code ?? error.name ?? 'ERROR', message: error.message ?? String(error) }];
}
