//! Commands carrying `Sb-Idempotency-Key` execute once per (caller, key); repeats get the
//! first reply, also after a restart, because the records live in the service's store.
//!
//! A record is reserved (`pending`) before the handler runs and completed (`done`, with
//! the reply) after it succeeds. A repeat arriving while the first is still running waits
//! for it, within its own deadline. A failed execution deletes its reservation so the
//! command can be tried again. The one window left open: a process that dies after the
//! handler's effect but before the record is completed leaves a reservation that is taken
//! over once its lease ends, so that command may run twice. Closing it would mean writing
//! the record in the handler's own transaction.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use bytes::Bytes;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::dispatch::Reply;
use super::{Context, ServiceError};
use crate::store::{Document, Record, Store, StoreError, Transaction};
use crate::wire;

/// The collection holding idempotency records in every service's store.
pub(crate) const COLLECTION: &str = "_idempotency";
/// How long past its request's deadline a reservation protects a running execution
/// before a repeat may take it over.
const PENDING_LEASE: Duration = Duration::from_secs(30);
/// How often a repeat checks whether the first execution has finished.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Idempotency records of one service.
pub(crate) struct Idempotency {
    store: Arc<dyn Store>,
    ttl: Duration,
}

/// A record, as read back from the store.
enum State {
    Pending { until: u64 },
    Done { reply: Bytes },
}

impl Idempotency {
    /// Records in `store`, kept for `ttl`.
    pub(crate) fn new(store: Arc<dyn Store>, ttl: Duration) -> Self {
        Self { store, ttl }
    }

    /// Runs `execute` unless this (caller, key) already ran, in which case the stored
    /// reply is returned. The same key with a different request is refused with 409.
    pub(crate) async fn once<F, Fut>(
        &self,
        ctx: &Context,
        key: &str,
        payload: &Bytes,
        execute: F,
    ) -> Result<Reply, ServiceError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Bytes, ServiceError>>,
    {
        let id = record_id(ctx.caller().subject().unwrap_or(""), key);
        let fingerprint = fingerprint(ctx.subject(), payload);
        loop {
            let now = wire::unix_millis(SystemTime::now());
            let Some(record) = self.store.get(COLLECTION, &id).await? else {
                let reservation = self.pending_doc(ctx, &fingerprint);
                match self
                    .store
                    .commit(Transaction::new().insert(COLLECTION, &id, reservation.clone()))
                    .await
                {
                    Ok(()) => return self.execute(&id, reservation, execute).await,
                    // Another replica reserved the key between our read and our insert.
                    Err(StoreError::AlreadyExists { .. }) => continue,
                    Err(error) => return Err(error.into()),
                }
            };
            let expired = field_u64(&record.doc, "expires_at").is_none_or(|at| at <= now);
            if expired {
                self.remove(&id, record.version).await?;
                continue;
            }
            if record.doc.get("fingerprint").and_then(|v| v.as_str()) != Some(&fingerprint) {
                return Err(ServiceError::conflict(
                    "this idempotency key was already used for a different request",
                ));
            }
            match state(&record) {
                Some(State::Done { reply }) => {
                    return Ok(Reply {
                        body: reply,
                        replay: true,
                    });
                }
                Some(State::Pending { until }) if until <= now => {
                    tracing::warn!(key, "taking over an abandoned idempotency reservation");
                    self.remove(&id, record.version).await?;
                }
                Some(State::Pending { .. }) => {
                    if ctx.remaining() <= POLL_INTERVAL {
                        return Err(ServiceError::conflict(
                            "a request with this idempotency key is still in progress",
                        ));
                    }
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
                None => {
                    return Err(ServiceError::internal(format!(
                        "idempotency record {id} is unreadable"
                    )));
                }
            }
        }
    }

    /// Runs `execute` under the reservation just inserted (`reservation`, version 1).
    async fn execute<F, Fut>(
        &self,
        id: &str,
        reservation: Document,
        execute: F,
    ) -> Result<Reply, ServiceError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Bytes, ServiceError>>,
    {
        match execute().await {
            Ok(body) => {
                if let Err(error) = self.complete(id, reservation, &body).await {
                    // The effect happened; the caller gets its reply. A repeat will wait
                    // for the lease to end and may execute again (see the module docs).
                    tracing::error!(%error, "could not store an idempotent reply");
                }
                Ok(Reply {
                    body,
                    replay: false,
                })
            }
            Err(error) => {
                if let Err(cleanup) = self.remove(id, 1).await {
                    tracing::error!(error = %cleanup, "could not release an idempotency reservation");
                }
                Err(error)
            }
        }
    }

    fn pending_doc(&self, ctx: &Context, fingerprint: &str) -> Document {
        let until = wire::unix_millis(ctx.deadline() + PENDING_LEASE);
        let expires = wire::unix_millis(SystemTime::now() + self.ttl);
        to_document(json!({
            "state": "pending",
            "fingerprint": fingerprint,
            "pending_until": until,
            "expires_at": expires,
        }))
    }

    /// Turns our reservation (still at version 1: nobody else writes a live one) into the
    /// stored reply.
    async fn complete(&self, id: &str, mut doc: Document, body: &Bytes) -> Result<(), StoreError> {
        doc.insert("state".into(), json!("done"));
        doc.insert(
            "reply".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(body)),
        );
        self.store
            .commit(Transaction::new().replace(COLLECTION, id, 1, doc))
            .await
    }

    async fn remove(&self, id: &str, version: u64) -> Result<(), StoreError> {
        match self
            .store
            .commit(Transaction::new().delete(COLLECTION, id, Some(version)))
            .await
        {
            // Someone else removed or replaced it first; the caller re-reads either way.
            Ok(()) | Err(StoreError::NotFound { .. } | StoreError::VersionConflict { .. }) => {
                Ok(())
            }
            Err(error) => Err(error),
        }
    }
}

fn state(record: &Record) -> Option<State> {
    match record.doc.get("state")?.as_str()? {
        "pending" => Some(State::Pending {
            until: field_u64(&record.doc, "pending_until")?,
        }),
        "done" => {
            let encoded = record.doc.get("reply")?.as_str()?;
            let reply = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()?;
            Some(State::Done {
                reply: Bytes::from(reply),
            })
        }
        _ => None,
    }
}

fn field_u64(doc: &Document, field: &str) -> Option<u64> {
    doc.get(field)?.as_u64()
}

fn to_document(value: serde_json::Value) -> Document {
    match value {
        serde_json::Value::Object(map) => map,
        _ => Document::new(),
    }
}

/// The record id: a digest of (caller, key), so any key text makes a valid id.
fn record_id(caller: &str, key: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(caller.as_bytes());
    digest.update([0]);
    digest.update(key.as_bytes());
    hex(&digest.finalize())
}

/// A digest of (subject, payload), so a key reused for another request is detected.
fn fingerprint(subject: &str, payload: &[u8]) -> String {
    let mut digest = Sha256::new();
    digest.update(subject.as_bytes());
    digest.update([0]);
    digest.update(payload);
    hex(&digest.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
