//! Sending a field's rpc over the bus for one GraphQL request, and turning failures into
//! GraphQL errors with `extensions.code`. Internals (subjects, NATS errors, causes) go to
//! the log, never to the client.

use std::time::{Duration, SystemTime};

use async_graphql::ErrorExtensions;
use bytes::Bytes;
use switchboard::auth::Caller;
use switchboard::bus::TraceContext;
use switchboard::{Bus, BusError, CallOptions, Rpc};

/// What every bus request of one GraphQL request shares.
pub struct RequestScope {
    /// The bus.
    pub bus: Bus,
    /// The verified caller.
    pub caller: Caller,
    /// The caller's token, forwarded so services verify it themselves.
    pub token: Option<String>,
    /// The W3C trace context the HTTP request came with.
    pub trace: Option<TraceContext>,
    /// When the HTTP request times out; no bus request outlives it. `None` for a WebSocket
    /// connection, which outlives any one request: each bus request then gets `timeout`
    /// from when it is sent.
    pub deadline: Option<SystemTime>,
    /// The gateway's request timeout.
    pub timeout: Duration,
}

impl RequestScope {
    /// Whether no token came with the request.
    pub fn is_anonymous(&self) -> bool {
        self.caller == Caller::Anonymous
    }

    fn options(&self) -> CallOptions {
        let mut options = match self.deadline {
            Some(deadline) => CallOptions::default().deadline(deadline),
            None => CallOptions::default().timeout(self.timeout),
        };
        if let Some(token) = &self.token {
            options = options.bearer_token(token);
        }
        if let Some(trace) = &self.trace {
            options = options.trace_context(trace.traceparent.clone(), trace.tracestate.clone());
        }
        options
    }
}

/// Sends `payload` to `rpc` within `scope`, mapping failures to GraphQL errors.
pub async fn call(
    scope: &RequestScope,
    rpc: &Rpc,
    payload: Bytes,
) -> Result<Bytes, async_graphql::Error> {
    scope
        .bus
        .call_bytes(rpc, payload, scope.options())
        .await
        .map_err(|error| from_bus(rpc, error))
}

/// The GraphQL error for a failed bus request.
fn from_bus(rpc: &Rpc, error: BusError) -> async_graphql::Error {
    let service = rpc.service;
    match error {
        BusError::Unauthorized { message, .. } => unauthenticated(message),
        BusError::Service {
            code: 400, message, ..
        } => bad_input(message),
        BusError::Service {
            code: 403, message, ..
        } => coded("FORBIDDEN", message),
        BusError::Service {
            code: 404, message, ..
        } => coded("NOT_FOUND", message),
        BusError::Service {
            code: 409, message, ..
        } => coded("CONFLICT", message),
        BusError::NoResponders { .. } => {
            tracing::warn!(subject = rpc.subject, "no responders");
            coded(
                "UNAVAILABLE",
                format!("the {service} service is unavailable"),
            )
        }
        BusError::Timeout { .. } | BusError::DeadlineExpired { .. } => {
            tracing::warn!(subject = rpc.subject, %error, "timed out");
            coded(
                "TIMEOUT",
                format!("the {service} service did not answer in time"),
            )
        }
        BusError::Overloaded { .. } => coded(
            "OVERLOADED",
            format!("the {service} service is overloaded; try again"),
        ),
        other => internal(format!("{}: {other}", rpc.subject)),
    }
}

/// An error with `extensions.code = code`.
pub fn coded(code: &'static str, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code))
}

/// `BAD_USER_INPUT`.
pub fn bad_input(message: impl Into<String>) -> async_graphql::Error {
    coded("BAD_USER_INPUT", message)
}

/// `UNAUTHENTICATED`.
pub fn unauthenticated(message: impl Into<String>) -> async_graphql::Error {
    coded("UNAUTHENTICATED", message)
}

/// `INTERNAL`: `detail` is logged; the client sees only "internal error".
pub fn internal(detail: String) -> async_graphql::Error {
    tracing::error!(error = detail, "internal error resolving a field");
    coded("INTERNAL", "internal error")
}
