// One Apollo Client per token: queries and mutations over HTTP (POST /graphql),
// subscriptions over graphql-transport-ws (/graphql/ws) with the token in the
// connection_init payload, which is where the gateway reads it.
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { OperationTypeNode } from 'graphql';
import { createClient } from 'graphql-ws';
import { socketUrl } from './urls.js';

/** A connection's first page wins; a page fetched `after` a cursor is appended to it. */
function connectionPolicy(keyArgs) {
  return {
    keyArgs,
    merge(existing, incoming, { args, readField }) {
      if (!existing || !args?.after) return incoming;
      const known = new Set(existing.edges.map((edge) => readField('id', edge.node)));
      const fresh = incoming.edges.filter((edge) => !known.has(readField('id', edge.node)));
      return { ...incoming, edges: [...existing.edges, ...fresh] };
    },
  };
}

/**
 * A client for the holder of `token`; `socket` tells (useSyncExternalStore-style) whether
 * the subscription socket is `idle`, `connecting`, `live` or `closed`; `close` ends both.
 */
export function createApollo(token) {
  const authorization = `Bearer ${token}`;
  const http = new HttpLink({ uri: '/graphql', headers: { Authorization: authorization } });
  const socketState = observable('idle');
  let client = null;
  const socket = createClient({
    url: socketUrl('/graphql/ws'),
    connectionParams: { Authorization: authorization },
    // A refused token (4403) stays refused: say so at once instead of retrying.
    shouldRetry: (event) => !(event && typeof event === 'object' && event.code === 4403),
    on: {
      connecting: () => socketState.set('connecting'),
      connected: (_socket, _payload, wasRetry) => {
        socketState.set('live');
        // Events are not replayed (the gateway follows them from core NATS): what
        // happened while the socket was down is read again.
        // Each query shows its own error, if any.
        if (wasRetry) client?.refetchQueries({ include: 'active' }).catch(() => {});
      },
      closed: () => socketState.set('closed'),
    },
  });
  const link = ApolloLink.split(
    ({ operationType }) => operationType === OperationTypeNode.SUBSCRIPTION,
    new GraphQLWsLink(socket),
    http,
  );
  client = new ApolloClient({
    link,
    cache: new InMemoryCache({
      typePolicies: {
        Query: {
          fields: {
            todos: connectionPolicy(['ownerId']),
            shows: connectionPolicy(false),
          },
        },
      },
    }),
  });
  return {
    client,
    socket: socketState,
    close() {
      client.stop();
      socket.dispose();
    },
  };
}

/** A value and its listeners, in the shape useSyncExternalStore takes. */
function observable(initial) {
  let value = initial;
  const listeners = new Set();
  return {
    get: () => value,
    set(next) {
      value = next;
      listeners.forEach((listener) => listener());
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
