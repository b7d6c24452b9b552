//! Persistence: one document-store interface, the embedded SQLite store behind it, and
//! the conformance suite every implementation must pass.
//!
//! A service keeps its data as JSON documents in named collections. Each [`Record`] has a
//! string id and a version that starts at 1 and grows by one on every replace, so writers
//! use optimistic concurrency: a [`Transaction`] says which version it expects and fails
//! with [`StoreError::VersionConflict`] if somebody else got there first. A transaction
//! also carries [`OutboxEntry`] values, which are stored atomically with the writes and
//! later published by a relay (the transactional outbox; README.md, "The wire convention").
//!
//! Where things live:
//! - this file: the [`Store`] trait, the value types, [`StoreError`] and [`open`];
//! - [`sqlite`]: the embedded implementation (one file, or memory for tests);
//! - [`typed`]: [`Collection`], the typed wrapper services use day to day;
//! - [`conformance`]: the properties every implementation must satisfy, as test support.
//!
//! # How the interface maps onto MongoDB
//! The interface was shaped so that a MongoDB store is a direct translation: a collection
//! is a collection; a record is `{ _id: id, v: version, doc: { ... } }` (the document is
//! nested so no field name is reserved); [`Query`] filters are equality matches on
//! `doc.<field>`, sorted by `_id`, with `_id > after` as the cursor; a unique index is a
//! unique index on `doc.<field>` that skips documents missing the field (a partial index
//! with `$exists`), matching SQLite, where a missing field is NULL and NULLs never collide;
//! [`Store::commit`] is a multi-document transaction. Filter values are restricted to
//! scalars because MongoDB's equality on arrays also matches single elements, which SQLite
//! would not reproduce.

use std::sync::Arc;

use serde_json::Value;

pub mod conformance;
pub mod mongo;
pub mod sqlite;
mod traced;
pub mod typed;

pub use typed::{Collection, Versioned, from_document, to_document};

/// A stored document: a JSON object whose top-level fields can be queried.
pub type Document = serde_json::Map<String, Value>;

/// The number of records a page holds when a query asks for 0.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// The most records one page may hold; larger limits are clamped so that one request can
/// never load an entire collection into memory.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Turns a requested page size into the one a store must use: 0 means
/// [`DEFAULT_PAGE_SIZE`] and anything above [`MAX_PAGE_SIZE`] is clamped to it.
pub fn page_size(requested: u32) -> u32 {
    match requested {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}

/// One document as stored, with its id and version.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The id, unique within the collection.
    pub id: String,
    /// 1 after insert, incremented by every replace; what optimistic writes compare.
    pub version: u64,
    /// The document itself.
    pub doc: Document,
}

/// A read of one collection: equality filters, ordered by id, one page at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The collection to read.
    pub collection: String,
    /// `(field, value)` pairs that must all hold; fields are top-level document fields and
    /// values are scalars (string, number, boolean or null, where null also matches a
    /// missing field).
    pub filter: Vec<(String, Value)>,
    /// Exclusive cursor: only records with an id greater than this one are returned.
    pub after: Option<String>,
    /// Page size; see [`page_size`] for how 0 and large values are treated.
    pub limit: u32,
}

impl Query {
    /// Every record of `collection`, in id order, one default-sized page at a time.
    pub fn all(collection: impl Into<String>) -> Self {
        Self {
            collection: collection.into(),
            filter: Vec::new(),
            after: None,
            limit: 0,
        }
    }

    /// Adds the condition `field == value` (ANDed with the others).
    #[must_use]
    pub fn where_eq(mut self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.filter.push((field.into(), value.into()));
        self
    }

    /// Continues after the given id; pass the previous page's [`Page::next`].
    #[must_use]
    pub fn after(mut self, cursor: Option<String>) -> Self {
        self.after = cursor;
        self
    }

    /// Sets the page size.
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// Pages as a list rpc's `switchboard.v1.PageRequest` asks: after its `after` (empty:
    /// from the start), at most [`page_size`] of its `limit`; none asks for the first page
    /// of the default size.
    #[must_use]
    pub fn page(self, page: Option<&crate::proto::switchboard::v1::PageRequest>) -> Self {
        let (after, limit) = page.map_or((None, 0), |p| {
            (Some(p.after.clone()).filter(|a| !a.is_empty()), p.limit)
        });
        self.after(after).limit(page_size(limit))
    }
}

/// One page of query results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<R = Record> {
    /// The records of this page, ordered by id.
    pub records: Vec<R>,
    /// The cursor for the next page: the last id here, present only when more records
    /// match, so a caller loops until it is `None`.
    pub next: Option<String>,
}

impl<R> Page<R> {
    /// The `switchboard.v1.PageInfo` a list rpc replies with: where the next page starts,
    /// empty on the last page.
    pub fn info(&self) -> crate::proto::switchboard::v1::PageInfo {
        crate::proto::switchboard::v1::PageInfo {
            next: self.next.clone().unwrap_or_default(),
        }
    }
}

/// An event to publish once the transaction that wrote it has committed.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// Unique id, sent as `Nats-Msg-Id` so JetStream drops a second publication.
    pub id: String,
    /// The NATS subject, e.g. `events.users.user_deleted`.
    pub subject: String,
    /// The aggregate the entry is about (e.g. a user's id), or empty: a relay publishes the
    /// entries of one aggregate in commit order, one at a time.
    pub key: String,
    /// Message headers in order.
    pub headers: Vec<(String, String)>,
    /// The encoded message.
    pub payload: Vec<u8>,
}

impl OutboxEntry {
    /// An entry with a fresh UUID v7 id (time ordered, like `Sb-Message-Id`) and no headers.
    pub fn new(subject: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            subject: subject.into(),
            key: String::new(),
            headers: Vec::new(),
            payload: payload.into(),
        }
    }

    /// Sets the aggregate key.
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The value of header `name`, if the entry has one.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }
}

/// One write inside a [`Transaction`].
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Create a record at version 1; fails if the id exists.
    Insert {
        /// The collection.
        collection: String,
        /// The new record's id.
        id: String,
        /// The document.
        doc: Document,
    },
    /// Overwrite a record whose version is `expected_version`; it becomes version + 1.
    Replace {
        /// The collection.
        collection: String,
        /// The record's id.
        id: String,
        /// The version the caller read.
        expected_version: u64,
        /// The new document.
        doc: Document,
    },
    /// Remove a record, checking its version when one is given.
    Delete {
        /// The collection.
        collection: String,
        /// The record's id.
        id: String,
        /// The version the caller read, or `None` to delete whatever is there.
        expected_version: Option<u64>,
    },
}

/// Writes and outbox entries applied all together or not at all by [`Store::commit`].
///
/// Writes apply in the order they were added and see each other, so one transaction may
/// insert a record and then replace it at version 1.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transaction {
    writes: Vec<Write>,
    outbox: Vec<OutboxEntry>,
}

impl Transaction {
    /// An empty transaction; committing it does nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts a record at version 1. Fails with [`StoreError::AlreadyExists`] if the id is
    /// taken, or [`StoreError::Duplicate`] if a unique index already holds one of its values.
    #[must_use]
    pub fn insert(
        mut self,
        collection: impl Into<String>,
        id: impl Into<String>,
        doc: Document,
    ) -> Self {
        self.writes.push(Write::Insert {
            collection: collection.into(),
            id: id.into(),
            doc,
        });
        self
    }

    /// Replaces a record expected at `expected_version`. Fails with
    /// [`StoreError::VersionConflict`] if it has another version, [`StoreError::NotFound`]
    /// if it does not exist, or [`StoreError::Duplicate`] on a unique index.
    #[must_use]
    pub fn replace(
        mut self,
        collection: impl Into<String>,
        id: impl Into<String>,
        expected_version: u64,
        doc: Document,
    ) -> Self {
        self.writes.push(Write::Replace {
            collection: collection.into(),
            id: id.into(),
            expected_version,
            doc,
        });
        self
    }

    /// Deletes a record. Fails with [`StoreError::NotFound`] if it does not exist, or
    /// [`StoreError::VersionConflict`] if `expected_version` is given and differs.
    #[must_use]
    pub fn delete(
        mut self,
        collection: impl Into<String>,
        id: impl Into<String>,
        expected_version: Option<u64>,
    ) -> Self {
        self.writes.push(Write::Delete {
            collection: collection.into(),
            id: id.into(),
            expected_version,
        });
        self
    }

    /// Puts `write` before every write added so far, so it is the first to fail: the
    /// runtime places a command's idempotency record there (see `Context::commit`).
    #[must_use]
    #[cfg(feature = "runtime")]
    pub(crate) fn first(mut self, write: Write) -> Self {
        self.writes.insert(0, write);
        self
    }

    /// Stores an entry in the outbox, visible to the relay only if the commit succeeds.
    #[must_use]
    pub fn publish(mut self, entry: OutboxEntry) -> Self {
        self.outbox.push(entry);
        self
    }

    /// The writes, in the order they will apply.
    pub fn writes(&self) -> &[Write] {
        &self.writes
    }

    /// The outbox entries, in the order they will be published.
    pub fn outbox(&self) -> &[OutboxEntry] {
        &self.outbox
    }

    /// True when there is nothing to commit.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.outbox.is_empty()
    }

    /// Splits the transaction into its writes and outbox entries, for implementations.
    pub fn into_parts(self) -> (Vec<Write>, Vec<OutboxEntry>) {
        (self.writes, self.outbox)
    }
}

/// Everything that can go wrong in a store, in the store's own terms.
///
/// The first four variants are expected outcomes a service handles (usually by reporting
/// a conflict or retrying after a fresh read); the rest are bugs or infrastructure failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An insert used an id that is already taken.
    #[error("a record with id {id:?} already exists in collection {collection:?}")]
    AlreadyExists {
        /// The collection.
        collection: String,
        /// The id.
        id: String,
    },
    /// A write would give two records the same value of a uniquely indexed field.
    #[error(
        "another record in collection {collection:?} already has this value of unique field {field:?}"
    )]
    Duplicate {
        /// The collection.
        collection: String,
        /// The uniquely indexed field.
        field: String,
    },
    /// A replace or delete expected another version: someone changed the record meanwhile.
    #[error(
        "record {id:?} in collection {collection:?} was changed by someone else (version mismatch)"
    )]
    VersionConflict {
        /// The collection.
        collection: String,
        /// The id.
        id: String,
    },
    /// A replace or delete named a record that does not exist.
    #[error("no record with id {id:?} in collection {collection:?}")]
    NotFound {
        /// The collection.
        collection: String,
        /// The id.
        id: String,
    },
    /// A collection or field name is not an identifier.
    #[error("invalid collection or field name {0:?}: names must match [A-Za-z_][A-Za-z0-9_]*")]
    InvalidName(String),
    /// A query filter value cannot be compared the same way by every store.
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    /// A value was stored that does not serialize to a JSON object.
    #[error("the value does not serialize to a JSON object, so it cannot be stored as a document")]
    NotADocument,
    /// A value could not be serialized to JSON.
    #[error("the value could not be serialized to a document")]
    Encode(#[source] serde_json::Error),
    /// A stored document does not deserialize into the type it was read as.
    #[error("record {id:?} in collection {collection:?} does not match the expected type")]
    Decode {
        /// The collection.
        collection: String,
        /// The id.
        id: String,
        /// What serde reported.
        source: serde_json::Error,
    },
    /// The database cannot be reached now (no server answered in time, the connection was
    /// lost before anything was committed): nothing was written and a later try may succeed.
    #[error("the database is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Concurrent transactions kept writing the same records and the retries did not get
    /// past them: nothing was written; trying again later may succeed.
    #[error("a concurrent transaction kept writing the same records")]
    WriteConflict(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database itself failed (I/O, corruption, a commit whose outcome is unknown, a bug).
    #[error("the storage backend failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// [`open`] was given a URL it cannot serve.
    #[error("unsupported store URL: {0}")]
    UnsupportedUrl(String),
}

impl StoreError {
    /// Wraps any backend error, keeping it as the source so the cause chain is logged once.
    pub fn backend(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Backend(err.into())
    }

    /// The kind of failure, for a span's `error.type` (never the ids or values involved).
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::AlreadyExists { .. } => "already_exists",
            StoreError::Duplicate { .. } => "duplicate",
            StoreError::VersionConflict { .. } => "version_conflict",
            StoreError::NotFound { .. } => "not_found",
            StoreError::InvalidName(_) => "invalid_name",
            StoreError::InvalidFilter(_) => "invalid_filter",
            StoreError::NotADocument => "not_a_document",
            StoreError::Encode(_) => "encode",
            StoreError::Decode { .. } => "decode",
            StoreError::Unavailable(_) => "unavailable",
            StoreError::WriteConflict(_) => "write_conflict",
            StoreError::Backend(_) => "backend",
            StoreError::UnsupportedUrl(_) => "unsupported_url",
        }
    }
}

/// Checks that `name` can be used as a collection or field name in every store, and in
/// SQL text: `[A-Za-z_][A-Za-z0-9_]*`. Implementations call it before touching the database.
pub fn validate_name(name: &str) -> Result<(), StoreError> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(StoreError::InvalidName(name.to_owned()))
    }
}

/// Checks a whole query: names valid and every filter value a scalar.
pub fn validate_query(query: &Query) -> Result<(), StoreError> {
    validate_name(&query.collection)?;
    for (field, value) in &query.filter {
        validate_name(field)?;
        if value.is_array() || value.is_object() {
            return Err(StoreError::InvalidFilter(format!(
                "field {field:?} is compared with an array or object; only strings, numbers, booleans and null are supported"
            )));
        }
    }
    Ok(())
}

/// A document store: collections of versioned JSON documents plus an outbox.
///
/// Implementations must pass every function in [`conformance`].
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates an index on a top-level field if it does not exist yet, so it is safe to call
    /// at every start. With `unique`, fails with [`StoreError::Duplicate`] if records
    /// already share a value; records missing the field never collide.
    async fn ensure_index(
        &self,
        collection: &str,
        field: &str,
        unique: bool,
    ) -> Result<(), StoreError>;

    /// Reads one record; a collection never written to simply has none.
    async fn get(&self, collection: &str, id: &str) -> Result<Option<Record>, StoreError>;

    /// Reads one page of the records matching `query`, in id order.
    async fn find(&self, query: Query) -> Result<Page, StoreError>;

    /// Applies every write and stores every outbox entry atomically; on any error nothing
    /// is applied. Inserted records are at version 1 and replaced ones at expected + 1.
    async fn commit(&self, tx: Transaction) -> Result<(), StoreError>;

    /// Up to `limit` (see [`page_size`]) unpublished outbox entries, oldest commit first.
    async fn outbox_pending(&self, limit: u32) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Marks entries as published so they are no longer pending; unknown ids are ignored,
    /// which makes a relay's retry after a crash harmless. Published entries are kept
    /// (their ids still taken) until [`Store::outbox_prune`] removes them.
    async fn outbox_mark_published(&self, ids: &[String]) -> Result<(), StoreError>;

    /// Deletes the entries marked published before `before`; returns how many. Pending
    /// entries are never deleted.
    async fn outbox_prune(&self, before: std::time::SystemTime) -> Result<u64, StoreError>;

    /// Deletes the records of `collection` whose top-level number `field` is below
    /// `before`, whatever their version, and returns how many; records without the field
    /// are kept. For expiring bookkeeping (idempotency and inbox records); with an index on
    /// `field` it reads only what it deletes.
    async fn delete_below(
        &self,
        collection: &str,
        field: &str,
        before: i64,
    ) -> Result<u64, StoreError>;

    /// Notified after every commit in this process that stored outbox entries, so a relay
    /// can publish at once instead of polling; `None` when the store cannot tell (the relay
    /// then relies on its periodic sweep).
    fn outbox_signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }

    /// Whether the database answers now: what readiness reports. An embedded store is
    /// always there; a database server is asked.
    async fn check(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Where a store URL says the data lives: what [`parse_url`] accepts and [`open`] opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// The embedded SQLite store in this file (relative or absolute path).
    SqliteFile(String),
    /// A private in-memory SQLite store, for tests.
    SqliteMemory,
    /// A MongoDB deployment (`mongodb://…` or `mongodb+srv://…`, checked but not looked up).
    MongoDb(String),
}

/// Decides whether `url` names a store this build can open, without touching anything:
/// the one place that says which URLs are valid, used by [`open`] and by the settings
/// (`STORE_URL`), so bad configuration is refused before a service connects anywhere.
///
/// - `sqlite://data/users.db` (relative) or `sqlite:///var/lib/sb/users.db` (absolute);
/// - `sqlite::memory:`;
/// - `mongodb://…` / `mongodb+srv://…`: MongoDB, with the driver's URL options (TLS,
///   authentication, pool, timeouts); the path names the database, or the service's name
///   is used.
///
/// Error messages never repeat a non-SQLite URL, which may carry a password: only its
/// scheme.
pub fn parse_url(url: &str) -> Result<StoreLocation, StoreError> {
    if url == "sqlite::memory:" {
        return Ok(StoreLocation::SqliteMemory);
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(StoreError::UnsupportedUrl(format!(
                "{url:?} names no file; use sqlite://PATH or sqlite::memory:"
            )));
        }
        return Ok(StoreLocation::SqliteFile(path.to_owned()));
    }
    match url_scheme(url) {
        Some("mongodb" | "mongodb+srv") => {
            mongo::check_url(url)?;
            Ok(StoreLocation::MongoDb(url.to_owned()))
        }
        Some(scheme) => Err(StoreError::UnsupportedUrl(format!(
            "expected sqlite://PATH, sqlite::memory: or mongodb://…, got a URL with scheme {scheme:?}"
        ))),
        None => Err(StoreError::UnsupportedUrl(
            "expected sqlite://PATH, sqlite::memory: or mongodb://…, got no URL scheme".to_owned(),
        )),
    }
}

/// `url` as it may appear in logs and error messages: a SQLite URL, or text with no
/// scheme, whole (neither can hold a URL's password); anything else only as its scheme.
pub fn redacted_url(url: &str) -> String {
    match url_scheme(url) {
        Some(scheme) if scheme != "sqlite" => format!("{scheme}:…"),
        _ => url.to_owned(),
    }
}

/// The scheme of `url`, if it has one.
fn url_scheme(url: &str) -> Option<&str> {
    url.split_once(':').map(|(scheme, _)| scheme)
}

/// Opens the store of service `service` from a URL; [`parse_url`] says which URLs are valid.
///
/// A file store creates the file and its parent directories. A MongoDB store uses the
/// database the URL's path names, or one named `service`. Every operation a handler makes
/// on the store is a database span in the handler's trace.
pub async fn open_for(service: &str, url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let (store, system): (Arc<dyn Store>, _) = match parse_url(url)? {
        StoreLocation::SqliteMemory => (
            Arc::new(sqlite::SqliteStore::open_in_memory().await?),
            "sqlite",
        ),
        StoreLocation::SqliteFile(path) => {
            (Arc::new(sqlite::SqliteStore::open(&path).await?), "sqlite")
        }
        StoreLocation::MongoDb(url) => (
            Arc::new(mongo::MongoStore::connect(&url, service).await?),
            "mongodb",
        ),
    };
    Ok(Arc::new(traced::Traced::new(store, system)))
}

/// Opens a store from a URL that says everything: a SQLite URL, or a MongoDB URL whose path
/// names the database (tests and tools, which are no service; services use [`open_for`]).
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if let StoreLocation::MongoDb(url) = parse_url(url)? {
        let named = mongodb::options::ConnectionString::parse(&url)
            .ok()
            .and_then(|parsed| parsed.default_database)
            .is_some();
        if !named {
            return Err(StoreError::UnsupportedUrl(
                "this MongoDB URL names no database: add it as the path (mongodb://host/NAME)"
                    .to_owned(),
            ));
        }
    }
    open_for("", url).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::switchboard::v1::PageRequest;

    #[test]
    fn a_page_request_becomes_a_cursor_and_a_bounded_limit() {
        let asked = |page: Option<&PageRequest>| {
            let query = Query::all("c").page(page);
            (query.after, query.limit)
        };
        let page = |limit, after: &str| PageRequest {
            limit,
            after: after.into(),
        };

        assert_eq!(asked(None), (None, DEFAULT_PAGE_SIZE));
        assert_eq!(asked(Some(&page(0, ""))), (None, DEFAULT_PAGE_SIZE));
        assert_eq!(asked(Some(&page(10, "id-9"))), (Some("id-9".into()), 10));
        assert_eq!(asked(Some(&page(u32::MAX, ""))), (None, MAX_PAGE_SIZE));
        let last = Page::<Record> {
            records: Vec::new(),
            next: None,
        };
        assert_eq!(last.info().next, "");
    }
}
