//! Sending a field's rpc over the bus for one GraphQL request, and turning failures into
//! GraphQL errors with `extensions.code`. Internals (subjects, NATS errors, causes) go to
//! the log, once per failure, never to the client: a client sees a service's own message
//! for the errors it addresses to callers (400, 401, 403, 404, 409), and a fixed message
//! for everything else — or when that message carries something that looks internal,
//! such as a NATS subject a service copied from a failed downstream call.

use std::time::{Duration, SystemTime};

use async_graphql::ErrorExtensions;
use bytes::Bytes;
use switchboard::auth::Caller;
use switchboard::bus::TraceContext;
use switchboard::{Bus, BusError, CallOptions, Rpc, naming};

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
    /// The client's `Idempotency-Key`, sent with the root field's rpc (never with the
    /// relation lookups that resolve its result).
    pub idempotency_key: Option<String>,
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
            options = options.trace(trace.clone());
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
    send(scope, rpc, payload, scope.options()).await
}

/// [`call`] for a root field: it carries the request's idempotency key, if any.
pub async fn call_root(
    scope: &RequestScope,
    rpc: &Rpc,
    payload: Bytes,
) -> Result<Bytes, async_graphql::Error> {
    let mut options = scope.options();
    if let Some(key) = &scope.idempotency_key {
        options = options.idempotency_key(key.clone());
    }
    send(scope, rpc, payload, options).await
}

async fn send(
    scope: &RequestScope,
    rpc: &Rpc,
    payload: Bytes,
    options: CallOptions,
) -> Result<Bytes, async_graphql::Error> {
    scope
        .bus
        .call_bytes(rpc, payload, options)
        .await
        .map_err(|error| from_bus(rpc, error))
}

/// Opens the streaming rpc `rpc` with `payload` and `options`, mapping a refusal to a
/// GraphQL error (later failures arrive in the stream; map them with [`from_bus`]).
pub async fn stream(
    scope: &RequestScope,
    rpc: &Rpc,
    payload: Bytes,
    options: CallOptions,
) -> Result<switchboard::bus::ReplyStream<Bytes>, async_graphql::Error> {
    scope
        .bus
        .stream_bytes(rpc, payload, options)
        .await
        .map_err(|error| from_bus(rpc, error))
}

/// The GraphQL error for a failed bus request; the one place its cause is logged.
pub fn from_bus(rpc: &Rpc, error: BusError) -> async_graphql::Error {
    let service = rpc.service;
    let subject = rpc.subject;
    match error {
        BusError::Unauthorized { message, .. } => {
            tracing::info!(subject, message, "refused by the service: unauthorized");
            unauthenticated(public_message(&message, "the service refused the token"))
        }
        BusError::Service { code, message, .. } if matches!(code, 400 | 403 | 404 | 409) => {
            tracing::info!(subject, code, message, "refused by the service");
            let (code, fallback) = match code {
                400 => ("BAD_USER_INPUT", "the service refused the input"),
                403 => ("FORBIDDEN", "the caller may not do this"),
                404 => ("NOT_FOUND", "not found"),
                _ => ("CONFLICT", "the request conflicts with the current state"),
            };
            coded(code, public_message(&message, fallback))
        }
        BusError::CircuitOpen { .. } => {
            tracing::debug!(subject, %error, "not sent: circuit open");
            coded(
                "UNAVAILABLE",
                format!("the {service} service is unavailable"),
            )
        }
        BusError::NoResponders { .. } => {
            tracing::warn!(subject, "no responders");
            coded(
                "UNAVAILABLE",
                format!("the {service} service is unavailable"),
            )
        }
        BusError::Timeout { .. } | BusError::DeadlineExpired { .. } => {
            tracing::warn!(subject, %error, "timed out");
            coded(
                "TIMEOUT",
                format!("the {service} service did not answer in time"),
            )
        }
        BusError::Overloaded { .. } => {
            tracing::warn!(subject, %error, "overloaded");
            coded(
                "OVERLOADED",
                format!("the {service} service is overloaded; try again"),
            )
        }
        other => internal(other.to_string()),
    }
}

/// The longest service message passed on to a client.
const MAX_PUBLIC_MESSAGE: usize = 300;

/// `message` when it is fit for a client, else `fallback`. A service's message is meant
/// for callers, but one that copied a failed downstream call's error text carries that
/// call's subject (`users.v1.get_many: error 404: …`) and another service's words; such a
/// message, or one naming NATS internals (`_INBOX.`, `$SRV.`), is replaced. The original
/// is in the log line the caller of this function wrote.
fn public_message(message: &str, fallback: &str) -> String {
    let internal = message.len() > MAX_PUBLIC_MESSAGE
        || message.contains("_INBOX.")
        || message.contains("$SRV.")
        || message
            .split(|c: char| {
                c.is_whitespace() || matches!(c, ':' | ',' | ';' | '(' | ')' | '"' | '\'')
            })
            .any(is_subject);
    if internal {
        fallback.to_string()
    } else {
        message.to_string()
    }
}

/// Whether `word` has the shape of an rpc subject, `<package>.v<major>.<rpc>`, by the
/// naming rule generated code uses.
fn is_subject(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    let rpc = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    parts
        .windows(3)
        .any(|w| naming::service_name(&format!("{}.{}", w[0], w[1])).is_some() && rpc(w[2]))
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

/// `INTERNAL`: `detail` is logged (here, once); the client sees only "internal error".
pub fn internal(detail: String) -> async_graphql::Error {
    tracing::error!(error = detail, "internal error resolving a field");
    coded("INTERNAL", "internal error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_circuit_is_unavailable_to_the_client() {
        let rpc = Rpc {
            service: "billing",
            name: "Charge",
            subject: "the subject",
            retryable: false,
            public: false,
        };
        let error = from_bus(
            &rpc,
            BusError::CircuitOpen {
                subject: rpc.subject,
                retry_in: Duration::from_secs(1),
            },
        );
        let code = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .cloned();
        assert_eq!(code, Some(async_graphql::Value::from("UNAVAILABLE")));
        assert_eq!(error.message, "the billing service is unavailable");
    }

    #[test]
    fn messages_naming_subjects_or_nats_internals_are_replaced() {
        for leaky in [
            "users.v1.get_many: error 404: user 7 is gone",
            "todos.v12.list_by_owner: no reply within 5s",
            "reply to _INBOX.abc.def lost",
            "see $SRV.INFO",
        ] {
            assert_eq!(public_message(leaky, "fallback"), "fallback", "{leaky}");
        }
        for public in [
            "email: not an address",
            "todo 0199b3c4 not found",
            "version 1.2.3 is not supported",
            "this idempotency key was already used for a different request",
        ] {
            assert_eq!(public_message(public, "fallback"), public);
        }
        assert_eq!(public_message(&"x".repeat(400), "fallback"), "fallback");
    }
}
