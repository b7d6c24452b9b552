//! What can go wrong with a call on the bus, as a type callers can match.

use std::time::Duration;

use crate::proto::switchboard::v1::StatusDetail;
use crate::wire::ErrorCode;

/// A failed call. Domain outcomes are not errors: they arrive as the reply's outcome enum.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BusError {
    /// The NATS connection could not be established.
    #[error("cannot connect to NATS at {urls}: {reason}")]
    Connect {
        /// The URLs tried.
        urls: String,
        /// What the client reported.
        reason: String,
    },
    /// No instance of the service is subscribed (reported by the server at once).
    #[error("{subject}: no service is serving this subject")]
    NoResponders {
        /// The subject called.
        subject: &'static str,
    },
    /// No reply arrived before the deadline.
    #[error("{subject}: no reply within {waited:?}")]
    Timeout {
        /// The subject called.
        subject: &'static str,
        /// How long the last attempt waited.
        waited: Duration,
    },
    /// The deadline passed before the request could be sent, or before the service started it.
    #[error("{subject}: the deadline passed before the work was done")]
    DeadlineExpired {
        /// The subject called.
        subject: &'static str,
    },
    /// The endpoint is at its bound of in-flight requests (code 503).
    #[error("{subject}: overloaded: {message}")]
    Overloaded {
        /// The subject called.
        subject: &'static str,
        /// The service's message.
        message: String,
    },
    /// The service rejected the caller's token, or a token was required (code 401).
    #[error("{subject}: unauthorized: {message}")]
    Unauthorized {
        /// The subject called.
        subject: &'static str,
        /// The service's message.
        message: String,
    },
    /// The service answered with another error code (400, 403, 404, 409, 500, …).
    #[error("{subject}: error {code}: {message}")]
    Service {
        /// The subject called.
        subject: &'static str,
        /// The `Nats-Service-Error-Code`.
        code: u16,
        /// The `Nats-Service-Error` text (or the `Status` message).
        message: String,
        /// Per-field details from the `Status` body.
        details: Vec<StatusDetail>,
    },
    /// The reply is not a valid message of the expected type.
    #[error("{subject}: undecodable reply: {reason}")]
    Decode {
        /// The subject called.
        subject: &'static str,
        /// What failed to decode.
        reason: String,
    },
    /// The reply decoded but its `oneof outcome` is empty.
    #[error("{subject}: the reply carries no outcome")]
    MissingOutcome {
        /// The subject called.
        subject: &'static str,
    },
    /// The subject's circuit breaker is open: recent calls failed, so this one was not sent.
    #[error(
        "{subject}: the circuit is open after repeated failures; not sent (retry in {retry_in:?})"
    )]
    CircuitOpen {
        /// The subject called.
        subject: &'static str,
        /// How long until the breaker lets a probe through (zero: probes are in flight).
        retry_in: std::time::Duration,
    },
    /// Publishing or subscribing failed on the connection.
    #[error("{subject}: transport failure: {reason}")]
    Transport {
        /// The subject called.
        subject: &'static str,
        /// What the client reported.
        reason: String,
    },
}

impl BusError {
    /// The wire error code closest to this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            BusError::NoResponders { .. }
            | BusError::Overloaded { .. }
            | BusError::CircuitOpen { .. } => ErrorCode::Overloaded,
            BusError::Timeout { .. } | BusError::DeadlineExpired { .. } => {
                ErrorCode::DeadlineExceeded
            }
            BusError::Unauthorized { .. } => ErrorCode::Unauthorized,
            BusError::Service { code, .. } => ErrorCode::from_u16(*code),
            BusError::Connect { .. }
            | BusError::Decode { .. }
            | BusError::MissingOutcome { .. }
            | BusError::Transport { .. } => ErrorCode::Internal,
        }
    }

    /// What kind of failure this is, for a span's `error.type`: the service's code name
    /// when it answered, else what went wrong on the way (`timeout`, `no_responders`).
    pub fn error_type(&self) -> &'static str {
        match self {
            BusError::Connect { .. } => "connect",
            BusError::NoResponders { .. } => "no_responders",
            BusError::Timeout { .. } => "timeout",
            BusError::DeadlineExpired { .. } => "deadline_expired",
            BusError::Decode { .. } => "decode",
            BusError::MissingOutcome { .. } => "missing_outcome",
            BusError::Transport { .. } => "transport",
            BusError::CircuitOpen { .. } => "circuit_open",
            BusError::Overloaded { .. }
            | BusError::Unauthorized { .. }
            | BusError::Service { .. } => self.code().name(),
        }
    }

    /// Whether another attempt may succeed: nobody was listening, or nobody answered in
    /// time. After a timeout the service may still have acted, which is why only rpcs
    /// declared retryable and calls carrying an idempotency key are retried.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            BusError::NoResponders { .. } | BusError::Timeout { .. }
        )
    }
}
