//! Per-call options and the context a call inherits from the handler that makes it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Options of one call. Unset values come from the handler's context (when the bus was
/// taken from one) or from the bus settings.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    pub(crate) deadline: Option<SystemTime>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) authorization: Option<String>,
    pub(crate) trace: Option<TraceContext>,
    pub(crate) attempt_timeout: Option<Duration>,
    pub(crate) single_attempt: bool,
    pub(crate) idle_timeout: Option<Duration>,
}

impl CallOptions {
    /// The call must complete within `timeout` of being sent (retries included); the
    /// clock starts when the call starts, so options can be built once and reused.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The call must complete before `deadline` (retries included).
    pub fn deadline(mut self, deadline: SystemTime) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Makes the command execute once per (caller, key); also makes it safe to retry.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Sends `token` as `Authorization: Bearer <token>`.
    pub fn bearer_token(mut self, token: &str) -> Self {
        self.authorization = Some(format!("Bearer {token}"));
        self
    }

    /// Continues the W3C trace `traceparent` (with its optional `tracestate`).
    pub fn trace_context(mut self, traceparent: String, tracestate: Option<String>) -> Self {
        self.trace = Some(TraceContext {
            traceparent,
            tracestate,
            baggage: None,
        });
        self
    }

    /// The caller's whole trace context: `traceparent` (the parent when the process records
    /// no span of its own), `tracestate` and `baggage` (passed on unchanged).
    pub fn trace(mut self, trace: TraceContext) -> Self {
        self.trace = Some(trace);
        self
    }

    /// Sends the request once, whatever the rpc's retry policy: for callers that retry
    /// themselves and must see each attempt's own failure (a saga tells a timeout, after
    /// which the callee may have acted, from an open circuit, after which it cannot have).
    pub fn single_attempt(mut self) -> Self {
        self.single_attempt = true;
        self
    }

    /// For a streaming call: the stream ends (with a `Timeout` item) when no reply arrives
    /// for this long, before the deadline. Default: only the deadline ends a silent stream.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = Some(idle);
        self
    }

    /// How long one attempt of a retryable call may wait before the next is tried
    /// (default: half of the time left, or all of it when that is under 100 ms).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }
}

/// W3C trace context carried in the `traceparent` / `tracestate` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// `version-traceid-parentid-flags`; the trace id is the activity id of the user action.
    pub traceparent: String,
    /// Vendor-specific trace state, passed through untouched.
    pub tracestate: Option<String>,
    /// W3C baggage, passed through untouched.
    pub baggage: Option<String>,
}

impl TraceContext {
    /// The trace context a received message carries, when it has a `traceparent`.
    #[cfg(feature = "runtime")]
    pub(crate) fn from_headers(headers: &async_nats::HeaderMap) -> Option<Self> {
        use crate::wire::names;
        let header = |name| headers.get(name).map(|v| v.as_str().to_owned());
        Some(Self {
            traceparent: header(names::TRACEPARENT)?,
            tracestate: header(names::TRACESTATE),
            baggage: header(names::BAGGAGE),
        })
    }
}

/// What calls made from inside a handler inherit from the request being handled.
#[derive(Debug, Clone, Default)]
pub(crate) struct Inherited {
    /// Downstream work must finish before the caller's deadline.
    pub deadline: Option<SystemTime>,
    /// The caller's `Authorization` header, forwarded so downstream services see the same caller.
    pub authorization: Option<Arc<str>>,
    /// The caller's trace context.
    pub trace: Option<TraceContext>,
}
