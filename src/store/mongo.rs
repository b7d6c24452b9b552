//! The production store: MongoDB through the official driver.
//!
//! Each service keeps its own database (the service's name unless the URL's path names one).
//! A collection of the interface is a MongoDB collection of `{_id, v, doc}` records
//! ([`documents`] builds every filter, update and index). Beside them:
//! - `sb.outbox`: the outbox entries, `{_id, at, subject, key, headers, payload, published,
//!   published_at}`, pending ones read in `at` order. A dot cannot appear in an interface
//!   collection name, so the two never clash;
//! - `sb.outbox_keys`: per aggregate key, the last `at` given to one of its entries,
//!   `{_id: key, at}`. `at` is a time in microseconds, raised past the key's last one inside
//!   the transaction, so the entries of one aggregate are numbered in commit order whatever
//!   the replicas' clocks say (two transactions of one key conflict on its document and the
//!   later is retried), while transactions of different aggregates never wait for each other.
//!   An entry without a key takes the time of this process's own monotonic clock.
//!
//! [`Store::commit`] is one multi-document transaction, retried whole on
//! `TransientTransactionError` and its commit retried on `UnknownTransactionCommitResult`,
//! as the driver's documentation prescribes. A transaction of a single write without outbox
//! entries is one single-document operation instead: atomic on its own and one round trip.
//! Transactions need a replica set (or a sharded cluster); [`MongoStore::connect`] refuses
//! a standalone server.
//!
//! Publishing does not wait for the relay's sweep: a change stream on `sb.outbox` wakes the
//! relay whenever any process commits an entry, and a commit in this process wakes it at once.

mod documents;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use mongodb::bson::{DateTime, Document as BsonDocument, doc};
use mongodb::error::{
    Error as DriverError, ErrorKind, TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT,
};
use mongodb::options::{ClientOptions, ConnectionString, ReturnDocument};
use mongodb::{Client, ClientSession, Collection, Database};

use self::documents::{classify, write_error};
use super::{
    OutboxEntry, Page, Query, Record, Store, StoreError, Transaction, Write, page_size,
    validate_name, validate_query,
};

/// The collection of outbox entries.
const OUTBOX: &str = "sb.outbox";

/// The collection holding each aggregate key's last outbox time.
const OUTBOX_KEYS: &str = "sb.outbox_keys";

/// The collection name reported when two outbox entries share an id (as the SQLite store).
const OUTBOX_COLLECTION: &str = "outbox";

/// How long a transaction is retried on transient errors before its error is returned:
/// the driver's `withTransaction` allows 120 s, far beyond any request's deadline.
const TRANSACTION_RETRY_TIME: Duration = Duration::from_secs(10);

/// How long an operation waits for a usable server when the URL does not say
/// (`serverSelectionTimeoutMS`; the driver's own default is 30 s, longer than any request's
/// deadline).
const DEFAULT_SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the change stream waits before it is opened again after failing.
const MAX_WATCH_BACKOFF: Duration = Duration::from_secs(10);

/// MongoDB's code for a change stream the deployment cannot serve.
const CHANGE_STREAM_UNSUPPORTED: i32 = 40573;

/// The MongoDB store of one database.
pub struct MongoStore {
    client: Client,
    db: Database,
    outbox: Collection<BsonDocument>,
    outbox_keys: Collection<BsonDocument>,
    /// The last `at` given to an entry without a key, so this process's are in commit order.
    clock: std::sync::atomic::AtomicI64,
    signal: Arc<tokio::sync::Notify>,
    /// The change-stream task, started when a relay first asks for the signal (a store
    /// opened only to read watches nothing); aborted with the store.
    watcher: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for MongoStore {
    fn drop(&mut self) {
        let watcher = self.watcher.get_mut().map(Option::take);
        if let Ok(Some(watcher)) = watcher {
            watcher.abort();
        }
    }
}

/// Checks a MongoDB URL without connecting: its syntax and options (no DNS lookup for
/// `mongodb+srv://`). The error never repeats the URL, which may carry a password.
pub fn check_url(url: &str) -> Result<(), StoreError> {
    ConnectionString::parse(url)
        .map(drop)
        .map_err(|error| invalid_url(&error, url))
}

/// The driver's refusal of `url`, without its password.
fn invalid_url(error: &DriverError, url: &str) -> StoreError {
    StoreError::UnsupportedUrl(format!(
        "not a valid MongoDB connection string: {}",
        redact(&error.to_string(), url)
    ))
}

/// `message` without the password of `url`, should a driver message quote it.
fn redact(message: &str, url: &str) -> String {
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password)
        .filter(|password| !password.is_empty());
    match password {
        Some(password) => message.replace(password, "…"),
        None => message.to_owned(),
    }
}

impl MongoStore {
    /// Connects to the deployment of `url` and opens the database the URL's path names, or
    /// `default_database`; checks that the deployment runs transactions and creates the
    /// outbox's indexes.
    ///
    /// Fails with [`StoreError::Unavailable`] when no server answers within the server
    /// selection timeout, and with [`StoreError::UnsupportedUrl`] for a bad URL or a
    /// deployment without transactions (a standalone server).
    pub async fn connect(url: &str, default_database: &str) -> Result<Self, StoreError> {
        let mut options = ClientOptions::parse(url)
            .await
            .map_err(|error| match *error.kind {
                ErrorKind::DnsResolve { .. } => StoreError::Unavailable(Box::new(error)),
                _ => invalid_url(&error, url),
            })?;
        if options.server_selection_timeout.is_none() {
            options.server_selection_timeout = Some(DEFAULT_SERVER_SELECTION_TIMEOUT);
        }
        if options.app_name.is_none() {
            options.app_name = Some(default_database.to_owned());
        }
        let name = options
            .default_database
            .clone()
            .unwrap_or_else(|| default_database.to_owned());
        let hosts: Vec<String> = options.hosts.iter().map(ToString::to_string).collect();
        let client = Client::with_options(options).map_err(classify)?;
        let db = client.database(&name);
        require_transactions(&db, &hosts.join(",")).await?;

        let outbox = db.collection::<BsonDocument>(OUTBOX);
        let outbox_keys = db.collection::<BsonDocument>(OUTBOX_KEYS);
        prepare_outbox(&outbox).await?;
        Ok(Self {
            client,
            db,
            outbox,
            outbox_keys,
            clock: std::sync::atomic::AtomicI64::new(0),
            signal: Arc::new(tokio::sync::Notify::new()),
            watcher: std::sync::Mutex::new(None),
        })
    }

    fn collection(&self, name: &str) -> Result<Collection<BsonDocument>, StoreError> {
        validate_name(name)?;
        Ok(self.db.collection(name))
    }

    /// Applies one write outside any transaction: a single-document operation is atomic.
    async fn write_alone(&self, write: &Write) -> Result<(), StoreError> {
        apply(&self.db, None, write)
            .await
            .map_err(|failed| match failed {
                Attempt::Transient(error) => classify(error),
                Attempt::Failed(error) => error,
            })
    }

    /// Runs the writes and outbox entries as one transaction, retried whole while the
    /// server calls its failure transient.
    async fn transact(&self, writes: &[Write], outbox: &[OutboxEntry]) -> Result<(), StoreError> {
        let started = Instant::now();
        let mut attempt = 0_u32;
        loop {
            match self.transact_once(writes, outbox).await {
                Err(Attempt::Transient(error)) if started.elapsed() < TRANSACTION_RETRY_TIME => {
                    tracing::debug!(%error, attempt, "transient transaction error; retrying");
                    retry_pause(attempt).await;
                    attempt += 1;
                }
                Err(Attempt::Transient(error)) => return Err(classify(error)),
                Err(Attempt::Failed(error)) => return Err(error),
                Ok(()) => return Ok(()),
            }
        }
    }

    async fn transact_once(&self, writes: &[Write], outbox: &[OutboxEntry]) -> Result<(), Attempt> {
        let mut session = self.client.start_session().await.map_err(Attempt::from)?;
        session.start_transaction().await.map_err(Attempt::from)?;
        let applied = self.apply_all(&mut session, writes, outbox).await;
        if let Err(failed) = applied {
            // The server aborts a transaction after a failed write anyway; an abort that
            // fails changes nothing (the transaction times out on the server).
            let _ = session.abort_transaction().await;
            return Err(failed);
        }
        Ok(())
    }

    /// The writes, then the outbox entries, numbered, and the commit.
    async fn apply_all(
        &self,
        session: &mut ClientSession,
        writes: &[Write],
        outbox: &[OutboxEntry],
    ) -> Result<(), Attempt> {
        for write in writes {
            apply(&self.db, Some(&mut *session), write).await?;
        }
        if !outbox.is_empty() {
            let mut entries = Vec::with_capacity(outbox.len());
            let mut keys: Vec<&str> = outbox.iter().map(|entry| entry.key.as_str()).collect();
            keys.sort_unstable();
            keys.dedup();
            for key in keys {
                let of_key: Vec<&OutboxEntry> =
                    outbox.iter().filter(|entry| entry.key == key).collect();
                let count = i64::try_from(of_key.len()).unwrap_or(i64::MAX);
                let last = if key.is_empty() {
                    self.tick(count)
                } else {
                    self.stamp_key(session, key, count).await?
                };
                entries.extend(of_key.into_iter().zip(last - count + 1..));
            }
            let documents = entries
                .iter()
                .map(|(entry, at)| documents::outbox_document(entry, *at));
            self.outbox
                .insert_many(documents)
                .session(&mut *session)
                .await
                .map_err(|error| outbox_insert_error(error, &entries))?;
        }
        commit_session(session).await
    }

    /// Raises the last time of `key` to now (or past its last one) and by `count` more;
    /// returns the last of the `count` times, all above every earlier entry's of the key.
    async fn stamp_key(
        &self,
        session: &mut ClientSession,
        key: &str,
        count: i64,
    ) -> Result<i64, Attempt> {
        self.outbox_keys
            .update_one(doc! { "_id": key }, doc! { "$max": { "at": now_micros() } })
            .upsert(true)
            .session(&mut *session)
            .await
            .map_err(Attempt::from)?;
        let stamped = self
            .outbox_keys
            .find_one_and_update(doc! { "_id": key }, doc! { "$inc": { "at": count } })
            .return_document(ReturnDocument::After)
            .session(&mut *session)
            .await
            .map_err(Attempt::from)?;
        stamped
            .as_ref()
            .and_then(|stamped| stamped.get_i64("at").ok())
            .ok_or_else(|| Attempt::Failed(StoreError::backend("an outbox key has no int64 `at`")))
    }

    /// `count` times of this process's monotonic clock; returns the last.
    fn tick(&self, count: i64) -> i64 {
        use std::sync::atomic::Ordering;
        let now = now_micros();
        let previous = self
            .clock
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(last.max(now - 1) + count)
            })
            .unwrap_or_else(|last| last);
        previous.max(now - 1) + count
    }
}

/// Microseconds since the Unix epoch.
fn now_micros() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX)
}

/// A failed transaction attempt: retry it whole, or give up with this error.
enum Attempt {
    Transient(DriverError),
    Failed(StoreError),
}

impl From<DriverError> for Attempt {
    fn from(error: DriverError) -> Self {
        if error.contains_label(TRANSIENT_TRANSACTION_ERROR) {
            Attempt::Transient(error)
        } else {
            Attempt::Failed(classify(error))
        }
    }
}

/// Commits, retrying the commit itself while its outcome is unknown. A commit whose outcome
/// stays unknown is a backend error, never "unavailable": it may have been applied.
async fn commit_session(session: &mut ClientSession) -> Result<(), Attempt> {
    let started = Instant::now();
    loop {
        match session.commit_transaction().await {
            Ok(()) => return Ok(()),
            Err(error)
                if error.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT)
                    && started.elapsed() < TRANSACTION_RETRY_TIME =>
            {
                tracing::debug!(%error, "commit outcome unknown; committing again");
            }
            Err(error) if error.contains_label(TRANSIENT_TRANSACTION_ERROR) => {
                return Err(Attempt::Transient(error));
            }
            Err(error) if error.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => {
                return Err(Attempt::Failed(StoreError::backend(error)));
            }
            Err(error) => return Err(Attempt::from(error)),
        }
    }
}

/// Waits a little before retrying a transaction (1 ms doubling to 128 ms, with jitter), so
/// that transactions in conflict do not meet again at once.
async fn retry_pause(attempt: u32) {
    let base = Duration::from_millis(1 << attempt.min(7));
    tokio::time::sleep(base.mul_f64(0.5 + fastrand::f64())).await;
}

/// An outbox insert's error: a duplicate id is `AlreadyExists` in the collection `outbox`.
fn outbox_insert_error(error: DriverError, outbox: &[(&OutboxEntry, i64)]) -> Attempt {
    if error.contains_label(TRANSIENT_TRANSACTION_ERROR) {
        return Attempt::Transient(error);
    }
    let duplicate = match &*error.kind {
        ErrorKind::InsertMany(failure) => failure.write_errors.as_ref().and_then(|errors| {
            errors
                .iter()
                .find(|e| e.code == documents::DUPLICATE_KEY)
                .map(|e| e.index)
        }),
        ErrorKind::Write(mongodb::error::WriteFailure::WriteError(e))
            if e.code == documents::DUPLICATE_KEY =>
        {
            Some(0)
        }
        _ => None,
    };
    match duplicate {
        Some(index) => Attempt::Failed(StoreError::AlreadyExists {
            collection: OUTBOX_COLLECTION.to_owned(),
            id: outbox
                .get(index)
                .map_or_else(String::new, |(entry, _)| entry.id.clone()),
        }),
        None => Attempt::Failed(classify(error)),
    }
}

/// Applies one write, inside `session`'s transaction when there is one. The collection
/// names were checked by [`Store::commit`].
async fn apply(
    db: &Database,
    mut session: Option<&mut ClientSession>,
    write: &Write,
) -> Result<(), Attempt> {
    let (collection_name, id) = match write {
        Write::Insert { collection, id, .. }
        | Write::Replace { collection, id, .. }
        | Write::Delete { collection, id, .. } => (collection.as_str(), id.as_str()),
    };
    let collection = db.collection::<BsonDocument>(collection_name);
    // A transient error retries the whole transaction; any other is this write's outcome.
    let driver = |error: DriverError| {
        if error.contains_label(TRANSIENT_TRANSACTION_ERROR) {
            Attempt::Transient(error)
        } else {
            Attempt::Failed(write_error(error, collection_name, id))
        }
    };
    let matched = match write {
        Write::Insert { doc, .. } => {
            let record = documents::record_document(id, 1, doc).map_err(Attempt::Failed)?;
            let insert = collection.insert_one(record);
            match session.as_deref_mut() {
                Some(session) => insert.session(session).await,
                None => insert.await,
            }
            .map_err(driver)?;
            return Ok(());
        }
        // No stored record has a version beyond int64: nothing to match.
        Write::Replace {
            expected_version, ..
        }
        | Write::Delete {
            expected_version: Some(expected_version),
            ..
        } if i64::try_from(*expected_version).is_err() => 0,
        Write::Replace {
            expected_version,
            doc,
            ..
        } => {
            let filter =
                documents::record_filter(id, Some(*expected_version)).map_err(Attempt::Failed)?;
            let record = documents::record_document(id, expected_version + 1, doc)
                .map_err(Attempt::Failed)?;
            let replace = collection.replace_one(filter, record);
            match session.as_deref_mut() {
                Some(session) => replace.session(session).await,
                None => replace.await,
            }
            .map_err(driver)?
            .matched_count
        }
        Write::Delete {
            expected_version, ..
        } => {
            let filter =
                documents::record_filter(id, *expected_version).map_err(Attempt::Failed)?;
            let delete = collection.delete_one(filter);
            match session.as_deref_mut() {
                Some(session) => delete.session(session).await,
                None => delete.await,
            }
            .map_err(driver)?
            .deleted_count
        }
    };
    if matched == 1 {
        return Ok(());
    }
    // Nothing matched: the record is missing, or has another version.
    let find = collection.find_one(doc! { "_id": id });
    let exists = match session {
        Some(session) => find.session(session).await,
        None => find.await,
    }
    .map_err(driver)?
    .is_some();
    let (collection, id) = (collection_name.to_owned(), id.to_owned());
    Err(Attempt::Failed(if exists {
        StoreError::VersionConflict { collection, id }
    } else {
        StoreError::NotFound { collection, id }
    }))
}

/// Fails unless the deployment runs multi-document transactions: a replica set (`setName`
/// in `hello`) or a sharded cluster (`msg: "isdbgrid"`).
async fn require_transactions(db: &Database, hosts: &str) -> Result<(), StoreError> {
    let hello =
        db.run_command(doc! { "hello": 1 })
            .await
            .map_err(|error| match classify(error) {
                StoreError::Unavailable(source) => StoreError::Unavailable(
                    format!("no MongoDB server answered at {hosts}: {source}").into(),
                ),
                other => other,
            })?;
    let replica_set = hello.get_str("setName").is_ok();
    let sharded = hello.get_str("msg") == Ok("isdbgrid");
    if replica_set || sharded {
        return Ok(());
    }
    Err(StoreError::UnsupportedUrl(format!(
        "the MongoDB server at {hosts} is a standalone server, but the store commits records, \
         outbox entries and idempotency records in multi-document transactions, which need a \
         replica set: start mongod with --replSet rs0 and run rs.initiate() once (a one-node \
         replica set is enough), or use a sharded cluster"
    )))
}

/// Creates the outbox's indexes unless they exist, at every start.
async fn prepare_outbox(outbox: &Collection<BsonDocument>) -> Result<(), StoreError> {
    let existing = index_names(outbox).await?;
    let wanted = [
        ("sb_pending", doc! { "published": 1, "at": 1, "_id": 1 }),
        ("sb_published_at", doc! { "published_at": 1 }),
    ];
    let missing: Vec<mongodb::IndexModel> = wanted
        .into_iter()
        .filter(|(name, _)| !existing.iter().any(|e| e == name))
        .map(|(name, keys)| {
            let options = mongodb::options::IndexOptions::builder()
                .name(name.to_owned())
                .build();
            mongodb::IndexModel::builder()
                .keys(keys)
                .options(options)
                .build()
        })
        .collect();
    if !missing.is_empty() {
        outbox.create_indexes(missing).await.map_err(classify)?;
    }
    Ok(())
}

/// The names of a collection's indexes; none when it does not exist yet. Asked before
/// creating an index: `createIndexes`, even of an index that exists, waits for the
/// collection's open transactions (one a killed process left open holds it up to
/// MongoDB's `transactionLifetimeLimitSeconds`), which a look at the list does not.
async fn index_names(collection: &Collection<BsonDocument>) -> Result<Vec<String>, StoreError> {
    /// MongoDB's code for a collection that does not exist.
    const NAMESPACE_NOT_FOUND: i32 = 26;
    match collection.list_index_names().await {
        Ok(names) => Ok(names),
        Err(error) if documents::server_code(&error) == Some(NAMESPACE_NOT_FOUND) => Ok(Vec::new()),
        Err(error) => Err(classify(error)),
    }
}

/// Wakes the relay on every entry inserted into the outbox, by any process, for as long as
/// the store lives; reopens the change stream after an error, with backoff.
async fn watch_outbox(outbox: Collection<BsonDocument>, signal: Arc<tokio::sync::Notify>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let opened = outbox
            .watch()
            .pipeline([doc! { "$match": { "operationType": "insert" } }])
            .await;
        match opened {
            Ok(mut changes) => {
                backoff = Duration::from_millis(100);
                while let Some(change) = changes.next().await {
                    match change {
                        Ok(_) => signal.notify_one(),
                        Err(error) => {
                            tracing::warn!(%error, "the outbox change stream failed; reopening");
                            break;
                        }
                    }
                }
            }
            Err(error) if documents::server_code(&error) == Some(CHANGE_STREAM_UNSUPPORTED) => {
                tracing::warn!(
                    %error,
                    "this MongoDB deployment offers no change streams: the relay falls back to its sweep"
                );
                return;
            }
            Err(error) => tracing::warn!(%error, "cannot open the outbox change stream"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_WATCH_BACKOFF);
    }
}

#[async_trait::async_trait]
impl Store for MongoStore {
    async fn ensure_index(
        &self,
        collection: &str,
        field: &str,
        unique: bool,
    ) -> Result<(), StoreError> {
        validate_name(field)?;
        let target = self.collection(collection)?;
        let model = documents::index_model(field, unique);
        let existing = index_names(&target).await?;
        if existing.contains(&documents::index_name(field, unique)) {
            return Ok(());
        }
        if existing.contains(&documents::index_name(field, !unique)) {
            let (kind, other) = if unique {
                ("unique", "plain")
            } else {
                ("plain", "unique")
            };
            return Err(StoreError::backend(format!(
                "collection {collection:?} has a {other} index on {field:?}, not the {kind} one \
                 asked for; drop it (db.{collection}.dropIndex(\"{}\")) to change its kind",
                documents::index_name(field, !unique)
            )));
        }
        target.create_index(model).await.map(drop).map_err(|error| {
            match write_error(error, collection, "") {
                StoreError::AlreadyExists { collection, .. } => StoreError::Duplicate {
                    collection,
                    field: field.to_owned(),
                },
                other => other,
            }
        })
    }

    async fn get(&self, collection: &str, id: &str) -> Result<Option<Record>, StoreError> {
        let stored = self
            .collection(collection)?
            .find_one(doc! { "_id": id })
            .await
            .map_err(classify)?;
        stored
            .map(|stored| documents::record_from(collection, stored))
            .transpose()
    }

    async fn find(&self, query: Query) -> Result<Page, StoreError> {
        validate_query(&query)?;
        let limit = page_size(query.limit);
        let filter = documents::query_filter(&query)?;
        // No limit on the cursor: records dropped by `is_match` must not shorten the page.
        // The first batch is the page plus one, so one round trip is the rule.
        let mut cursor = self
            .db
            .collection::<BsonDocument>(&query.collection)
            .find(filter)
            .sort(doc! { "_id": 1 })
            .batch_size(limit + 1)
            .await
            .map_err(classify)?;
        let mut records = Vec::new();
        while records.len() <= limit as usize {
            let Some(stored) = cursor.next().await else {
                break;
            };
            let record = documents::record_from(&query.collection, stored.map_err(classify)?)?;
            if documents::is_match(&query, &record) {
                records.push(record);
            }
        }
        let next = if records.len() > limit as usize {
            records.truncate(limit as usize);
            records.last().map(|record| record.id.clone())
        } else {
            None
        };
        Ok(Page { records, next })
    }

    async fn commit(&self, tx: Transaction) -> Result<(), StoreError> {
        let (writes, outbox) = tx.into_parts();
        for write in &writes {
            let (Write::Insert { collection, .. }
            | Write::Replace { collection, .. }
            | Write::Delete { collection, .. }) = write;
            validate_name(collection)?;
        }
        match (writes.as_slice(), outbox.is_empty()) {
            ([], true) => return Ok(()),
            ([write], true) => self.write_alone(write).await?,
            _ => self.transact(&writes, &outbox).await?,
        }
        if !outbox.is_empty() {
            self.signal.notify_one();
        }
        Ok(())
    }

    async fn outbox_pending(&self, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut cursor = self
            .outbox
            .find(doc! { "published": false })
            .sort(doc! { "at": 1, "_id": 1 })
            .limit(i64::from(page_size(limit)))
            .await
            .map_err(classify)?;
        let mut entries = Vec::new();
        while let Some(stored) = cursor.next().await {
            entries.push(documents::outbox_entry_from(&stored.map_err(classify)?)?);
        }
        Ok(entries)
    }

    async fn outbox_mark_published(&self, ids: &[String]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.outbox
            .update_many(
                doc! { "_id": { "$in": ids }, "published": false },
                doc! { "$set": { "published": true, "published_at": DateTime::now() } },
            )
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn outbox_prune(&self, before: SystemTime) -> Result<u64, StoreError> {
        // A key's last time older than the retention bound is forgotten: its next entry is
        // numbered from the clock again, far past anything still pending.
        let forget = before
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()
            .and_then(|since| i64::try_from(since.as_micros()).ok());
        if let Some(forget) = forget {
            self.outbox_keys
                .delete_many(doc! { "at": { "$lt": forget } })
                .await
                .map_err(classify)?;
        }
        let before = DateTime::from_system_time(before);
        let deleted = self
            .outbox
            .delete_many(doc! { "published": true, "published_at": { "$lt": before } })
            .await
            .map_err(classify)?;
        Ok(deleted.deleted_count)
    }

    async fn delete_below(
        &self,
        collection: &str,
        field: &str,
        before: i64,
    ) -> Result<u64, StoreError> {
        validate_name(field)?;
        let deleted = self
            .collection(collection)?
            .delete_many(documents::below_filter(field, before))
            .await
            .map_err(classify)?;
        Ok(deleted.deleted_count)
    }

    fn outbox_signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        if let (Ok(mut watcher), Ok(runtime)) =
            (self.watcher.lock(), tokio::runtime::Handle::try_current())
            && watcher.is_none()
        {
            let task = watch_outbox(self.outbox.clone(), Arc::clone(&self.signal));
            *watcher = Some(runtime.spawn(task));
        }
        Some(Arc::clone(&self.signal))
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map(drop)
            .map_err(classify)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_without_connecting_and_never_quoted() {
        for good in [
            "mongodb://127.0.0.1:27017",
            "mongodb://u:p@a:1,b:2/users?replicaSet=rs0&tls=true&authSource=admin",
            "mongodb+srv://u:p@cluster.example.com/?retryWrites=true",
        ] {
            check_url(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            "mongodb://u:hunter2@",
            "mongodb://u:hunter2@host/?tls=maybe",
            "mongodb://u:hunter2@host/?maxPoolSize=-1",
        ] {
            let error = check_url(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} accepted"));
            let message = error.to_string();
            assert!(
                matches!(error, StoreError::UnsupportedUrl(_)),
                "{bad}: {error:?}"
            );
            assert!(!message.contains("hunter2"), "{bad}: {message}");
        }
        assert_eq!(
            redact("bad secret here", "mongodb://u:secret@h"),
            "bad … here"
        );
    }
}
