//! GraphQL over WebSocket (`graphql-transport-ws`, and the older `graphql-ws`). The token
//! travels in the `connection_init` payload as `{"Authorization": "Bearer …"}`.

use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use switchboard::auth::Caller;

use super::{AppState, auth};
use crate::dispatch::unauthenticated;
use crate::schema::relations::Loaders;

/// `GET /graphql/ws` with an upgrade.
pub async fn upgrade(
    State(state): State<AppState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| {
            let schema = state.schema.schema.clone();
            GraphQLWebSocket::new(stream, schema, protocol)
                .on_connection_init(move |payload| connection_data(state, payload))
                .serve()
        })
}

/// The data of one connection: its caller and loaders. A connection lives longer than a
/// request, so its bus requests get the request timeout from when each is sent.
async fn connection_data(
    state: AppState,
    payload: serde_json::Value,
) -> async_graphql::Result<Data> {
    let authorization = payload
        .get("Authorization")
        .or_else(|| payload.get("authorization"))
        .and_then(|v| v.as_str());
    let (caller, token) = match authorization {
        None => (Caller::Anonymous, None),
        Some(value) => match auth::verify(&state, value).await {
            Ok((caller, token)) => (caller, Some(token)),
            Err(_) => return Err(unauthenticated("the token in connection_init is not valid")),
        },
    };
    let scope = state.scope(caller, token, None, false);
    let mut data = Data::default();
    data.insert(Loaders::new(&state.schema.relations, scope.clone()));
    data.insert(state.readiness.clone());
    data.insert(scope);
    Ok(data)
}
