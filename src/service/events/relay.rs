//! The outbox relay: publishes the entries transactions left in the outbox to JetStream,
//! then marks them published.
//!
//! - **Once on the stream.** Each entry is published with `Nats-Msg-Id` = its id and
//!   marked only after JetStream acknowledged it. A relay killed between the publish and
//!   the mark publishes the entry again after restart, and JetStream drops the second copy
//!   if it falls within the stream's duplicate window. Replicas sharing a store may both
//!   publish an entry; the same window covers them. Beyond the window (a relay stalled for
//!   longer between reading and publishing) a copy can reach the stream twice: consumers'
//!   inboxes still give it one effect.
//! - **Commit order per aggregate.** Entries are read in commit order; one pass publishes
//!   at most one entry per aggregate key concurrently and awaits the acknowledgements, so
//!   the next entry of an aggregate leaves only after the previous one is on the stream.
//!   A failed publish stops that aggregate until the next pass.
//! - **Wakes on commit.** The store signals every commit that stored entries; a periodic
//!   sweep catches the rest (another replica's commits, entries a failed publish left).
//!   While NATS is unreachable entries wait in the outbox, the service keeps answering, and
//!   the relay retries with a capped backoff.
//! - **Pruning.** Published entries older than the retention period are deleted.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::PublishMessage};
use tokio::sync::{Notify, watch};

use crate::service::settings::OutboxSettings;
use crate::store::{OutboxEntry, Store, StoreError};
use crate::telemetry::{propagation, spans};

/// Entries read per pass.
const BATCH: u32 = 256;
/// The longest pause between attempts while publishing fails.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The first pause after a failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// How often published entries are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// How long the relay waits for JetStream to acknowledge a publication. An acknowledgement
/// lost with a restarting server otherwise holds the relay for the client's default (5 s)
/// before it retries; a retry is harmless (the duplicate window drops the copy).
const ACK_TIMEOUT: Duration = Duration::from_secs(2);

/// The relay's JetStream context on `client`.
pub(crate) fn context(client: async_nats::Client) -> jetstream::Context {
    jetstream::context::ContextBuilder::new()
        .timeout(ACK_TIMEOUT)
        .build(client)
}

/// Why a pass could not publish everything it read.
#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("the outbox could not be read or updated")]
    Store(#[from] StoreError),
    #[error("publishing {subject} failed: {reason}")]
    Publish { subject: String, reason: String },
}

/// The relay's metric handles, registered once.
struct RelayMetrics {
    /// `sb_events_published_total{service}`.
    published: metrics::Counter,
    /// `sb_events_relay_lag_seconds{service}`.
    lag: metrics::Histogram,
}

/// What a pass found.
enum Pass {
    /// Everything pending was published.
    Drained,
    /// More is pending: run another pass at once.
    More,
}

/// Publishes `store`'s outbox through `js` until `stopped` turns true.
pub(crate) async fn run(
    service: &'static str,
    store: Arc<dyn Store>,
    js: jetstream::Context,
    settings: OutboxSettings,
    mut stopped: watch::Receiver<bool>,
) {
    let signal = store
        .outbox_signal()
        .unwrap_or_else(|| Arc::new(Notify::new()));
    let metrics = RelayMetrics {
        published: metrics::counter!("sb_events_published_total", "service" => service),
        lag: metrics::histogram!("sb_events_relay_lag_seconds", "service" => service),
    };
    let mut backoff = FIRST_BACKOFF;
    let mut last_prune = tokio::time::Instant::now();
    loop {
        let wait = match pass(store.as_ref(), &js, &metrics).await {
            Ok(Pass::More) => continue,
            Ok(Pass::Drained) => {
                backoff = FIRST_BACKOFF;
                settings.sweep
            }
            Err(error) => {
                tracing::warn!(service, %error, retry_in = ?backoff, "outbox relay");
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                wait
            }
        };
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = tokio::time::Instant::now();
            prune(service, store.as_ref(), settings.retention).await;
        }
        tokio::select! {
            _ = signal.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => {
                // The last pass: whatever was committed before the stop.
                if let Err(error) = pass(store.as_ref(), &js, &metrics).await {
                    tracing::warn!(service, %error, "outbox entries left for the next start");
                }
                return;
            }
        }
    }
}

/// Publishes one window of pending entries: at most one per aggregate, all at once, then
/// marks the acknowledged ones published.
async fn pass(
    store: &dyn Store,
    js: &jetstream::Context,
    metrics: &RelayMetrics,
) -> Result<Pass, RelayError> {
    let pending = store.outbox_pending(BATCH).await?;
    if pending.is_empty() {
        return Ok(Pass::Drained);
    }
    let read = pending.len();
    let mut keys = HashSet::new();
    let window: Vec<OutboxEntry> = pending
        .into_iter()
        .filter(|entry| keys.insert(aggregate(entry).to_owned()))
        .collect();
    let held_back = window.len() < read;

    let mut acks = Vec::with_capacity(window.len());
    let mut failure = None;
    for entry in &window {
        // The PRODUCER span lasts until JetStream acknowledges (or refuses) the entry.
        let span = publish_span(entry);
        match js
            .send_publish(entry.subject.clone(), publication(entry, &span))
            .await
        {
            Ok(ack) => acks.push((entry, ack, span)),
            Err(error) => {
                spans::failed(&span, "publish_failed");
                failure = Some(RelayError::Publish {
                    subject: entry.subject.clone(),
                    reason: error.to_string(),
                });
                break;
            }
        }
    }
    let mut published = Vec::with_capacity(acks.len());
    let now = crate::wire::unix_millis(SystemTime::now());
    for (entry, ack, span) in acks {
        match ack.await {
            Ok(_) => {
                // From the announcement (its `Sb-Timestamp`) to JetStream's acknowledgement.
                if let Some(at) = announced_at(entry) {
                    metrics
                        .lag
                        .record(Duration::from_millis(now.saturating_sub(at)).as_secs_f64());
                }
                published.push(entry.id.clone());
            }
            Err(error) => {
                spans::failed(&span, "ack_failed");
                failure.get_or_insert(RelayError::Publish {
                    subject: entry.subject.clone(),
                    reason: error.to_string(),
                });
            }
        }
    }
    if !published.is_empty() {
        store.outbox_mark_published(&published).await?;
        metrics.published.increment(published.len() as u64);
    }
    match failure {
        Some(error) => Err(error),
        None if held_back || read == BATCH as usize => Ok(Pass::More),
        None => Ok(Pass::Drained),
    }
}

/// When `entry` was announced, from its `Sb-Timestamp` header (milliseconds).
fn announced_at(entry: &OutboxEntry) -> Option<u64> {
    entry.header_value(crate::wire::TIMESTAMP)?.parse().ok()
}

/// The key that orders `entry` among others: its aggregate, or its subject when it has none.
fn aggregate(entry: &OutboxEntry) -> &str {
    if entry.key.is_empty() {
        &entry.subject
    } else {
        &entry.key
    }
}

/// The PRODUCER span of publishing `entry`, a child of the span that announced it.
fn publish_span(entry: &OutboxEntry) -> tracing::Span {
    let span = spans::publish(&entry.subject, &entry.id);
    if let Some(traceparent) = entry.header_value(crate::wire::TRACEPARENT) {
        let tracestate = entry.header_value(crate::wire::TRACESTATE);
        propagation::continue_trace(&span, traceparent, tracestate);
    }
    span
}

/// The JetStream message of `entry`: its headers (the event id among them as
/// `Nats-Msg-Id`, the publish span as `traceparent` when it is recorded) and payload.
fn publication(entry: &OutboxEntry, span: &tracing::Span) -> PublishMessage {
    let mut headers = HeaderMap::new();
    for (name, value) in &entry.headers {
        match crate::wire::names::known(name) {
            Some(known) => headers.append(known, value.as_str()),
            None => headers.append(name.as_str(), value.as_str()),
        }
    }
    if let Some(traceparent) = propagation::traceparent(span) {
        headers.insert(crate::wire::names::TRACEPARENT, traceparent);
    }
    PublishMessage::build()
        .headers(headers)
        .message_id(&entry.id)
        .payload(entry.payload.clone().into())
}

async fn prune(service: &'static str, store: &dyn Store, retention: Duration) {
    let before = SystemTime::now()
        .checked_sub(retention)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    match store.outbox_prune(before).await {
        Ok(0) => {}
        Ok(pruned) => tracing::debug!(service, pruned, "outbox pruned"),
        Err(error) => tracing::warn!(service, %error, "outbox prune failed"),
    }
}
