//! A durable consumer: one JetStream pull consumer per declared handler, shared by every
//! replica of the service (each event goes to one of them).
//!
//! - **One effect per event id.** The handler commits its effect through
//!   [`EventContext::commit`], which writes the inbox record `<consumer>:<event id>` in
//!   the same transaction. An event whose record exists is acknowledged without running the
//!   handler; a handler whose commit lost the race to a replica finds the record and counts
//!   as done. The acknowledgement follows the commit, so a crash between them only causes a
//!   redelivery, which the inbox absorbs.
//! - **Bounded work.** At most `max_in_flight` events of one consumer are handled at once:
//!   locally, and across replicas through the consumer's `max_ack_pending`.
//! - **Failures.** A failed handler's event is delivered again after the configured backoff;
//!   after `max_deliveries` deliveries (or at once when the handler says the event is bad,
//!   400) it goes to the dead-letter subject with the reason and the delivery count in its
//!   headers, and is acknowledged so later events go on. A delivery beyond the limit (the
//!   handler crashed the process or overran `ack_wait` every time) is dead-lettered
//!   without running the handler again.
//! - **Catching up.** The consumer is durable: a service that was down resumes where it
//!   left off. A consumer created for the first time starts at the stream's first event or
//!   at new ones (`SB_CONSUMER_START`).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer};
use futures::stream::FuturesUnordered;
use futures::{FutureExt as _, StreamExt as _};
use tokio::sync::watch;
use tracing::Instrument as _;

use super::{ConsumerDefinition, EventContext, INBOX, inbox_id};
use crate::bus::{Bus, Inherited, TraceContext};
use crate::service::ServiceError;
use crate::service::dispatch::panic_text;
use crate::service::settings::ConsumerSettings;
use crate::store::{Store, StoreError, Transaction};
use crate::telemetry::{propagation, spans};
use crate::wire::{self, ErrorCode, EventConsumer, names};

/// The longest pause between attempts to reach the stream or create the consumer.
const MAX_RETRY: Duration = Duration::from_secs(5);

/// What a consumer needs from its service.
pub(crate) struct Consumer {
    pub(crate) definition: ConsumerDefinition,
    pub(crate) js: jetstream::Context,
    pub(crate) bus: Bus,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) settings: ConsumerSettings,
    /// The service's own token, which handlers' downstream calls carry.
    pub(crate) credentials: Arc<crate::auth::ServiceCredentials>,
    /// Its metric handles, registered once (a lookup per delivery was measurable).
    pub(crate) metrics: ConsumerMetrics,
}

/// The metrics of one consumer.
pub(crate) struct ConsumerMetrics {
    /// `sb_events_consumed_total{consumer, outcome}`, in [`Outcome`] order.
    consumed: [metrics::Counter; 4],
    /// `sb_events_redelivered_total{consumer}`.
    redelivered: metrics::Counter,
    /// `sb_events_consumer_pending{consumer}`.
    pending: metrics::Gauge,
}

impl ConsumerMetrics {
    /// The handles of consumer `durable`.
    pub(crate) fn new(durable: &'static str) -> Self {
        let consumed = |outcome: Outcome| {
            metrics::counter!(
                "sb_events_consumed_total",
                "consumer" => durable,
                "outcome" => outcome.label()
            )
        };
        Self {
            consumed: [
                consumed(Outcome::Handled),
                consumed(Outcome::Duplicate),
                consumed(Outcome::Retried),
                consumed(Outcome::DeadLettered),
            ],
            redelivered: metrics::counter!("sb_events_redelivered_total", "consumer" => durable),
            pending: metrics::gauge!("sb_events_consumer_pending", "consumer" => durable),
        }
    }
}

/// How one delivery ended, for the metrics.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Handled,
    Duplicate,
    Retried,
    DeadLettered,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Handled => "handled",
            Outcome::Duplicate => "duplicate",
            Outcome::Retried => "retried",
            Outcome::DeadLettered => "dead_lettered",
        }
    }
}

impl Consumer {
    /// Consumes until `stopped` turns true, then lets the events in hand finish.
    pub(crate) async fn run(self, mut stopped: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let durable = this.definition.consumer.durable;
        let mut retry = Duration::from_millis(100);
        loop {
            if *stopped.borrow() {
                return;
            }
            match this.subscribe().await {
                Ok(messages) => {
                    retry = Duration::from_millis(100);
                    if this.clone().consume(messages, &mut stopped).await {
                        return;
                    }
                }
                // At start the stream may not exist yet (its service starts after this
                // one): only a failure that outlasts the backoff's growth is a warning.
                Err(reason) if retry < MAX_RETRY => {
                    tracing::info!(consumer = durable, %reason, retry_in = ?retry, "cannot consume yet");
                }
                Err(reason) => {
                    tracing::warn!(consumer = durable, %reason, retry_in = ?retry, "cannot consume yet");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(retry) => {}
                _ = stopped.changed() => return,
            }
            retry = (retry * 2).min(MAX_RETRY);
        }
    }

    /// Creates (or updates) the durable consumer on the event's stream and opens its
    /// message stream.
    async fn subscribe(&self) -> Result<consumer::pull::Stream, String> {
        let consumer = self.definition.consumer;
        let stream = self
            .js
            .get_stream(consumer.event.stream)
            .await
            .map_err(|e| format!("stream {}: {e}", consumer.event.stream))?;
        let in_flight = i64::try_from(self.settings.max_in_flight).unwrap_or(i64::MAX);
        let config = consumer::pull::Config {
            durable_name: Some(consumer.durable.to_owned()),
            description: Some(format!(
                "{} handling {}",
                consumer.service, consumer.event.name
            )),
            filter_subject: consumer.event.subject.to_owned(),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: self.settings.ack_wait,
            // Dead-lettering is decided here from the delivery count, so the server
            // never silently stops delivering an event.
            max_deliver: -1,
            max_ack_pending: in_flight,
            deliver_policy: if self.settings.start_at_new {
                consumer::DeliverPolicy::New
            } else {
                consumer::DeliverPolicy::All
            },
            ..Default::default()
        };
        let pull = match stream.create_consumer(config).await {
            Ok(pull) => pull,
            // A setting that cannot change on an existing consumer (where it starts): keep
            // the consumer as it is, with its position.
            Err(error) => {
                tracing::warn!(consumer = consumer.durable, %error, "keeping the existing consumer");
                stream
                    .get_consumer::<consumer::pull::Config>(consumer.durable)
                    .await
                    .map_err(|e| format!("consumer {}: {e}", consumer.durable))?
            }
        };
        pull.stream()
            .max_messages_per_batch(self.settings.max_in_flight)
            .messages()
            .await
            .map_err(|e| format!("messages of {}: {e}", consumer.durable))
    }

    /// Handles messages until told to stop (returns true) or the stream ends (false).
    async fn consume(
        self: Arc<Self>,
        mut messages: consumer::pull::Stream,
        stopped: &mut watch::Receiver<bool>,
    ) -> bool {
        let durable = self.definition.consumer.durable;
        let mut in_flight = FuturesUnordered::new();
        let stop = loop {
            tokio::select! {
                biased;
                Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
                _ = stopped.changed() => break true,
                message = messages.next(), if in_flight.len() < self.settings.max_in_flight => {
                    match message {
                        Some(Ok(message)) => in_flight.push(self.clone().deliver(message)),
                        // Missed heartbeats and the like: the stream recovers on its own.
                        Some(Err(error)) => {
                            tracing::warn!(consumer = durable, %error, "consumer stream");
                        }
                        None => break false,
                    }
                }
            }
        };
        while in_flight.next().await.is_some() {}
        stop
    }

    /// Handles one delivery and acknowledges it as its outcome says.
    async fn deliver(self: Arc<Self>, message: jetstream::Message) {
        let consumer = self.definition.consumer;
        let (delivered, stream_sequence) = match message.info() {
            Ok(info) => {
                self.metrics.pending.set(info.pending as f64);
                (
                    u64::try_from(info.delivered).unwrap_or(1),
                    info.stream_sequence,
                )
            }
            Err(error) => {
                tracing::warn!(consumer = consumer.durable, %error, "a message without delivery info");
                return;
            }
        };
        let no_headers = HeaderMap::new();
        let headers = message.headers.as_ref().unwrap_or(&no_headers);
        let header = |name| headers.get(name).map(|v| v.as_str().to_owned());
        // The event id travels as `Sb-Message-Id` (and as `Nats-Msg-Id` from our relay); a
        // copy republished under another `Nats-Msg-Id` keeps its `Sb-Message-Id`.
        let event_id = header(names::MESSAGE_ID)
            .or_else(|| header(names::NATS_MSG_ID))
            .unwrap_or_else(|| format!("{}:{stream_sequence}", consumer.event.stream));
        if delivered > 1 {
            self.metrics.redelivered.increment(1);
        }
        // The CONSUMER span continues the trace of the publish that delivered the event.
        let span = spans::consume(
            message.subject.as_str(),
            consumer.durable,
            Some(&event_id),
            delivered,
        );
        let trace = TraceContext::from_headers(headers);
        if let Some(trace) = &trace {
            propagation::continue_from(&span, trace);
        }
        let outcome = async {
            match self.outcome(&message, headers, trace, &event_id, delivered).await {
                Ok(outcome) => outcome,
                Err(reason) => {
                    // The inbox could not be read or the dead letter not stored: leave the
                    // event for a later delivery rather than lose it.
                    tracing::warn!(consumer = consumer.durable, event_id, %reason, "event left for redelivery");
                    self.nak(&message, delivered).await;
                    Outcome::Retried
                }
            }
        }
        .instrument(span.clone())
        .await;
        match outcome {
            Outcome::Retried => spans::failed(&span, "retried"),
            Outcome::DeadLettered => spans::failed(&span, "dead_lettered"),
            Outcome::Handled | Outcome::Duplicate => {}
        }
        self.metrics.consumed[outcome as usize].increment(1);
    }

    /// Runs the handler unless the inbox says the event was handled, and acknowledges.
    async fn outcome(
        &self,
        message: &jetstream::Message,
        headers: &HeaderMap,
        trace: Option<TraceContext>,
        event_id: &str,
        delivered: u64,
    ) -> Result<Outcome, String> {
        let consumer = self.definition.consumer;
        if self.handled(event_id).await? {
            self.ack(message, AckKind::Ack).await;
            return Ok(Outcome::Duplicate);
        }
        if delivered > u64::from(self.settings.max_deliveries) {
            let reason = format!(
                "delivered {delivered} times without an outcome: the handler crashed or overran its {:?}",
                self.settings.ack_wait
            );
            self.dead_letter(message, headers, event_id, delivered, &reason)
                .await?;
            return Ok(Outcome::DeadLettered);
        }
        let ctx = self.context(headers, trace, event_id, delivered).await;
        let committed = ctx.committed.clone();
        let handling = AssertUnwindSafe((self.definition.handler)(
            ctx.clone(),
            message.payload.clone(),
        ))
        .catch_unwind();
        let result = match tokio::time::timeout(self.settings.ack_wait, handling).await {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => Err(ServiceError::internal(format!(
                "the handler panicked: {}",
                panic_text(panic.as_ref())
            ))),
            Err(_) => Err(ServiceError::internal(format!(
                "the handler overran {:?}",
                self.settings.ack_wait
            ))),
        };
        match result {
            Ok(()) => {
                if !committed.load(Ordering::Acquire) {
                    // A handler with nothing to write still records the event as handled.
                    match ctx.commit(Transaction::new()).await {
                        Ok(()) | Err(StoreError::AlreadyExists { .. }) => {}
                        Err(error) => {
                            return Err(format!("recording the event as handled: {error}"));
                        }
                    }
                }
                self.ack(message, AckKind::Ack).await;
                Ok(Outcome::Handled)
            }
            Err(error) => {
                if self.handled(event_id).await? {
                    // A replica, or an earlier delivery, committed the effect meanwhile.
                    self.ack(message, AckKind::Ack).await;
                    return Ok(Outcome::Duplicate);
                }
                let permanent = error.code() == ErrorCode::BadRequest;
                if permanent || delivered >= u64::from(self.settings.max_deliveries) {
                    let reason = error.to_string();
                    tracing::error!(consumer = consumer.durable, event_id, delivered, %reason, "dead-lettering the event");
                    self.dead_letter(message, headers, event_id, delivered, &reason)
                        .await?;
                    Ok(Outcome::DeadLettered)
                } else {
                    tracing::warn!(consumer = consumer.durable, event_id, delivered, error = %error, "event handler failed; it will be delivered again");
                    self.nak(message, delivered).await;
                    Ok(Outcome::Retried)
                }
            }
        }
    }

    /// Whether the consumer's inbox holds the event.
    async fn handled(&self, event_id: &str) -> Result<bool, String> {
        self.store
            .get(INBOX, &inbox_id(&self.definition.consumer, event_id))
            .await
            .map(|record| record.is_some())
            .map_err(|e| format!("reading the inbox: {e}"))
    }

    /// The handler's context for this delivery: its downstream calls carry the service's
    /// own token (an event has no user's token to forward).
    async fn context(
        &self,
        headers: &HeaderMap,
        trace: Option<TraceContext>,
        event_id: &str,
        delivered: u64,
    ) -> EventContext {
        let header = |name| headers.get(name).map(|v| v.as_str().to_owned());
        let deadline = SystemTime::now() + self.settings.ack_wait;
        let authorization = match self.credentials.authorization().await {
            Ok(authorization) => authorization,
            Err(error) => {
                tracing::warn!(%error, "no service token: the handler calls anonymously");
                None
            }
        };
        EventContext {
            consumer: self.definition.consumer,
            event_id: event_id.to_owned(),
            sender: header(names::SENDER),
            published: header(names::TIMESTAMP)
                .and_then(|t| t.parse().ok())
                .map(wire::from_unix_millis),
            delivery: delivered,
            deadline,
            trace: trace.clone(),
            bus: self.bus.inheriting(Inherited {
                deadline: Some(deadline),
                authorization,
                trace,
            }),
            store: self.store.clone(),
            committed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Publishes the event to the consumer's dead-letter subject (waiting for JetStream to
    /// store it), then terminates its delivery.
    async fn dead_letter(
        &self,
        message: &jetstream::Message,
        headers: &HeaderMap,
        event_id: &str,
        delivered: u64,
        reason: &str,
    ) -> Result<(), String> {
        let consumer: EventConsumer = self.definition.consumer;
        let mut letter = headers.clone();
        letter.insert(wire::DLQ_REASON, one_line(reason).as_str());
        letter.insert(wire::DLQ_DELIVERIES, delivered.to_string().as_str());
        letter.insert(wire::DLQ_CONSUMER, consumer.durable);
        // One dead letter per consumer and event, however often this runs.
        letter.insert(wire::NATS_MSG_ID, inbox_id(&consumer, event_id).as_str());
        let ack = self
            .js
            .publish_with_headers(
                consumer.dead_letter_subject,
                letter,
                message.payload.clone(),
            )
            .await
            .map_err(|e| format!("dead-lettering to {}: {e}", consumer.dead_letter_subject))?;
        ack.await
            .map_err(|e| format!("dead-lettering to {}: {e}", consumer.dead_letter_subject))?;
        self.ack(message, AckKind::Term).await;
        Ok(())
    }

    /// Asks for a redelivery after the backoff for this delivery.
    async fn nak(&self, message: &jetstream::Message, delivered: u64) {
        let backoff = &self.settings.backoff;
        let index = usize::try_from(delivered.saturating_sub(1)).unwrap_or(usize::MAX);
        let delay = backoff
            .get(index)
            .or_else(|| backoff.last())
            .copied()
            .unwrap_or(Duration::from_secs(1));
        self.ack(message, AckKind::Nak(Some(delay))).await;
    }

    /// Sends an acknowledgement; a lost one only causes a redelivery the inbox absorbs.
    async fn ack(&self, message: &jetstream::Message, kind: AckKind) {
        if let Err(error) = message.ack_with(kind).await {
            tracing::warn!(consumer = self.definition.consumer.durable, %error, "acknowledgement not sent");
        }
    }
}

/// A reason that fits in one header value.
fn one_line(reason: &str) -> String {
    let line: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(500)
        .collect();
    line
}
