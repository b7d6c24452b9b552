//! The wire vocabulary: header names, error codes and the description of an rpc.
//!
//! Every header and code the framework puts on or reads from NATS is named here, so the
//! wire convention (README.md, "The wire convention") has one home in code.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// UUID v7 of this message (a retry of a call keeps the id of its first attempt).
pub const MESSAGE_ID: &str = "Sb-Message-Id";
/// Name of the sending service, or of the client process.
pub const SENDER: &str = "Sb-Sender";
/// When the message was sent, in milliseconds since the Unix epoch.
pub const TIMESTAMP: &str = "Sb-Timestamp";
/// On a reply: the `Sb-Message-Id` of the request it answers.
pub const RESPONSE_TO: &str = "Sb-Response-To";
/// Absolute deadline in milliseconds since the Unix epoch; work past it is dropped.
pub const DEADLINE: &str = "Sb-Deadline";
/// Makes a command execute once per (caller, key).
pub const IDEMPOTENCY_KEY: &str = "Sb-Idempotency-Key";
/// On a reply: `true` when it is the stored reply of an earlier execution.
pub const IDEMPOTENT_REPLAY: &str = "Sb-Idempotent-Replay";
/// W3C trace context (lower case, as the W3C propagator writes it).
pub const TRACEPARENT: &str = "traceparent";
/// W3C vendor trace state.
pub const TRACESTATE: &str = "tracestate";
/// W3C baggage, passed through unchanged.
pub const BAGGAGE: &str = "baggage";
/// The caller's bearer token, `Bearer <jwt>`.
pub const AUTHORIZATION: &str = "Authorization";
/// Error status text, as the NATS Services API defines it.
pub const SERVICE_ERROR: &str = "Nats-Service-Error";
/// Error status code, as the NATS Services API defines it.
pub const SERVICE_ERROR_CODE: &str = "Nats-Service-Error-Code";
/// On a streamed reply: its place in the stream, from 1 (the final message included).
pub const STREAM_SEQ: &str = "Sb-Stream-Seq";
/// On a streamed reply: `true` on the final message, which ends the stream (an error
/// reply ends it too).
pub const STREAM_END: &str = "Sb-Stream-End";
/// On an event: JetStream's de-duplication id, the event id (also its `Sb-Message-Id`).
pub const NATS_MSG_ID: &str = "Nats-Msg-Id";
/// On an event: the full proto name of its message (`users.v1.UserDeleted`).
pub const EVENT_TYPE: &str = "Sb-Event-Type";
/// On an event: the major version of its schema, the package's (`v1`).
pub const SCHEMA_VERSION: &str = "Sb-Schema-Version";
/// On an event: the aggregate it is about (the value of its key field), when it has one.
pub const AGGREGATE: &str = "Sb-Aggregate";
/// On a dead-lettered event: why its handler failed the last time.
pub const DLQ_REASON: &str = "Sb-Dlq-Reason";
/// On a dead-lettered event: how many times it was delivered.
pub const DLQ_DELIVERIES: &str = "Sb-Dlq-Deliveries";
/// On a dead-lettered event: the durable consumer that gave up on it.
pub const DLQ_CONSUMER: &str = "Sb-Dlq-Consumer";

/// The header names as `async_nats` values, built at compile time: looking a header up by
/// `&str` would parse and allocate the name on every request.
pub(crate) mod names {
    use async_nats::HeaderName;

    pub const MESSAGE_ID: HeaderName = HeaderName::from_static(super::MESSAGE_ID);
    pub const SENDER: HeaderName = HeaderName::from_static(super::SENDER);
    pub const TIMESTAMP: HeaderName = HeaderName::from_static(super::TIMESTAMP);
    // Replies are written by the service runtime only.
    #[cfg(feature = "runtime")]
    pub const RESPONSE_TO: HeaderName = HeaderName::from_static(super::RESPONSE_TO);
    pub const DEADLINE: HeaderName = HeaderName::from_static(super::DEADLINE);
    pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static(super::IDEMPOTENCY_KEY);
    #[cfg(feature = "runtime")]
    pub const IDEMPOTENT_REPLAY: HeaderName = HeaderName::from_static(super::IDEMPOTENT_REPLAY);
    pub const TRACEPARENT: HeaderName = HeaderName::from_static(super::TRACEPARENT);
    pub const TRACESTATE: HeaderName = HeaderName::from_static(super::TRACESTATE);
    pub const BAGGAGE: HeaderName = HeaderName::from_static(super::BAGGAGE);
    pub const AUTHORIZATION: HeaderName = HeaderName::from_static(super::AUTHORIZATION);
    pub const SERVICE_ERROR: HeaderName = HeaderName::from_static(super::SERVICE_ERROR);
    pub const SERVICE_ERROR_CODE: HeaderName = HeaderName::from_static(super::SERVICE_ERROR_CODE);
    pub const STREAM_SEQ: HeaderName = HeaderName::from_static(super::STREAM_SEQ);
    pub const STREAM_END: HeaderName = HeaderName::from_static(super::STREAM_END);
    #[cfg(feature = "runtime")]
    pub const NATS_MSG_ID: HeaderName = HeaderName::from_static(super::NATS_MSG_ID);

    /// The static name of `name` when it is one of ours: stored headers (the outbox's)
    /// carry names as text, and parsing a name costs on every message.
    #[cfg(feature = "runtime")]
    pub fn known(name: &str) -> Option<HeaderName> {
        const KNOWN: [HeaderName; 10] = [
            MESSAGE_ID,
            SENDER,
            TIMESTAMP,
            TRACEPARENT,
            TRACESTATE,
            BAGGAGE,
            HeaderName::from_static(super::EVENT_TYPE),
            HeaderName::from_static(super::SCHEMA_VERSION),
            HeaderName::from_static(super::AGGREGATE),
            NATS_MSG_ID,
        ];
        KNOWN.into_iter().find(|known| {
            let known: &str = known.as_ref();
            known == name
        })
    }
}

/// A new message id: a UUID v7 (time-ordered), from a fast non-cryptographic generator,
/// because ids need uniqueness, not secrecy, and a system call per message is measurable.
pub fn new_message_id() -> String {
    let random = fastrand::u128(..).to_le_bytes();
    let mut bytes = [0u8; 10];
    bytes.copy_from_slice(&random[..10]);
    let id = uuid::Builder::from_unix_timestamp_millis(unix_millis(SystemTime::now()), &bytes)
        .into_uuid();
    id.hyphenated().to_string()
}

/// An rpc as both sides see it; generated code holds one constant per rpc, so client and
/// server can never disagree on a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rpc {
    /// The NATS service name and queue group (`users`).
    pub service: &'static str,
    /// The rpc's name in the proto (`Create`); the endpoint name in `$SRV.INFO`.
    pub name: &'static str,
    /// `<service>.v<major>.<rpc in snake_case>`.
    pub subject: &'static str,
    /// Declared safe to retry after a timeout or "no responders".
    pub retryable: bool,
    /// Callable without a bearer token.
    pub public: bool,
}

/// An event type as its producer and its consumers see it; generated code holds one
/// constant per event message, so nobody writes an event subject or stream by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventType {
    /// The service that announces it (`users`).
    pub service: &'static str,
    /// The message's full proto name (`users.v1.UserDeleted`), sent as `Sb-Event-Type`.
    pub name: &'static str,
    /// `events.<service>.<message in snake_case>`.
    pub subject: &'static str,
    /// The service's stream, `<SERVICE>_EVENTS`.
    pub stream: &'static str,
    /// The package's major version (`v1`), sent as `Sb-Schema-Version`.
    pub schema_version: &'static str,
}

/// A durable consumer a service declares (`(switchboard.v1.consumes)`): which event it
/// handles, and the names its JetStream consumer and dead letters use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventConsumer {
    /// The consuming service (`todos`).
    pub service: &'static str,
    /// The handler's proto name (`DeleteOwnedTodos`).
    pub handler: &'static str,
    /// The durable consumer's name, `<service>_<handler in snake_case>`.
    pub durable: &'static str,
    /// Where events its handler gave up on go: `dlq.<service>.<handler in snake_case>`.
    pub dead_letter_subject: &'static str,
    /// The consuming service's dead-letter stream, `<SERVICE>_DLQ`.
    pub dead_letter_stream: &'static str,
    /// The event handled.
    pub event: EventType,
}

/// A protobuf message declared an event (`(switchboard.v1.event)`); implemented by
/// generated code only.
pub trait Event: prost::Message + Default + 'static {
    /// Where it travels.
    const TYPE: EventType;

    /// The aggregate this event is about (its key field's value), or `""` when the event
    /// declares no key. Events of one aggregate are published in commit order.
    fn key(&self) -> &str;
}

/// The error codes of the wire contract (HTTP-like, carried in `Nats-Service-Error-Code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The request is malformed or fails validation.
    BadRequest,
    /// The bearer token is missing where required, or invalid.
    Unauthorized,
    /// The caller may not do this.
    Forbidden,
    /// The addressed thing does not exist (a lookup miss, not a domain outcome).
    NotFound,
    /// The request conflicts with the current state (e.g. an idempotency key reused).
    Conflict,
    /// The service failed; details are in its logs, never in the reply.
    Internal,
    /// The endpoint is at its in-flight bound; try again later.
    Overloaded,
    /// The request's deadline passed before the work was done.
    DeadlineExceeded,
}

impl ErrorCode {
    /// The numeric code on the wire.
    pub const fn as_u16(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::Internal => 500,
            ErrorCode::Overloaded => 503,
            ErrorCode::DeadlineExceeded => 504,
        }
    }

    /// The code's name, as traces and metrics label it (`NOT_FOUND`).
    pub const fn name(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::Overloaded => "OVERLOADED",
            ErrorCode::DeadlineExceeded => "DEADLINE_EXCEEDED",
        }
    }

    /// The code for a number received on the wire; unknown numbers are `Internal`.
    pub const fn from_u16(code: u16) -> Self {
        match code {
            400 => ErrorCode::BadRequest,
            401 => ErrorCode::Unauthorized,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            409 => ErrorCode::Conflict,
            503 => ErrorCode::Overloaded,
            504 => ErrorCode::DeadlineExceeded,
            _ => ErrorCode::Internal,
        }
    }
}

/// Milliseconds since the Unix epoch, the unit of `Sb-Timestamp` and `Sb-Deadline`.
pub fn unix_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The instant a `Sb-Deadline`/`Sb-Timestamp` value names.
pub fn from_unix_millis(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

/// A protobuf `Timestamp` for milliseconds since the Unix epoch (how services store time).
pub fn timestamp_from_millis(millis: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: i32::try_from(millis.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

/// Now, in milliseconds since the Unix epoch, as services store it.
pub fn now_millis() -> i64 {
    i64::try_from(unix_millis(SystemTime::now())).unwrap_or(i64::MAX)
}
