//! The caller of an HTTP request: no `Authorization` header means anonymous; a header
//! that does not verify ends the request with 401 before any field runs.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use switchboard::auth::{self, Caller};
use switchboard::bus::TraceContext;

use super::AppState;
use crate::dispatch::RequestScope;

/// The scope of one request: its caller, forwarded token, trace context, deadline and
/// idempotency key.
pub async fn scope(
    state: &AppState,
    headers: &HeaderMap,
    idempotency_key: Option<String>,
) -> Result<Arc<RequestScope>, Response> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let (caller, token) = match authorization {
        None => (Caller::Anonymous, None),
        Some(value) => {
            let (caller, token) = verify(state, &value)
                .await
                .map_err(|error| unauthorized(&error, headers))?;
            (caller, Some(token))
        }
    };
    Ok(state.scope(caller, token, trace_context(headers), true, idempotency_key))
}

/// Verifies an `Authorization` value (from a header or a WebSocket init payload) and
/// returns the caller with the token to forward.
pub async fn verify(
    state: &AppState,
    authorization: &str,
) -> Result<(Caller, String), auth::AuthError> {
    match auth::authenticate(Some(authorization), state.verifier.as_deref()).await {
        Ok(caller) => {
            let token = auth::bearer_token(authorization).unwrap_or_default();
            Ok((caller, token.to_string()))
        }
        Err(error) => {
            tracing::info!(%error, "token refused");
            Err(error)
        }
    }
}

/// The W3C trace context the request came with, passed on to services: `traceparent`
/// when it is well formed (the request's span continues it), `tracestate` and `baggage`
/// unchanged.
pub fn trace_context(headers: &HeaderMap) -> Option<TraceContext> {
    let traceparent = traceparent(headers)?;
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    Some(TraceContext {
        traceparent: traceparent.to_string(),
        tracestate: text("tracestate"),
        baggage: text("baggage"),
    })
}

/// The request's `traceparent`, when it has the W3C shape.
fn traceparent(headers: &HeaderMap) -> Option<&str> {
    let traceparent = headers.get("traceparent")?.to_str().ok()?.trim();
    // version-traceid-parentid-flags: 2 + 32 + 16 + 2 hex digits and 3 dashes.
    let well_formed =
        traceparent.len() == 55 && traceparent.split('-').map(str::len).eq([2, 32, 16, 2]);
    well_formed.then_some(traceparent)
}

/// 401 with a GraphQL error body, in the media type the request accepts, and a
/// `WWW-Authenticate` challenge.
fn unauthorized(error: &auth::AuthError, headers: &HeaderMap) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": error.to_string(), "extensions": { "code": "UNAUTHENTICATED" } }]
    });
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::CONTENT_TYPE, super::graphql::content_type(headers)),
            (header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""),
        ],
        body.to_string(),
    )
        .into_response()
}
