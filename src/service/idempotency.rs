//! Commands carrying `Sb-Idempotency-Key` execute once per (caller, key); repeats get the
//! first reply, also after a restart or a crash, because a command's record commits in the
//! same store transaction as its effect.
//!
//! How a keyed command runs:
//! 1. Repeats of one key in this process queue behind each other (a lock per key), so a
//!    duplicate sent while the first is running waits for it and then gets its reply.
//! 2. A stored record answers at once: the stored reply (marked `Sb-Idempotent-Replay`),
//!    or 409 when the key was used for a different request.
//! 3. Otherwise the handler runs. When it commits through [`Context::commit`], the record,
//!    holding the reply the handler passed, is the first write of that very transaction:
//!    the effect and the record commit together or not at all. A process killed before
//!    the commit leaves nothing behind and a retry simply runs; killed after it, the retry
//!    gets the stored reply.
//! 4. A handler that never committed (a read, or one that only calls onwards) has its
//!    reply recorded afterwards in a transaction of its own.
//!
//! Replicas meet only in the store: two replicas running one key at once both put the
//! record first in their transaction; the loser's transaction fails on it, its effect
//! rolls back, and it answers with the winner's reply. Failures record nothing, so a
//! command that failed may be tried again with the same key.
//!
//! [`Context::commit`]: super::Context::commit

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use base64::Engine;
use bytes::Bytes;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::ServiceError;
use super::dispatch::Reply;
use crate::store::{Document, Record, Store, StoreError, Transaction, Write};
use crate::wire;

/// The collection holding idempotency records in every service's store.
pub(crate) const COLLECTION: &str = "_idempotency";

/// Idempotency records of one service, and the keys this process is executing.
pub(crate) struct Idempotency {
    store: Arc<dyn Store>,
    ttl: Duration,
    /// Keys being executed here, each with the lock its repeats wait on. Entries are
    /// removed when the last holder or waiter is done (see [`Turn`]).
    running: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

/// One keyed command, shared by dispatch and the handler's context.
#[derive(Debug)]
pub(crate) struct Keyed {
    /// The record id: a digest of (caller, key), so any key text makes a valid id.
    id: String,
    /// A digest of (subject, payload), so a key reused for another request is detected.
    fingerprint: String,
    /// When the record may be forgotten, in Unix milliseconds.
    expires_at: u64,
    /// The version of the record this execution has committed; 0 while it has none.
    written: AtomicU64,
}

impl Keyed {
    /// Puts this command's record, holding `reply`, first in `tx`; returns the transaction
    /// and the version the record will have once it commits.
    pub(crate) fn record_in(&self, tx: Transaction, reply: &[u8]) -> (Transaction, u64) {
        let doc = done_doc(&self.fingerprint, self.expires_at, reply);
        let written = self.written.load(Ordering::Acquire);
        let write = if written == 0 {
            Write::Insert {
                collection: COLLECTION.into(),
                id: self.id.clone(),
                doc,
            }
        } else {
            // A handler that commits twice records the reply of its last commit.
            Write::Replace {
                collection: COLLECTION.into(),
                id: self.id.clone(),
                expected_version: written,
                doc,
            }
        };
        (tx.first(write), written + 1)
    }

    /// Notes that the record reached `version` in a committed transaction.
    pub(crate) fn committed(&self, version: u64) {
        self.written.store(version, Ordering::Release);
    }

    fn has_committed(&self) -> bool {
        self.written.load(Ordering::Acquire) > 0
    }
}

impl Idempotency {
    /// Records in `store`, kept for `ttl`.
    pub(crate) fn new(store: Arc<dyn Store>, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// The store records (and handlers' effects) are committed to.
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The command `key` of `caller`, arriving on `subject` with `payload`.
    pub(crate) fn keyed(&self, caller: &str, key: &str, subject: &str, payload: &[u8]) -> Keyed {
        Keyed {
            id: digest(caller.as_bytes(), key.as_bytes()),
            fingerprint: digest(subject.as_bytes(), payload),
            expires_at: wire::unix_millis(SystemTime::now() + self.ttl),
            written: AtomicU64::new(0),
        }
    }

    /// Runs `execute` unless the command already ran, in which case its stored reply is
    /// returned. Waits at most `patience` for a repeat of the key running here to finish.
    pub(crate) async fn once<F, Fut>(
        &self,
        keyed: &Keyed,
        patience: Duration,
        execute: F,
    ) -> Result<Reply, ServiceError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, ServiceError>>,
    {
        let _turn = self.turn(&keyed.id, patience).await?;
        if let Some(reply) = self.stored(keyed).await? {
            return Ok(reply);
        }
        match execute().await {
            Ok(body) => {
                if !keyed.has_committed()
                    && let Some(first) = self.record_alone(keyed, &body).await?
                {
                    return Ok(first);
                }
                Ok(Reply {
                    body,
                    replay: false,
                })
            }
            Err(error) => {
                // A replica running the same command at once may have won the race that
                // made this execution fail (its record was first in our transaction).
                if !keyed.has_committed()
                    && let Ok(Some(first)) = self.stored(keyed).await
                {
                    return Ok(first);
                }
                Err(error)
            }
        }
    }

    /// Records the reply of a handler that committed nothing itself. Returns the first
    /// reply when another replica recorded the same command meanwhile.
    async fn record_alone(
        &self,
        keyed: &Keyed,
        body: &[u8],
    ) -> Result<Option<Reply>, ServiceError> {
        let (tx, version) = keyed.record_in(Transaction::new(), body);
        match self.store.commit(tx).await {
            Ok(()) => {
                keyed.committed(version);
                Ok(None)
            }
            Err(StoreError::AlreadyExists { .. }) => self.stored(keyed).await,
            Err(error) => {
                // The handler wrote nothing, so running it again is harmless; the caller
                // still gets its reply.
                tracing::error!(%error, "could not record an idempotent reply");
                Ok(None)
            }
        }
    }

    /// The stored reply of this command, if it ran; 409 if the key ran another request.
    async fn stored(&self, keyed: &Keyed) -> Result<Option<Reply>, ServiceError> {
        let Some(record) = self.store.get(COLLECTION, &keyed.id).await? else {
            return Ok(None);
        };
        let now = wire::unix_millis(SystemTime::now());
        let expired = field_u64(&record.doc, "expires_at").is_none_or(|at| at <= now);
        // Records not in the `done` state were left by versions that reserved keys before
        // running; they protect nothing now.
        if expired || record.doc.get("state").and_then(|s| s.as_str()) != Some("done") {
            self.remove(&record).await?;
            return Ok(None);
        }
        if record.doc.get("fingerprint").and_then(|v| v.as_str()) != Some(&keyed.fingerprint) {
            return Err(ServiceError::conflict(
                "this idempotency key was already used for a different request",
            ));
        }
        match stored_reply(&record) {
            Some(body) => Ok(Some(Reply { body, replay: true })),
            None => Err(ServiceError::internal(format!(
                "idempotency record {} is unreadable",
                record.id
            ))),
        }
    }

    async fn remove(&self, record: &Record) -> Result<(), StoreError> {
        let tx = Transaction::new().delete(COLLECTION, &record.id, Some(record.version));
        match self.store.commit(tx).await {
            // Someone else removed or replaced it first; the caller re-reads either way.
            Ok(()) | Err(StoreError::NotFound { .. } | StoreError::VersionConflict { .. }) => {
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// Waits until no other request of this process is executing the command `id`.
    async fn turn(&self, id: &str, patience: Duration) -> Result<Turn<'_>, ServiceError> {
        let lock = {
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            match running.get(id).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    running.insert(id.to_string(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        let mut turn = Turn {
            owner: self,
            id: id.to_string(),
            guard: None,
        };
        match tokio::time::timeout(patience, lock.lock_owned()).await {
            Ok(guard) => {
                turn.guard = Some(guard);
                Ok(turn)
            }
            Err(_) => Err(ServiceError::conflict(
                "a request with this idempotency key is still in progress",
            )),
        }
    }
}

/// The exclusive right to execute one command in this process; dropping it lets the next
/// repeat in, and forgets the key once nobody waits on it.
struct Turn<'a> {
    owner: &'a Idempotency,
    id: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut running = self.owner.running.lock().unwrap_or_else(|p| p.into_inner());
        if running.get(&self.id).is_some_and(|w| w.strong_count() == 0) {
            running.remove(&self.id);
        }
    }
}

fn done_doc(fingerprint: &str, expires_at: u64, reply: &[u8]) -> Document {
    let mut doc = Document::new();
    doc.insert("state".into(), json!("done"));
    doc.insert("fingerprint".into(), json!(fingerprint));
    doc.insert("expires_at".into(), json!(expires_at));
    doc.insert(
        "reply".into(),
        json!(base64::engine::general_purpose::STANDARD.encode(reply)),
    );
    doc
}

fn stored_reply(record: &Record) -> Option<Bytes> {
    let encoded = record.doc.get("reply")?.as_str()?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .map(Bytes::from)
}

fn field_u64(doc: &Document, field: &str) -> Option<u64> {
    doc.get(field)?.as_u64()
}

/// A hex SHA-256 of two byte strings joined by a NUL byte, which callers' subjects, keys
/// and NATS subjects do not contain.
fn digest(first: &[u8], second: &[u8]) -> String {
    let mut digest = Sha256::new();
    digest.update(first);
    digest.update([0]);
    digest.update(second);
    digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
