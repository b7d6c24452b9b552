//! The event half of a service: announcing events through the outbox, the relay that
//! publishes them to JetStream, the streams they live in, and durable consumers that
//! handle other services' events once each.
//!
//! - this file: [`EventContext`] (what an event handler knows), the outbox entry an
//!   announcement becomes, and the consumer definition generated code registers;
//! - [`streams`]: creating or updating the service's event and dead-letter streams;
//! - [`relay`]: publishing pending outbox entries, in commit order per aggregate;
//! - [`consume`]: one durable pull consumer per handler, with its inbox and dead letters.

pub(crate) mod consume;
pub(crate) mod relay;
pub(crate) mod streams;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde_json::json;

use crate::bus::{Bus, TraceContext};
use crate::service::ServiceError;
use crate::store::{OutboxEntry, Store, StoreError, Transaction, Write};
use crate::telemetry::{propagation, spans};
use crate::wire::{self, Event, EventConsumer};

/// The collection where a consumer records the events whose effect it committed (the
/// inbox), keyed `<durable consumer>:<event id>`.
pub(crate) const INBOX: &str = "_inbox";

/// A handler of one event type with its types erased: the encoded event in, done or not.
pub(crate) type BoxedEventHandler = Arc<
    dyn Fn(EventContext, Bytes) -> Pin<Box<dyn Future<Output = Result<(), ServiceError>> + Send>>
        + Send
        + Sync,
>;

/// One durable consumer a service runs: what it consumes and its handler.
pub(crate) struct ConsumerDefinition {
    pub(crate) consumer: EventConsumer,
    pub(crate) handler: BoxedEventHandler,
}

/// The outbox entry announcing `event` on behalf of `service`: a transaction that stores
/// it (`Transaction::publish`) announces the event when it commits. Handlers use
/// [`crate::Context::announce`] and [`EventContext::announce`], which call this; it is
/// public for code that writes a service's store directly (tools, benchmarks).
///
/// It carries the event headers of
/// the wire convention: the event id as `Sb-Message-Id` (the relay adds it as
/// `Nats-Msg-Id`, from the entry's id), the sender,
/// the time, the event type and schema version, the aggregate, and the trace context of
/// the work that caused it.
pub fn announcement<E: Event>(
    service: &str,
    event: &E,
    trace: Option<&TraceContext>,
) -> Result<OutboxEntry, ServiceError> {
    let kind = E::TYPE;
    if kind.service != service {
        return Err(ServiceError::internal(format!(
            "the {service} service cannot announce {}: only {} announces its events",
            kind.name, kind.service
        )));
    }
    let id = wire::new_message_id();
    let mut entry = OutboxEntry {
        id: id.clone(),
        subject: kind.subject.to_owned(),
        key: event.key().to_owned(),
        headers: Vec::with_capacity(9),
        payload: prost::Message::encode_to_vec(event),
    }
    .header(wire::MESSAGE_ID, id)
    .header(wire::SENDER, service)
    .header(
        wire::TIMESTAMP,
        wire::unix_millis(SystemTime::now()).to_string(),
    )
    .header(wire::EVENT_TYPE, kind.name)
    .header(wire::SCHEMA_VERSION, kind.schema_version);
    if !event.key().is_empty() {
        entry = entry.header(wire::AGGREGATE, event.key());
    }
    // The announcing span is the publish's parent: its context, when the process records
    // spans; the caller's otherwise.
    let announced = spans::announce(kind.subject, &entry.id);
    let traceparent = propagation::traceparent(&announced)
        .or_else(|| trace.map(|trace| trace.traceparent.clone()));
    if let Some(traceparent) = traceparent {
        entry = entry.header(wire::TRACEPARENT, traceparent);
    }
    if let Some(trace) = trace {
        if let Some(state) = &trace.tracestate {
            entry = entry.header(wire::TRACESTATE, state.clone());
        }
        if let Some(baggage) = &trace.baggage {
            entry = entry.header(wire::BAGGAGE, baggage.clone());
        }
    }
    Ok(entry)
}

/// What an event handler knows about the event it handles, and where it commits.
#[derive(Clone)]
pub struct EventContext {
    pub(crate) consumer: EventConsumer,
    pub(crate) event_id: String,
    pub(crate) sender: Option<String>,
    pub(crate) published: Option<SystemTime>,
    pub(crate) delivery: u64,
    pub(crate) deadline: SystemTime,
    pub(crate) trace: Option<TraceContext>,
    pub(crate) bus: Bus,
    pub(crate) store: Arc<dyn Store>,
    /// Set once the handler committed, inbox record included.
    pub(crate) committed: Arc<AtomicBool>,
}

impl std::fmt::Debug for EventContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventContext")
            .field("consumer", &self.consumer.durable)
            .field("event", &self.consumer.event.name)
            .field("event_id", &self.event_id)
            .field("sender", &self.sender)
            .field("delivery", &self.delivery)
            .field("trace", &self.trace)
            .finish_non_exhaustive()
    }
}

impl EventContext {
    /// The event's id (its `Nats-Msg-Id`), the same on every delivery.
    pub fn event_id(&self) -> &str {
        &self.event_id
    }

    /// The service that announced the event (`Sb-Sender`), when it said: the caller.
    pub fn sender(&self) -> Option<&str> {
        self.sender.as_deref()
    }

    /// When the event was announced (`Sb-Timestamp`), when it said.
    pub fn published(&self) -> Option<SystemTime> {
        self.published
    }

    /// Which delivery of the event this is: 1 the first time, more on a retry.
    pub fn delivery(&self) -> u64 {
        self.delivery
    }

    /// When the event will be delivered again if the handler has not finished.
    pub fn deadline(&self) -> SystemTime {
        self.deadline
    }

    /// Time left before the deadline (zero once it has passed).
    pub fn remaining(&self) -> Duration {
        self.deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default()
    }

    /// The W3C trace context of the work that caused the event.
    pub fn trace(&self) -> Option<&TraceContext> {
        self.trace.as_ref()
    }

    /// A bus for downstream calls, inheriting the deadline and trace context, and carrying
    /// the service's own token (`SB_SERVICE_TOKEN_FILE`, or self-signed in development).
    pub fn bus(&self) -> Bus {
        self.bus.clone()
    }

    /// Adds the announcement of `event` (one of this service's own events) to `tx`: it is
    /// published once `tx` commits, and never if it does not.
    pub fn announce<E: Event>(
        &self,
        tx: Transaction,
        event: &E,
    ) -> Result<Transaction, ServiceError> {
        Ok(tx.publish(announcement(
            self.consumer.service,
            event,
            self.trace.as_ref(),
        )?))
    }

    /// Commits `tx` as the event's effect, recording the event id in the consumer's inbox
    /// in the same transaction: if the event was already handled (a redelivery, or a
    /// replica handling the same event), nothing is applied and the commit fails with
    /// [`StoreError::AlreadyExists`] on the inbox, which the runtime treats as done.
    pub async fn commit(&self, tx: Transaction) -> Result<(), StoreError> {
        self.store.commit(self.with_inbox(tx)).await?;
        self.committed.store(true, Ordering::Release);
        Ok(())
    }

    /// `tx` with the inbox record as its first write, so it is the first to fail.
    fn with_inbox(&self, tx: Transaction) -> Transaction {
        let mut doc = crate::store::Document::new();
        doc.insert("at".into(), json!(wire::now_millis()));
        tx.first(Write::Insert {
            collection: INBOX.to_owned(),
            id: inbox_id(&self.consumer, &self.event_id),
            doc,
        })
    }
}

/// The inbox record id of `event_id` for `consumer`.
pub(crate) fn inbox_id(consumer: &EventConsumer, event_id: &str) -> String {
    format!("{}:{event_id}", consumer.durable)
}
