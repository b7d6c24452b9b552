//! GraphQL over WebSocket (`graphql-transport-ws`, and the older `graphql-ws`). The token
//! travels in the `connection_init` payload as `{"Authorization": "Bearer …"}`.
//!
//! async-graphql speaks the protocol; this module owns the connection around it, because
//! the protocol leaves three things to the server: a socket that never sends
//! `connection_init` is closed with 4408 after `GATEWAY_WS_INIT_TIMEOUT_MS`; at most
//! `GATEWAY_MAX_WEBSOCKETS` sockets are open at once (further upgrades get 503); and at
//! shutdown every socket is closed with 1001 (going away), so clients reconnect elsewhere.
//! Operations run through the same schema extension as HTTP requests, so the same limits
//! apply and every error carries `extensions.code`; so does the older protocol's
//! `connection_error` (see [`with_code`]).

use async_graphql::Data;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use async_graphql::http::{
    ALL_WEBSOCKET_PROTOCOLS, WebSocket as ProtocolStream, WebSocketProtocols, WsMessage,
};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt, future};
use switchboard::auth::Caller;
use tokio::sync::OwnedSemaphorePermit;

use super::{AppState, auth};
use crate::dispatch::unauthenticated;
use crate::schema::relations::Loaders;

/// The close code of `graphql-transport-ws` for a socket that did not initialise in time.
pub const INIT_TIMEOUT_CLOSE: u16 = 4408;
/// The WebSocket close code "going away", sent when the gateway shuts down.
pub const GOING_AWAY_CLOSE: u16 = 1001;
/// The close code of `graphql-transport-ws` for a refused `connection_init` ("Forbidden").
pub const FORBIDDEN_CLOSE: u16 = 4403;
/// The WebSocket close code "protocol error", which async-graphql sends for a refused
/// `connection_init`.
const PROTOCOL_ERROR_CLOSE: u16 = 1002;

/// `GET /graphql/ws` with an upgrade.
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(protocol) = protocol(&headers) else {
        return (
            StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Protocol must name graphql-transport-ws or graphql-ws",
        )
            .into_response();
    };
    let Ok(permit) = state.websockets.clone().try_acquire_owned() else {
        tracing::warn!(
            max = state.settings.max_websockets,
            "WebSocket refused: too many open"
        );
        let body = serde_json::json!({ "errors": [{
            "message": "too many WebSocket connections are open; try again later",
            "extensions": { "code": "OVERLOADED" },
        }]});
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve(socket, state, protocol, permit))
}

/// The first GraphQL subprotocol the client offers.
fn protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)?
        .to_str()
        .ok()?
        .split(',')
        .find_map(|offered| WebSocketProtocols::from_str(offered.trim()).ok())
}

/// Serves one socket until the client or the protocol ends it, it fails to initialise in
/// time, or the gateway shuts down. `_permit` counts it among the open sockets until then.
async fn serve(
    socket: WebSocket,
    state: AppState,
    protocol: WebSocketProtocols,
    _permit: OwnedSemaphorePermit,
) {
    let (mut sink, stream) = socket.split();
    let input = stream
        .take_while(|message| future::ready(message.is_ok()))
        .filter_map(|message| {
            future::ready(match message {
                Ok(Message::Text(text)) => Some(axum::body::Bytes::from(text)),
                Ok(Message::Binary(bytes)) => Some(bytes),
                _ => None,
            })
        });
    let (initialised, mut init_received) = tokio::sync::oneshot::channel::<()>();
    let connection_state = state.clone();
    // The code of a refused `connection_init`, for `with_code`.
    let refusal: Arc<OnceLock<String>> = Arc::default();
    let init_refusal = refusal.clone();
    let messages = ProtocolStream::new(state.schema.schema.clone(), input, protocol)
        .on_connection_init(move |payload| {
            // The timeout guards the wait for the message, not the token's verification.
            let _ = initialised.send(());
            async move {
                let data = connection_data(connection_state, payload).await;
                if let Err(error) = &data {
                    let _ = init_refusal.set(code_of(error).to_string());
                }
                data
            }
        });
    futures::pin_mut!(messages);
    let init_timeout = tokio::time::sleep(state.settings.ws_init_timeout);
    futures::pin_mut!(init_timeout);
    let mut waiting_for_init = true;
    let mut shutdown = state.shutdown.clone();
    loop {
        let message = tokio::select! {
            message = messages.next() => match message {
                Some(message) => message,
                None => break,
            },
            _ = &mut init_received, if waiting_for_init => {
                waiting_for_init = false;
                continue;
            }
            () = &mut init_timeout, if waiting_for_init => {
                tracing::info!("WebSocket closed: no connection_init in time");
                WsMessage::Close(INIT_TIMEOUT_CLOSE, "Connection initialisation timeout".into())
            }
            // An error means the gateway is gone, which is a shutdown too.
            _ = shutdown.wait_for(|stopping| *stopping) => {
                WsMessage::Close(GOING_AWAY_CLOSE, "the gateway is shutting down".into())
            }
        };
        let closing = matches!(message, WsMessage::Close(..));
        let frame = match message {
            WsMessage::Text(text) => {
                Message::Text(with_code(text, refusal.get().map(String::as_str)).into())
            }
            WsMessage::Close(code, reason) => {
                // A refused `connection_init` is "Forbidden" in the protocol, so clients
                // stop retrying with the same token; async-graphql says "protocol error".
                let refused = code == PROTOCOL_ERROR_CLOSE && refusal.get().is_some();
                Message::Close(Some(CloseFrame {
                    code: if refused { FORBIDDEN_CLOSE } else { code },
                    reason: reason.into(),
                }))
            }
        };
        if sink.send(frame).await.is_err() || closing {
            break;
        }
    }
    // Best effort: the peer may already be gone.
    let _ = sink.close().await;
}

/// The `extensions.code` of `error`, `BAD_REQUEST` if it has none.
fn code_of(error: &async_graphql::Error) -> &str {
    let code = error.extensions.as_ref().and_then(|e| e.get("code"));
    match code {
        Some(async_graphql::Value::String(code)) => code,
        _ => "BAD_REQUEST",
    }
}

/// `text`, with a code put back into a `connection_error` (the older `graphql-ws`
/// protocol), which async-graphql sends with the error's message alone: `refusal`, the code
/// of the refused `connection_init`, or `BAD_REQUEST` (a second `connection_init`). Other
/// messages pass unchanged.
fn with_code(text: String, refusal: Option<&str>) -> String {
    if !text.starts_with(r#"{"type":"connection_error""#) {
        return text;
    }
    let Ok(mut message) = serde_json::from_str::<serde_json::Value>(&text) else {
        return text;
    };
    let Some(payload) = message
        .get_mut("payload")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return text;
    };
    let extensions = payload
        .entry("extensions")
        .or_insert_with(|| serde_json::json!({}));
    if let Some(extensions) = extensions.as_object_mut() {
        extensions
            .entry("code")
            .or_insert_with(|| refusal.unwrap_or("BAD_REQUEST").into());
    }
    message.to_string()
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
    // Idempotency keys are an HTTP header; WebSocket operations carry none.
    let scope = state.scope(caller, token, None, false, None);
    let mut data = Data::default();
    data.insert(Loaders::new(&state.schema.relations, scope.clone()));
    data.insert(state.readiness.clone());
    data.insert(scope);
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_error_gets_a_code_and_other_messages_pass_unchanged() {
        let refused = r#"{"type":"connection_error","payload":{"message":"bad token"}}"#;
        let coded: serde_json::Value =
            serde_json::from_str(&with_code(refused.into(), Some("UNAUTHENTICATED")))
                .expect("JSON");
        assert_eq!(coded["payload"]["extensions"]["code"], "UNAUTHENTICATED");
        assert_eq!(coded["payload"]["message"], "bad token");
        let second: serde_json::Value =
            serde_json::from_str(&with_code(refused.into(), None)).expect("JSON");
        assert_eq!(second["payload"]["extensions"]["code"], "BAD_REQUEST");
        let next = r#"{"type":"next","id":"1","payload":{"data":null}}"#;
        assert_eq!(with_code(next.into(), Some("UNAUTHENTICATED")), next);
    }
}
