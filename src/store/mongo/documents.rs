//! The MongoDB documents each store operation sends, and the errors it maps back: pure
//! functions, so the exact filters, updates and index specifications are unit-tested without
//! a server.
//!
//! A record is stored as `{ _id: <id>, v: <version>, doc: { ... } }`. The document is nested
//! so that no field name of a service's document is reserved, and a filter on field `f` is a
//! filter on `doc.f`.

use mongodb::bson::{Bson, Document as BsonDocument, doc};
use mongodb::error::{Error as DriverError, ErrorKind, WriteFailure};
use serde_json::{Map, Number, Value};

use crate::store::{Document, OutboxEntry, Query, Record, StoreError};

/// MongoDB's code for a duplicate key in a unique index (the `_id` index included).
pub(super) const DUPLICATE_KEY: i32 = 11000;

/// The prefix of the name of every plain index the store creates on a document field; what
/// follows is the field.
pub(super) const INDEX_PREFIX: &str = "sb_doc_";

/// The prefix of the name of every unique index; what follows is the field, so a
/// duplicate-key error names the field back.
pub(super) const UNIQUE_INDEX_PREFIX: &str = "sb_unique_";

/// The record `{_id, v, doc}` as stored.
pub(super) fn record_document(
    id: &str,
    version: u64,
    doc: &Document,
) -> Result<BsonDocument, StoreError> {
    Ok(doc! {
        "_id": id,
        "v": version_bson(version)?,
        "doc": object_to_bson(doc)?,
    })
}

/// The filter that selects record `id`, at `version` when one is given: a replace or delete
/// with a stale version matches nothing, so the server, not a read before the write, decides
/// the conflict.
pub(super) fn record_filter(id: &str, version: Option<u64>) -> Result<BsonDocument, StoreError> {
    let mut filter = doc! { "_id": id };
    if let Some(version) = version {
        filter.insert("v", version_bson(version)?);
    }
    Ok(filter)
}

/// The filter of a [`Query`]: each condition is an equality on `doc.<field>`, which an index
/// on the field serves; `after` is the exclusive id cursor.
///
/// MongoDB's equality also matches an array that holds the value, which no other store does:
/// [`is_match`] drops such records after the read. (A `$not: {$type: "array"}` condition
/// would say the same in the filter, but not every planner keeps the index then.)
pub(super) fn query_filter(query: &Query) -> Result<BsonDocument, StoreError> {
    let mut filter = BsonDocument::new();
    for (field, value) in &query.filter {
        filter.insert(format!("doc.{field}"), json_to_bson(value)?);
    }
    if let Some(after) = &query.after {
        filter.insert("_id", doc! { "$gt": after.as_str() });
    }
    Ok(filter)
}

/// Whether a record the filter returned really matches: none of the filtered fields is an
/// array (see [`query_filter`]).
pub(super) fn is_match(query: &Query, record: &Record) -> bool {
    query
        .filter
        .iter()
        .all(|(field, _)| !record.doc.get(field).is_some_and(Value::is_array))
}

/// The filter of [`Store::delete_below`](crate::store::Store::delete_below): numbers below
/// `before` (a comparison with a number matches only numbers, so records without the field,
/// or with another type in it, are kept).
pub(super) fn below_filter(field: &str, before: i64) -> BsonDocument {
    doc! { format!("doc.{field}"): { "$lt": before } }
}

/// The name of the (unique) index on `field`: what [`duplicate_field`] reads back.
pub(super) fn index_name(field: &str, unique: bool) -> String {
    let prefix = if unique {
        UNIQUE_INDEX_PREFIX
    } else {
        INDEX_PREFIX
    };
    format!("{prefix}{field}")
}

/// The keys and options of the index on `field`. A unique index is partial, over the
/// records that have the field, so any number of records may lack it (as in SQLite, where a
/// missing field is NULL and NULLs never collide).
pub(super) fn index_model(field: &str, unique: bool) -> mongodb::IndexModel {
    let path = format!("doc.{field}");
    let mut options = mongodb::options::IndexOptions::builder()
        .name(index_name(field, unique))
        .build();
    if unique {
        options.unique = Some(true);
        options.partial_filter_expression = Some(doc! { path.clone(): { "$exists": true } });
    }
    mongodb::IndexModel::builder()
        .keys(doc! { path: 1 })
        .options(options)
        .build()
}

/// A stored record read back; anything else in the collection (a document this store did not
/// write) is a backend error naming the id.
pub(super) fn record_from(collection: &str, stored: BsonDocument) -> Result<Record, StoreError> {
    let malformed = |id: &str, what: &str| {
        StoreError::backend(format!(
            "document {id:?} in collection {collection:?} is not a Switchboard record: {what}"
        ))
    };
    let id = match stored.get("_id") {
        Some(Bson::String(id)) => id.clone(),
        other => return Err(malformed(&format!("{other:?}"), "its _id is not a string")),
    };
    let version = match stored.get("v") {
        Some(Bson::Int64(v)) => u64::try_from(*v).ok(),
        Some(Bson::Int32(v)) => u64::try_from(*v).ok(),
        _ => None,
    }
    .ok_or_else(|| malformed(&id, "no positive version `v`"))?;
    let doc = match stored.get("doc") {
        Some(Bson::Document(doc)) => bson_to_object(doc.clone()),
        _ => return Err(malformed(&id, "no `doc` object")),
    };
    Ok(Record { id, version, doc })
}

/// An outbox entry as stored in the outbox collection, pending, at time `at` (microseconds;
/// pending entries are published in `at` order).
pub(super) fn outbox_document(entry: &OutboxEntry, at: i64) -> BsonDocument {
    let headers: Vec<Bson> = entry
        .headers
        .iter()
        .map(|(name, value)| Bson::Array(vec![name.as_str().into(), value.as_str().into()]))
        .collect();
    doc! {
        "_id": entry.id.as_str(),
        "at": at,
        "subject": entry.subject.as_str(),
        "key": entry.key.as_str(),
        "headers": headers,
        "payload": mongodb::bson::Binary {
            subtype: mongodb::bson::spec::BinarySubtype::Generic,
            bytes: entry.payload.clone(),
        },
        "published": false,
    }
}

/// An outbox entry read back from its stored document.
pub(super) fn outbox_entry_from(stored: &BsonDocument) -> Result<OutboxEntry, StoreError> {
    let malformed = |what: &str| StoreError::backend(format!("an outbox entry {what}"));
    let text = |field: &str| {
        stored
            .get_str(field)
            .map(str::to_owned)
            .map_err(|_| malformed(&format!("has no string {field:?}")))
    };
    let headers = stored
        .get_array("headers")
        .map_err(|_| malformed("has no headers array"))?
        .iter()
        .map(|pair| match pair {
            Bson::Array(pair) => match pair.as_slice() {
                [Bson::String(name), Bson::String(value)] => Ok((name.clone(), value.clone())),
                _ => Err(malformed("has a header that is not a [name, value] pair")),
            },
            _ => Err(malformed("has a header that is not a [name, value] pair")),
        })
        .collect::<Result<_, _>>()?;
    let payload = stored
        .get_binary_generic("payload")
        .map_err(|_| malformed("has no binary payload"))?
        .clone();
    Ok(OutboxEntry {
        id: text("_id")?,
        subject: text("subject")?,
        key: text("key")?,
        headers,
        payload,
    })
}

/// A version as BSON: versions are counted in `i64` on the server.
fn version_bson(version: u64) -> Result<Bson, StoreError> {
    i64::try_from(version)
        .map(Bson::Int64)
        .map_err(|_| StoreError::backend(format!("version {version} exceeds MongoDB's int64")))
}

/// A JSON object as a BSON document, field order kept.
pub(super) fn object_to_bson(object: &Document) -> Result<BsonDocument, StoreError> {
    object
        .iter()
        .map(|(name, value)| Ok((name.clone(), json_to_bson(value)?)))
        .collect()
}

/// A JSON value as BSON: integers as int64, other numbers as double. An integer above
/// `i64::MAX` has no exact BSON form and is refused rather than rounded.
pub(super) fn json_to_bson(value: &Value) -> Result<Bson, StoreError> {
    Ok(match value {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Bson::Int64(i)
            } else if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                Bson::Double(f)
            } else {
                return Err(StoreError::backend(format!(
                    "the integer {n} is above 2^63 - 1, the largest MongoDB stores exactly"
                )));
            }
        }
        Value::String(s) => Bson::String(s.clone()),
        Value::Array(items) => {
            Bson::Array(items.iter().map(json_to_bson).collect::<Result<_, _>>()?)
        }
        Value::Object(object) => Bson::Document(object_to_bson(object)?),
    })
}

/// A BSON document as a JSON object.
pub(super) fn bson_to_object(document: BsonDocument) -> Map<String, Value> {
    document
        .into_iter()
        .map(|(name, value)| (name, bson_to_json(value)))
        .collect()
}

/// BSON as JSON: the types [`json_to_bson`] writes come back as they went in; any other
/// type (written by another tool) as MongoDB's relaxed extended JSON.
pub(super) fn bson_to_json(value: Bson) -> Value {
    match value {
        Bson::Null => Value::Null,
        Bson::Boolean(b) => Value::Bool(b),
        Bson::Int32(i) => Value::from(i),
        Bson::Int64(i) => Value::from(i),
        Bson::Double(f) => Number::from_f64(f)
            .map_or_else(|| Bson::Double(f).into_relaxed_extjson(), Value::Number),
        Bson::String(s) => Value::String(s),
        Bson::Array(items) => Value::Array(items.into_iter().map(bson_to_json).collect()),
        Bson::Document(document) => Value::Object(bson_to_object(document)),
        other => other.into_relaxed_extjson(),
    }
}

/// What a failed write means in the store's terms, given the collection and the id it
/// wrote: a duplicate `_id` is [`StoreError::AlreadyExists`], a duplicate in one of the
/// store's field indexes [`StoreError::Duplicate`] naming the field; anything else is
/// classified by [`classify`].
pub(super) fn write_error(error: DriverError, collection: &str, id: &str) -> StoreError {
    let duplicate = server_failure(&error)
        .filter(|(code, _)| *code == DUPLICATE_KEY)
        .map(|(_, message)| duplicate_field(message));
    match duplicate {
        Some(Some(field)) => StoreError::Duplicate {
            collection: collection.to_owned(),
            field,
        },
        Some(None) => StoreError::AlreadyExists {
            collection: collection.to_owned(),
            id: id.to_owned(),
        },
        None => classify(error),
    }
}

/// The field of a duplicate-key message (`E11000 duplicate key error collection: db.users
/// index: sb_unique_email dup key: { ... }`), when the index is one of the store's field
/// indexes; `None` when it is the `_id` index.
pub(super) fn duplicate_field(message: &str) -> Option<String> {
    let (_, after) = message.split_once("index: ")?;
    let index = after.split_whitespace().next()?;
    index.strip_prefix(UNIQUE_INDEX_PREFIX).map(str::to_owned)
}

/// MongoDB's code for two transactions writing the same document: the later one is aborted
/// (with the `TransientTransactionError` label) and may be retried whole.
pub(super) const WRITE_CONFLICT: i32 = 112;

/// The server's error code and message, when the server answered with one.
fn server_failure(error: &DriverError) -> Option<(i32, &str)> {
    match &*error.kind {
        ErrorKind::Write(WriteFailure::WriteError(failure)) => {
            Some((failure.code, failure.message.as_str()))
        }
        ErrorKind::Command(failure) => Some((failure.code, failure.message.as_str())),
        _ => None,
    }
}

/// The server's error code, when the server answered with one.
pub(super) fn server_code(error: &DriverError) -> Option<i32> {
    server_failure(error).map(|(code, _)| code)
}

/// Any other driver error: [`StoreError::WriteConflict`] for a write conflict the retries
/// did not get past, [`StoreError::Unavailable`] when the database cannot be reached (no
/// server selected in time, a network error, a closed pool) and may be again later,
/// [`StoreError::Backend`] for the rest.
pub(super) fn classify(error: DriverError) -> StoreError {
    if server_code(&error) == Some(WRITE_CONFLICT) {
        return StoreError::WriteConflict(Box::new(error));
    }
    let unreachable = matches!(
        &*error.kind,
        ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. }
            | ErrorKind::DnsResolve { .. }
    ) || error.contains_label("NetworkError")
        || error.contains_label("RetryableWriteError");
    if unreachable {
        StoreError::Unavailable(Box::new(error))
    } else {
        StoreError::backend(error)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Document {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn a_record_nests_its_document_beside_id_and_version() {
        let stored =
            record_document("u1", 3, &object(json!({"email": "a@x", "n": 1}))).expect("encodes");
        assert_eq!(
            stored,
            doc! { "_id": "u1", "v": 3_i64, "doc": { "email": "a@x", "n": 1_i64 } }
        );
        let back = record_from("users", stored).expect("decodes");
        assert_eq!(
            back,
            Record {
                id: "u1".to_owned(),
                version: 3,
                doc: object(json!({"email": "a@x", "n": 1})),
            }
        );
    }

    #[test]
    fn versioned_writes_filter_on_the_version() {
        assert_eq!(
            record_filter("u1", Some(4)).expect("filter"),
            doc! { "_id": "u1", "v": 4_i64 }
        );
        assert_eq!(
            record_filter("u1", None).expect("filter"),
            doc! { "_id": "u1" }
        );
    }

    #[test]
    fn queries_compare_nested_fields_and_exclude_arrays() {
        let query = Query::all("todos")
            .where_eq("owner", "u1")
            .where_eq("done", false)
            .where_eq("note", Value::Null)
            .after(Some("t9".to_owned()));
        assert_eq!(
            query_filter(&query).expect("filter"),
            doc! {
                "doc.owner": "u1",
                "doc.done": false,
                "doc.note": Bson::Null,
                "_id": { "$gt": "t9" },
            }
        );
        let record = |doc: Value| Record {
            id: "t1".to_owned(),
            version: 1,
            doc: object(doc),
        };
        assert!(is_match(
            &query,
            &record(json!({"owner": "u1", "done": false}))
        ));
        assert!(!is_match(
            &query,
            &record(json!({"owner": ["u1"], "done": false}))
        ));
        assert!(!is_match(
            &query,
            &record(json!({"owner": "u1", "note": [null]}))
        ));
        assert!(is_match(
            &Query::all("todos"),
            &record(json!({"owner": ["u1"]}))
        ));
        assert_eq!(below_filter("at", 10), doc! { "doc.at": { "$lt": 10_i64 } });
    }

    #[test]
    fn unique_indexes_are_partial_and_named_after_their_field() {
        let unique = index_model("email", true);
        assert_eq!(unique.keys, doc! { "doc.email": 1 });
        let options = unique.options.expect("options");
        assert_eq!(options.name.as_deref(), Some("sb_unique_email"));
        assert_eq!(options.unique, Some(true));
        assert_eq!(
            options.partial_filter_expression,
            Some(doc! { "doc.email": { "$exists": true } })
        );
        let plain = index_model("owner_id", false).options.expect("options");
        assert_eq!(
            (
                plain.name.as_deref(),
                plain.unique,
                plain.partial_filter_expression
            ),
            (Some("sb_doc_owner_id"), None, None)
        );
    }

    #[test]
    fn json_round_trips_through_bson() {
        let value = json!({
            "s": "x", "i": -7, "big": 9_007_199_254_740_993_i64, "f": 2.5, "whole": 2.0,
            "b": true, "n": null, "list": [1, "two", {"three": [3.5]}],
            "$odd.key": {"$oid": "not interpreted"},
        });
        let bson = json_to_bson(&value).expect("encodes");
        assert_eq!(bson_to_json(bson), value);
        let too_big = json!(u64::MAX);
        assert!(matches!(
            json_to_bson(&too_big),
            Err(StoreError::Backend(_))
        ));
    }

    #[test]
    fn foreign_types_read_as_extended_json() {
        let stored = doc! { "at": mongodb::bson::DateTime::from_millis(0) };
        assert_eq!(
            Value::Object(bson_to_object(stored)),
            json!({"at": {"$date": "1970-01-01T00:00:00Z"}})
        );
    }

    #[test]
    fn outbox_entries_round_trip() {
        let entry = OutboxEntry::new("events.users.user_deleted", vec![0, 1, 255])
            .key("u1")
            .header("Sb-Message-Id", "m1")
            .header("traceparent", "00-x");
        let stored = outbox_document(&entry, 42);
        assert_eq!(stored.get_i64("at").ok(), Some(42));
        assert_eq!(stored.get_bool("published").ok(), Some(false));
        assert_eq!(outbox_entry_from(&stored).expect("decodes"), entry);
    }

    #[test]
    fn duplicate_key_messages_name_the_field() {
        let message = r#"E11000 duplicate key error collection: users.users index: sb_unique_email dup key: { doc.email: "a@x" }"#;
        assert_eq!(duplicate_field(message).as_deref(), Some("email"));
        let on_id = r#"E11000 duplicate key error collection: users.users index: _id_ dup key: { _id: "u1" }"#;
        assert_eq!(duplicate_field(on_id), None);
        assert_eq!(duplicate_field("E11000 something else"), None);
    }

    #[test]
    fn duplicate_keys_become_store_errors() {
        let duplicate = |message: &str| {
            let failure =
                mongodb::bson::from_document(doc! { "code": DUPLICATE_KEY, "errmsg": message })
                    .expect("a write error");
            DriverError::from(ErrorKind::Write(WriteFailure::WriteError(failure)))
        };
        let on_field = duplicate(
            "E11000 duplicate key error collection: d.users index: sb_unique_email dup key",
        );
        assert!(matches!(
            write_error(on_field, "users", "u2"),
            StoreError::Duplicate { collection, field } if collection == "users" && field == "email"
        ));
        let on_id = duplicate("E11000 duplicate key error collection: d.users index: _id_ dup key");
        assert!(matches!(
            write_error(on_id, "users", "u2"),
            StoreError::AlreadyExists { collection, id } if collection == "users" && id == "u2"
        ));
    }

    #[test]
    fn write_conflicts_and_lost_connections_are_classified() {
        let conflict: mongodb::error::CommandError = mongodb::bson::from_document(
            doc! { "code": WRITE_CONFLICT, "codeName": "WriteConflict", "errmsg": "conflict" },
        )
        .expect("a command error");
        let conflict = DriverError::from(ErrorKind::Command(conflict));
        assert!(matches!(
            write_error(conflict, "seats", "s1"),
            StoreError::WriteConflict(_)
        ));
        // No server selected in time: tests/store/mongo.rs meets a real one (the driver
        // builds that error only itself).
        let io = DriverError::from(ErrorKind::Io(std::sync::Arc::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        ))));
        assert!(matches!(classify(io), StoreError::Unavailable(_)));
        let other = DriverError::custom("a bug");
        assert!(matches!(classify(other), StoreError::Backend(_)));
    }
}
