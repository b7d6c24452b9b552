// The gateway's GraphiQL page (served at /graphql to browsers). Queries and mutations go
// to POST /graphql, subscriptions over graphql-transport-ws to /graphql/ws. The headers
// editor's headers travel with every HTTP request and, for a subscription, as the
// `connection_init` payload, which is where the gateway reads `Authorization` from.
import 'graphiql/setup-workers/vite';
import 'graphiql/style.css';
import './graphiql.css';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { loadToken } from './auth.js';
import { socketUrl } from './urls.js';

// createGraphiQLFetcher opens one graphql-ws client per subscription, with
// `connectionParams` = `wsConnectionParams` merged with the headers editor's headers.
const fetcher = createGraphiQLFetcher({
  url: '/graphql',
  subscriptionUrl: socketUrl('/graphql/ws'),
  // The gateway answers single JSON results; no multipart reader needed.
  enableIncrementalDelivery: false,
});

const DEFAULT_QUERY = `# Switchboard's GraphQL API. Put a bearer token in the Headers tab below:
#   {"Authorization": "Bearer <token>"}
# (\`cargo xtask token --sub <user id> [--role admin]\` prints one; \`cargo xtask dev\`
# prints an administrator's.) Subscriptions carry the same header in connection_init.

query Shows {
  shows(first: 10) {
    edges { node { id name capacity reserved sold priceCents } }
    pageInfo { hasNextPage endCursor }
  }
}
`;

// The web client keeps its token in this tab's sessionStorage: offer it, never store it.
const token = loadToken();
const defaultHeaders = token ? JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2) : '';

createRoot(document.getElementById('graphiql')).render(
  <StrictMode>
    <GraphiQL
      fetcher={fetcher}
      defaultQuery={DEFAULT_QUERY}
      defaultHeaders={defaultHeaders}
      defaultEditorToolsVisibility="headers"
      shouldPersistHeaders={false}
    />
  </StrictMode>,
);
