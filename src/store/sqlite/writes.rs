//! How each write of a transaction becomes SQL, and how its failures become store errors.

use std::collections::HashSet;

use rusqlite::{Connection, params};

use super::sql::{Violation, table_name, unique_violation};
use super::{OUTBOX_COLLECTION, OrBackend};
use crate::store::{Document, OutboxEntry, StoreError, Write};

/// Applies one write inside an open transaction.
pub(super) fn apply(
    tx: &Connection,
    known: &HashSet<String>,
    created: &mut Vec<String>,
    write: &Write,
) -> Result<(), StoreError> {
    match write {
        Write::Insert {
            collection,
            id,
            doc,
        } => {
            ensure_table(tx, known, created, collection)?;
            let sql = format!(
                "INSERT INTO {} (id, version, doc) VALUES (?, 1, ?)",
                table_name(collection)
            );
            let text = doc_text(doc)?;
            tx.prepare_cached(&sql)
                .and_then(|mut stmt| stmt.execute(params![id, text]))
                .map_err(|err| match unique_violation(&err) {
                    Some(Violation::Id) => StoreError::AlreadyExists {
                        collection: collection.clone(),
                        id: id.clone(),
                    },
                    Some(Violation::Field(field)) => StoreError::Duplicate {
                        collection: collection.clone(),
                        field,
                    },
                    None => StoreError::backend(err),
                })?;
        }
        Write::Replace {
            collection,
            id,
            expected_version,
            doc,
        } => {
            ensure_table(tx, known, created, collection)?;
            let sql = format!(
                "UPDATE {} SET version = version + 1, doc = ? WHERE id = ? AND version = ?",
                table_name(collection)
            );
            let text = doc_text(doc)?;
            let changed = tx
                .prepare_cached(&sql)
                .and_then(|mut stmt| {
                    stmt.execute(params![text, id, version_param(*expected_version)])
                })
                .map_err(|err| match unique_violation(&err) {
                    Some(Violation::Field(field)) => StoreError::Duplicate {
                        collection: collection.clone(),
                        field,
                    },
                    _ => StoreError::backend(err),
                })?;
            if changed == 0 {
                return Err(missing_or_conflict(tx, collection, id)?);
            }
        }
        Write::Delete {
            collection,
            id,
            expected_version,
        } => {
            ensure_table(tx, known, created, collection)?;
            let table = table_name(collection);
            let changed = match expected_version {
                Some(version) => tx
                    .prepare_cached(&format!("DELETE FROM {table} WHERE id = ? AND version = ?"))
                    .and_then(|mut stmt| stmt.execute(params![id, version_param(*version)])),
                None => tx
                    .prepare_cached(&format!("DELETE FROM {table} WHERE id = ?"))
                    .and_then(|mut stmt| stmt.execute([id])),
            }
            .or_backend()?;
            if changed == 0 {
                return Err(missing_or_conflict(tx, collection, id)?);
            }
        }
    }
    Ok(())
}

/// After a versioned write changed nothing, tells whether the record is missing or at
/// another version.
fn missing_or_conflict(
    conn: &Connection,
    collection: &str,
    id: &str,
) -> Result<StoreError, StoreError> {
    let sql = format!("SELECT 1 FROM {} WHERE id = ?", table_name(collection));
    let exists = conn
        .prepare_cached(&sql)
        .and_then(|mut stmt| stmt.exists([id]))
        .or_backend()?;
    let (collection, id) = (collection.to_owned(), id.to_owned());
    Ok(if exists {
        StoreError::VersionConflict { collection, id }
    } else {
        StoreError::NotFound { collection, id }
    })
}

fn ensure_table(
    conn: &Connection,
    known: &HashSet<String>,
    created: &mut Vec<String>,
    collection: &str,
) -> Result<(), StoreError> {
    if !known.contains(collection) && !created.iter().any(|c| c == collection) {
        create_table(conn, collection)?;
        created.push(collection.to_owned());
    }
    Ok(())
}

pub(super) fn create_table(conn: &Connection, collection: &str) -> Result<(), StoreError> {
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {} (id TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL)",
        table_name(collection)
    );
    conn.execute_batch(&sql).or_backend()
}

pub(super) fn insert_outbox(conn: &Connection, entry: &OutboxEntry) -> Result<(), StoreError> {
    let headers = serde_json::to_string(&entry.headers).or_backend()?;
    conn.prepare_cached(
        "INSERT INTO sb_outbox (id, subject, headers, payload, aggregate) VALUES (?, ?, ?, ?, ?)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            entry.id,
            entry.subject,
            headers,
            entry.payload,
            entry.key
        ])
    })
    .map_err(|err| match unique_violation(&err) {
        Some(_) => StoreError::AlreadyExists {
            collection: OUTBOX_COLLECTION.to_owned(),
            id: entry.id.clone(),
        },
        None => StoreError::backend(err),
    })?;
    Ok(())
}

fn doc_text(doc: &Document) -> Result<String, StoreError> {
    serde_json::to_string(doc).map_err(StoreError::Encode)
}

/// Versions are stored as SQLite integers (i64). A larger expected version cannot match
/// any record, so it becomes -1, which no record has.
fn version_param(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(-1)
}
