//! The spans the framework opens, named and attributed by OpenTelemetry's semantic
//! conventions, in one place. Each is an INFO span whose `otel.kind` is its span kind; a
//! span outside any trace (no current span) is opened only where a trace starts.
//!
//! Failure is recorded with [`failed`]: the status and `error.type` carry a code (`NOT_FOUND`,
//! `timeout`), never a message — messages may carry what a caller sent. A span that can
//! fail is opened with [`failable_span!`](crate::failable_span), which declares the fields
//! [`failed`] records.

use std::future::Future;

use tracing::Instrument as _;
use tracing::Span;

/// An INFO span with `fields`, plus the empty `error.type`, `otel.status_code` and
/// `otel.status_description` that [`failed`] records — the one place that knows them.
#[macro_export]
macro_rules! failable_span {
    ($name:literal, $($fields:tt)*) => {
        $crate::__tracing::info_span!(
            $name,
            $($fields)*
            "error.type" = $crate::__tracing::field::Empty,
            "otel.status_code" = $crate::__tracing::field::Empty,
            "otel.status_description" = $crate::__tracing::field::Empty,
        )
    };
}

/// `messaging.system` of every bus span.
const NATS: &str = "nats";

/// A bus call's attempt (CLIENT): one per attempt, so retries show as separate spans.
pub fn rpc_client(subject: &'static str, attempt: u32) -> Span {
    crate::failable_span!(
        "rpc.client",
        "otel.name" = format!("request {subject}"),
        "otel.kind" = "client",
        "messaging.system" = NATS,
        "messaging.operation.type" = "send",
        "messaging.operation.name" = "request",
        "messaging.destination.name" = subject,
        "switchboard.attempt" = attempt,
    )
}

/// A service handling a request (SERVER); its parent is the caller's `traceparent`.
pub fn rpc_server(subject: &'static str, message_id: Option<&str>, sender: Option<&str>) -> Span {
    crate::failable_span!(
        "rpc.server",
        "otel.name" = format!("process {subject}"),
        "otel.kind" = "server",
        "messaging.system" = NATS,
        "messaging.operation.type" = "process",
        "messaging.destination.name" = subject,
        "messaging.message.id" = message_id,
        "switchboard.sender" = sender,
    )
}

/// An event announced in a handler's transaction: the outbox entry, whose context the
/// relay's publish continues. Ends at once; it marks where in the handler the event began.
pub fn announce(subject: &str, message_id: &str) -> Span {
    crate::failable_span!(
        "event.announce",
        "otel.name" = format!("announce {subject}"),
        "otel.kind" = "internal",
        "messaging.system" = NATS,
        "messaging.destination.name" = subject,
        "messaging.message.id" = message_id,
    )
}

/// The relay publishing an outbox entry to its stream (PRODUCER); its parent is the
/// announcing span, so the publish belongs to the trace that caused the event.
pub fn publish(subject: &str, message_id: &str) -> Span {
    tracing::info_span!(
        "event.publish",
        "otel.name" = format!("publish {subject}"),
        "otel.kind" = "producer",
        "messaging.system" = NATS,
        "messaging.operation.type" = "send",
        "messaging.operation.name" = "publish",
        "messaging.destination.name" = subject,
        "messaging.message.id" = message_id,
    )
}

/// A consumer handling one delivered event (CONSUMER); its parent is the publish.
pub fn consume(subject: &str, consumer: &str, message_id: Option<&str>, delivery: u64) -> Span {
    crate::failable_span!(
        "event.consume",
        "otel.name" = format!("process {subject}"),
        "otel.kind" = "consumer",
        "messaging.system" = NATS,
        "messaging.operation.type" = "process",
        "messaging.destination.name" = subject,
        "messaging.consumer.group.name" = consumer,
        "messaging.message.id" = message_id,
        "messaging.nats.delivery" = delivery,
    )
}

/// One attempt of a saga step's action or compensation (INTERNAL); its parent is the
/// request that started the saga, so a saga is one trace however long it runs.
pub fn saga_step(
    saga: &'static str,
    step: &'static str,
    action: &'static str,
    saga_id: &str,
    attempt: u32,
) -> Span {
    crate::failable_span!(
        "saga.step",
        "otel.name" = format!("{saga} {step} {action}"),
        "otel.kind" = "internal",
        "switchboard.saga" = saga,
        "switchboard.saga.id" = saga_id,
        "switchboard.saga.step" = step,
        "switchboard.saga.action" = action,
        "switchboard.attempt" = attempt,
    )
}

/// A store operation (CLIENT, a database span). Opened only inside a trace: the relay's
/// and housekeeping's periodic queries would otherwise each start a trace of one span.
pub fn store(system: &'static str, operation: &'static str, collection: Option<&str>) -> Span {
    if Span::current().is_none() {
        return Span::none();
    }
    let name = match collection {
        Some(collection) => format!("{operation} {collection}"),
        None => operation.to_string(),
    };
    crate::failable_span!(
        "db",
        "otel.name" = name,
        "otel.kind" = "client",
        "db.system.name" = system,
        "db.operation.name" = operation,
        "db.collection.name" = collection,
    )
}

/// Runs `work` inside `span`, marking the span failed with `code` of its error.
pub async fn run<T, E>(
    span: Span,
    work: impl Future<Output = Result<T, E>>,
    code: impl FnOnce(&E) -> &'static str,
) -> Result<T, E> {
    let result = work.instrument(span.clone()).await;
    if let Err(error) = &result {
        failed(&span, code(error));
    }
    result
}

/// Marks `span` failed with `code`: status ERROR with the code as description, and
/// `error.type`.
pub fn failed(span: &Span, code: &str) {
    span.record("otel.status_code", "error");
    span.record("otel.status_description", code);
    span.record("error.type", code);
}
