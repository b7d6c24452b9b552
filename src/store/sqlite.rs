//! The embedded store: SQLite in one file (or in memory for tests), through rusqlite.
//!
//! Each collection is a table `doc_<name>` with columns `id TEXT PRIMARY KEY`,
//! `version INTEGER NOT NULL` and `doc TEXT NOT NULL` (the JSON document), created by the
//! first write. Queries compare `json_extract(doc, '$.<field>')`, and an index is an
//! expression index on exactly that expression, so SQLite's planner uses it. The outbox is
//! the table `sb_outbox`, ordered by an autoincrementing sequence number; a published
//! entry gets its `published_at` time and is deleted by the relay's prune once older than
//! the retention period (JetStream is then the durable log).
//!
//! SQLite names are case-insensitive while collection and field names are not, so names
//! are escaped into lower case (`_` becomes `__`, `A` becomes `_a`): `Users` and `users`
//! get different tables.
//!
//! # Durability
//! The database runs in WAL mode with `synchronous=NORMAL`. A committed transaction
//! survives the process crashing, but the last few commits may be lost if the machine loses
//! power or the OS crashes before the WAL is synced at the next checkpoint. The database is
//! never corrupted and a transaction is never half applied, so a record and the outbox
//! entries written with it are kept or lost together, which is what the outbox relies on.
//! `synchronous=FULL` would close that window at the cost of an fsync per commit; the
//! embedded store is meant for one machine, where throughput matters more.
//!
//! # Concurrency
//! rusqlite is synchronous. Writes run on one thread that owns the writing connection
//! ([`writer`]): it applies the commits queued behind each other in one SQLite transaction,
//! each in its own savepoint, and keeps the outbox sequence in commit order.
//!
//! Reads of a file database use [`READERS`] read-only connections of their own (WAL lets
//! them read while a write is in progress, each seeing the last committed state). A read
//! takes a free reader and runs on the calling task: an indexed lookup of a page (at most
//! [`MAX_PAGE_SIZE`](super::MAX_PAGE_SIZE) records) is short, and handing it to the blocking
//! pool and back cost more than the query itself (issue 8's profile, `bench/README.md`). If
//! every reader is busy, the read waits for one on the blocking pool instead. An in-memory
//! database is private to its one connection, so its reads go through the writer.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, TryLockError};
use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params_from_iter};

use super::{
    OutboxEntry, Page, Query, Record, Store, StoreError, Transaction, Write, page_size,
    validate_name, validate_query,
};

mod sql;
mod writer;
mod writes;

use sql::{field_expr, index_name, push_condition, table_ident, table_name, unique_violation};
use writer::Job;
use writes::create_table;

/// How long a statement waits for a lock held by another connection to the same file
/// (a second process, or the `sqlite3` shell) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many read-only connections a file database keeps beside its writer.
const READERS: usize = 4;

/// The outbox table. Collection tables all start with `doc_`, so it cannot clash with one.
/// `published_at` (milliseconds since the Unix epoch) is NULL while an entry is pending.
const OUTBOX_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS sb_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    headers TEXT NOT NULL,
    payload BLOB NOT NULL,
    aggregate TEXT NOT NULL DEFAULT '',
    published_at INTEGER
)";

/// Columns added to the outbox after its first release, with their definitions: a file
/// created before gets them at open.
const OUTBOX_ADDED_COLUMNS: [(&str, &str); 2] = [
    ("aggregate", "TEXT NOT NULL DEFAULT ''"),
    ("published_at", "INTEGER"),
];

/// The outbox's indexes: pending entries in commit order, published ones by age.
const OUTBOX_INDEXES: &str = "
    CREATE INDEX IF NOT EXISTS sb_outbox_pending ON sb_outbox (seq) WHERE published_at IS NULL;
    CREATE INDEX IF NOT EXISTS sb_outbox_published ON sb_outbox (published_at)
        WHERE published_at IS NOT NULL;";

/// The collection name reported when two outbox entries share an id.
const OUTBOX_COLLECTION: &str = "outbox";

/// The embedded [`Store`]. Cheap to share: clone the `Arc` that [`super::open`] returns.
pub struct SqliteStore {
    /// The writer thread's queue.
    writer: std::sync::mpsc::Sender<Job>,
    /// Read-only connections to the same file; empty for an in-memory database.
    readers: Arc<[Mutex<Db>]>,
    /// Which reader a read that found them all busy waits for (round robin).
    next_reader: AtomicUsize,
    /// Notified after a commit that stored outbox entries.
    outbox_signal: Arc<tokio::sync::Notify>,
}

/// The connection and what we know about its schema.
struct Db {
    conn: Connection,
    /// Collections whose table is known to exist, to skip `CREATE TABLE` and the
    /// `sqlite_master` lookup on every call. Only committed tables are added.
    tables: HashSet<String>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and its parent directories.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let store = Self::start({
            let path = path.clone();
            move || {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).or_backend()?;
                }
                let conn = Connection::open(&path).or_backend()?;
                // WAL lets readers in other processes work during a write; see the module docs
                // for what synchronous=NORMAL trades away.
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
                    .or_backend()?;
                conn.pragma_update(None, "synchronous", "NORMAL")
                    .or_backend()?;
                Ok(conn)
            }
        })
        .await?;
        // Opened after the writer switched the file to WAL, so they read alongside it.
        let readers = tokio::task::spawn_blocking(move || {
            (0..READERS)
                .map(|_| {
                    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                    let conn = Connection::open_with_flags(&path, flags).or_backend()?;
                    Db::configure(conn).map(Mutex::new)
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })
        .await
        .or_backend()??;
        Ok(Self {
            readers: readers.into(),
            ..store
        })
    }

    /// A private in-memory database that disappears with the store, for tests.
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        Self::start(|| Connection::open_in_memory().or_backend()).await
    }

    async fn start(
        connect: impl FnOnce() -> Result<Connection, StoreError> + Send + 'static,
    ) -> Result<Self, StoreError> {
        let writer = tokio::task::spawn_blocking(move || {
            let db = Db::configure(connect()?)?;
            create_outbox(&db.conn)?;
            writer::start(db).or_backend()
        })
        .await
        .or_backend()??;
        Ok(Self {
            writer,
            readers: Arc::new([]),
            next_reader: AtomicUsize::new(0),
            outbox_signal: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Runs the read `work` on a free reader, on the calling task; see the module docs.
    async fn read<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Db) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        if self.readers.is_empty() {
            return self.run(work).await;
        }
        for reader in self.readers.iter() {
            match reader.try_lock() {
                Ok(mut db) => return work(&mut db),
                // Safe to use for the reason given in `run`; a reader never writes.
                Err(TryLockError::Poisoned(poisoned)) => return work(&mut poisoned.into_inner()),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        let readers = Arc::clone(&self.readers);
        let index = self.next_reader.fetch_add(1, Ordering::Relaxed) % readers.len();
        tokio::task::spawn_blocking(move || {
            let mut db = readers[index]
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            work(&mut db)
        })
        .await
        .or_backend()?
    }

    /// Runs `work` on the writer thread, with the writing connection.
    async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Db) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (done, outcome) = tokio::sync::oneshot::channel();
        self.writer
            .send(Job::Run(Box::new(move |db| {
                // A caller that stopped waiting has nothing to be told.
                let _ = done.send(work(db));
            })))
            .map_err(|_| writer::gone())?;
        outcome.await.map_err(|_| writer::gone())?
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn ensure_index(
        &self,
        collection: &str,
        field: &str,
        unique: bool,
    ) -> Result<(), StoreError> {
        validate_name(collection)?;
        validate_name(field)?;
        let (collection, field) = (collection.to_owned(), field.to_owned());
        self.run(move |db| {
            let tx = db
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .or_backend()?;
            create_table(&tx, &collection)?;
            let table = table_name(&collection);
            let expr = field_expr(&field);
            let sql = if unique {
                format!(
                    "CREATE UNIQUE INDEX IF NOT EXISTS \"{}\" ON {table} ({expr})",
                    index_name("ux", &collection, &field)
                )
            } else {
                // Ending the key with the id serves the filter, the id order and the
                // cursor from the index alone, with no sort.
                format!(
                    "CREATE INDEX IF NOT EXISTS \"{}\" ON {table} ({expr}, id)",
                    index_name("ix", &collection, &field)
                )
            };
            tx.execute_batch(&sql)
                .map_err(|err| match unique_violation(&err) {
                    Some(_) => StoreError::Duplicate {
                        collection: collection.clone(),
                        field: field.clone(),
                    },
                    None => StoreError::backend(err),
                })?;
            tx.commit().or_backend()?;
            db.tables.insert(collection);
            Ok(())
        })
        .await
    }

    async fn get(&self, collection: &str, id: &str) -> Result<Option<Record>, StoreError> {
        validate_name(collection)?;
        let (collection, id) = (collection.to_owned(), id.to_owned());
        self.read(move |db| {
            if !db.table_exists(&collection)? {
                return Ok(None);
            }
            let sql = format!(
                "SELECT id, version, doc FROM {} WHERE id = ?",
                table_name(&collection)
            );
            let mut stmt = db.conn.prepare_cached(&sql).or_backend()?;
            let row = stmt.query_row([&id], raw_record).optional().or_backend()?;
            row.map(into_record).transpose()
        })
        .await
    }

    async fn find(&self, query: Query) -> Result<Page, StoreError> {
        validate_query(&query)?;
        self.read(move |db| {
            if !db.table_exists(&query.collection)? {
                return Ok(Page {
                    records: Vec::new(),
                    next: None,
                });
            }
            let limit = page_size(query.limit) as usize;
            let mut sql = format!(
                "SELECT id, version, doc FROM {} WHERE 1 = 1",
                table_name(&query.collection)
            );
            let mut args = Vec::new();
            for (field, value) in &query.filter {
                push_condition(&mut sql, &mut args, field, value);
            }
            if let Some(after) = &query.after {
                sql.push_str(" AND id > ?");
                args.push(SqlValue::Text(after.clone()));
            }
            // One record more than the page tells whether another page exists.
            sql.push_str(" ORDER BY id LIMIT ?");
            args.push(SqlValue::Integer(limit as i64 + 1));
            let mut stmt = db.conn.prepare_cached(&sql).or_backend()?;
            let rows = stmt
                .query_map(params_from_iter(args), raw_record)
                .or_backend()?;
            let mut records = Vec::with_capacity(limit + 1);
            for row in rows {
                records.push(into_record(row.or_backend()?)?);
            }
            let next = if records.len() > limit {
                records.truncate(limit);
                records.last().map(|r| r.id.clone())
            } else {
                None
            };
            Ok(Page { records, next })
        })
        .await
    }

    async fn commit(&self, tx: Transaction) -> Result<(), StoreError> {
        for write in tx.writes() {
            let (Write::Insert { collection, .. }
            | Write::Replace { collection, .. }
            | Write::Delete { collection, .. }) = write;
            validate_name(collection)?;
        }
        if tx.is_empty() {
            return Ok(());
        }
        let (writes, outbox) = tx.into_parts();
        let announces = !outbox.is_empty();
        let (done, outcome) = tokio::sync::oneshot::channel();
        self.writer
            .send(Job::Commit {
                writes,
                outbox,
                done,
            })
            .map_err(|_| writer::gone())?;
        outcome.await.map_err(|_| writer::gone())??;
        if announces {
            // `notify_one` keeps a permit when the relay is busy, so no commit is missed.
            self.outbox_signal.notify_one();
        }
        Ok(())
    }

    async fn outbox_pending(&self, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        // A reader sees every committed entry, and leaves the writer to the commits.
        self.read(move |db| {
            let mut stmt = db
                .conn
                .prepare_cached(
                    "SELECT id, subject, headers, payload, aggregate FROM sb_outbox
                     WHERE published_at IS NULL ORDER BY seq LIMIT ?",
                )
                .or_backend()?;
            let rows = stmt
                .query_map([i64::from(page_size(limit))], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get(1)?,
                        row.get::<_, String>(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                })
                .or_backend()?;
            let mut entries = Vec::new();
            for row in rows {
                let (id, subject, headers, payload, key) = row.or_backend()?;
                let headers = serde_json::from_str(&headers).or_backend()?;
                entries.push(OutboxEntry {
                    id,
                    subject,
                    key,
                    headers,
                    payload,
                });
            }
            Ok(entries)
        })
        .await
    }

    async fn outbox_mark_published(&self, ids: &[String]) -> Result<(), StoreError> {
        let ids = ids.to_vec();
        self.run(move |db| {
            let tx = db
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .or_backend()?;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "UPDATE sb_outbox SET published_at = ? WHERE id = ? AND published_at IS NULL",
                    )
                    .or_backend()?;
                let now = crate::wire::now_millis();
                for id in &ids {
                    stmt.execute(rusqlite::params![now, id]).or_backend()?;
                }
            }
            tx.commit().or_backend()
        })
        .await
    }

    async fn outbox_prune(&self, before: std::time::SystemTime) -> Result<u64, StoreError> {
        let before = i64::try_from(crate::wire::unix_millis(before)).unwrap_or(i64::MAX);
        self.run(move |db| {
            let deleted = db
                .conn
                .prepare_cached("DELETE FROM sb_outbox WHERE published_at < ?")
                .and_then(|mut stmt| stmt.execute([before]))
                .or_backend()?;
            Ok(deleted as u64)
        })
        .await
    }

    async fn delete_below(
        &self,
        collection: &str,
        field: &str,
        before: i64,
    ) -> Result<u64, StoreError> {
        validate_name(collection)?;
        validate_name(field)?;
        let (collection, field) = (collection.to_owned(), field.to_owned());
        self.run(move |db| {
            if !db.table_exists(&collection)? {
                return Ok(0);
            }
            let sql = format!(
                "DELETE FROM {} WHERE {} < ?",
                table_name(&collection),
                field_expr(&field)
            );
            let deleted = db
                .conn
                .prepare_cached(&sql)
                .and_then(|mut stmt| stmt.execute([before]))
                .or_backend()?;
            Ok(deleted as u64)
        })
        .await
    }

    fn outbox_signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(Arc::clone(&self.outbox_signal))
    }
}

impl Db {
    /// Sets up a new connection the way every connection of the store needs it.
    fn configure(conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT).or_backend()?;
        // With the query planner stability guarantee a cached statement keeps its plan
        // instead of being re-prepared whenever a bound value could change it: the
        // gateway benchmark measured `find` going from 15 µs to 4 µs, same plan.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .or_backend()?;
        Ok(Self {
            conn,
            tables: HashSet::new(),
        })
    }

    /// Whether the collection's table exists; a collection never written to has none.
    fn table_exists(&mut self, collection: &str) -> Result<bool, StoreError> {
        if self.tables.contains(collection) {
            return Ok(true);
        }
        let exists = self
            .conn
            .prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
            .and_then(|mut stmt| stmt.exists([table_ident(collection)]))
            .or_backend()?;
        if exists {
            self.tables.insert(collection.to_owned());
        }
        Ok(exists)
    }
}

/// Creates the outbox table and its indexes, adding the columns a file from an earlier
/// version lacks.
fn create_outbox(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(OUTBOX_SCHEMA).or_backend()?;
    let mut columns = HashSet::new();
    {
        let mut stmt = conn
            .prepare("SELECT name FROM pragma_table_info('sb_outbox')")
            .or_backend()?;
        let names = stmt
            .query_map([], |row| row.get::<_, String>(0))
            .or_backend()?;
        for name in names {
            columns.insert(name.or_backend()?);
        }
    }
    for (column, definition) in OUTBOX_ADDED_COLUMNS {
        if !columns.contains(column) {
            conn.execute_batch(&format!(
                "ALTER TABLE sb_outbox ADD COLUMN {column} {definition}"
            ))
            .or_backend()?;
        }
    }
    conn.execute_batch(OUTBOX_INDEXES).or_backend()
}

type RawRecord = (String, i64, String);

fn raw_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawRecord> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn into_record((id, version, doc): RawRecord) -> Result<Record, StoreError> {
    Ok(Record {
        id,
        version: u64::try_from(version).or_backend()?,
        doc: serde_json::from_str(&doc).or_backend()?,
    })
}

/// Turns any error from below (SQLite, I/O, JSON of our own tables, a lost blocking task)
/// into [`StoreError::Backend`], keeping it as the source.
trait OrBackend<T> {
    fn or_backend(self) -> Result<T, StoreError>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> OrBackend<T> for Result<T, E> {
    fn or_backend(self) -> Result<T, StoreError> {
        self.map_err(StoreError::backend)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[tokio::test]
    async fn filtered_queries_use_the_expression_index() {
        let store = SqliteStore::open_in_memory().await.expect("open");
        store
            .ensure_index("todos", "owner_id", false)
            .await
            .expect("index");
        let plan = store
            .run(|db| {
                let mut sql = format!(
                    "EXPLAIN QUERY PLAN SELECT id FROM {} WHERE 1 = 1",
                    table_name("todos")
                );
                let mut args = Vec::new();
                push_condition(&mut sql, &mut args, "owner_id", &Value::from("u1"));
                sql.push_str(" ORDER BY id");
                let mut stmt = db.conn.prepare(&sql).or_backend()?;
                let rows = stmt
                    .query_map(params_from_iter(args), |row| row.get::<_, String>(3))
                    .or_backend()?;
                rows.collect::<Result<Vec<_>, _>>().or_backend()
            })
            .await
            .expect("plan");
        let plan = plan.join("\n");
        assert!(
            plan.contains("USING INDEX ix:todos:owner__id"),
            "index not used:\n{plan}"
        );
        assert!(
            !plan.contains("TEMP B-TREE"),
            "results are sorted instead of read in index order:\n{plan}"
        );
    }
}
