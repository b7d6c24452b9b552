//! The conformance suite on MongoDB — SecantusDB started by the test binary, or the real
//! MongoDB replica set of `MONGODB_URI` — each test in a database of its own, dropped
//! afterwards; plus what only a database server brings: a deployment without transactions,
//! an unreachable or restarted server, and other processes' commits waking the relay.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use switchboard::store::{self, OutboxEntry, Query, Store, StoreError, Transaction};
use switchboard::testing::mongo::{MongoServer, TestDatabase};

/// How long a test waits for something a server does on its own (a restart, a change event).
const PATIENCE: Duration = Duration::from_secs(60);

async fn mongo_store() -> (Arc<dyn Store>, TestDatabase) {
    let database = TestDatabase::new("conformance");
    let store = store::open(database.url())
        .await
        .unwrap_or_else(|error| panic!("open the MongoDB store {}: {error:?}", database.url()));
    (store, database)
}

mod conformance {
    switchboard::store_conformance_tests!(super::mongo_store);
}

fn doc(value: serde_json::Value) -> store::Document {
    value.as_object().cloned().expect("an object")
}

#[tokio::test]
async fn a_standalone_server_is_refused_with_the_reason() {
    let server = MongoServer::start_with(&["--standalone"]);
    let err = store::open(&server.database_url("users"))
        .await
        .err()
        .expect("a standalone server cannot run transactions");
    let message = err.to_string();
    assert!(matches!(err, StoreError::UnsupportedUrl(_)), "got {err:?}");
    for needed in ["standalone", "replica set", "--replSet", "rs.initiate()"] {
        assert!(
            message.contains(needed),
            "{needed:?} missing from: {message}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_at_start() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let url = format!("mongodb://127.0.0.1:{port}/users?serverSelectionTimeoutMS=300");
    let err = store::open(&url).await.err().expect("nobody listens there");
    assert!(matches!(err, StoreError::Unavailable(_)), "got {err:?}");
    let cause = std::error::Error::source(&err)
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(
        cause.contains(&format!("127.0.0.1:{port}")),
        "the cause must name the address: {cause}"
    );
}

#[tokio::test]
async fn a_url_without_a_database_uses_the_services_name() {
    let base = switchboard::testing::mongo::shared_url();
    let err = store::open(&base).await.err().expect("no database named");
    assert!(
        err.to_string().contains("names no database"),
        "unclear message: {err}"
    );
    let database = TestDatabase::new("service");
    let store = store::open_for(database.name(), &base)
        .await
        .expect("open the service's database");
    store
        .commit(Transaction::new().insert("users", "u1", doc(json!({"email": "a@x"}))))
        .await
        .expect("commit");
    let same = store::open(database.url()).await.expect("open by URL path");
    let found = same.get("users", "u1").await.expect("get");
    assert!(
        found.is_some(),
        "the record lives in the database named after the service"
    );
}

/// While the server is down, operations fail as unavailable (nothing half written) and the
/// readiness check fails; when it is back, the same store serves again without a restart.
///
/// SecantusDB runs with `--sync-on-commit`: by default it acknowledges a commit before its
/// log reaches the disk, so a killed server loses the last writes. MongoDB's default write
/// concern on a replica set (majority, journaled) does not; the test follows MongoDB.
#[tokio::test]
async fn an_outage_is_unavailable_and_the_store_recovers() {
    let mut server = MongoServer::start_with(&["--sync-on-commit"]);
    let url = format!(
        "{}&serverSelectionTimeoutMS=500",
        server.database_url("outage")
    );
    let store = store::open(&url).await.expect("open");
    store
        .commit(Transaction::new().insert("items", "before", doc(json!({"n": 1}))))
        .await
        .expect("commit while up");
    store.check().await.expect("ready while up");

    server.kill();
    let during = Transaction::new()
        .insert("items", "during", doc(json!({"n": 2})))
        .publish(OutboxEntry::new("events.test.during", vec![2]));
    let err = store.commit(during).await.expect_err("the server is down");
    assert!(matches!(err, StoreError::Unavailable(_)), "got {err:?}");
    let err = store.get("items", "before").await.expect_err("down");
    assert!(matches!(err, StoreError::Unavailable(_)), "got {err:?}");
    assert!(store.check().await.is_err(), "not ready while down");

    server.start_again();
    let back = switchboard::testing::eventually(PATIENCE, || async {
        store.get("items", "before").await.ok().flatten()
    })
    .await;
    assert!(
        back.is_some(),
        "the store must serve again once the server is back"
    );
    store.check().await.expect("ready again");
    assert_eq!(store.get("items", "during").await.expect("get"), None);
    assert!(
        store.outbox_pending(10).await.expect("pending").is_empty(),
        "the failed commit left no outbox entry"
    );
}

/// A commit in another process (here: another store on the same database) wakes this
/// store's relay through the change stream, without waiting for a sweep.
#[tokio::test]
async fn another_processs_outbox_entry_wakes_the_relay() {
    let database = TestDatabase::new("wake");
    let relay_side = store::open(database.url()).await.expect("open");
    let writer_side = store::open(database.url()).await.expect("open again");
    let signal = relay_side
        .outbox_signal()
        .expect("MongoDB signals new entries");
    // The change stream opens in the background: commit until one wake-up arrives.
    let woken = switchboard::testing::eventually(PATIENCE, || {
        let signal = Arc::clone(&signal);
        let writer_side = Arc::clone(&writer_side);
        async move {
            let entry = OutboxEntry::new("events.test.wake", vec![1]);
            writer_side
                .commit(Transaction::new().publish(entry))
                .await
                .expect("commit");
            tokio::time::timeout(Duration::from_secs(2), signal.notified())
                .await
                .ok()
        }
    })
    .await;
    assert!(
        woken.is_some(),
        "the relay's signal must fire for another process's commit"
    );
    let pending = relay_side.outbox_pending(100).await.expect("pending");
    assert!(!pending.is_empty());
}

/// Queries use the index: a query on an indexed field reads only what it returns.
#[tokio::test]
async fn indexes_are_created_once_and_used() {
    let (store, database) = mongo_store().await;
    for _ in 0..2 {
        store
            .ensure_index("todos", "owner_id", false)
            .await
            .expect("ensure_index is idempotent");
    }
    let mut tx = Transaction::new();
    for n in 0..50 {
        tx = tx.insert(
            "todos",
            format!("t{n:02}"),
            doc(json!({"owner_id": format!("u{}", n % 5)})),
        );
    }
    store.commit(tx).await.expect("commit");
    let page = store
        .find(Query::all("todos").where_eq("owner_id", "u3"))
        .await
        .expect("find");
    assert_eq!(page.records.len(), 10);

    let client = mongodb::Client::with_uri_str(database.url())
        .await
        .expect("client");
    let explain = client
        .database(database.name())
        .run_command(mongodb::bson::doc! {
            // The filter the store sends for `where_eq("owner_id", "u3")`.
            "explain": { "find": "todos", "filter": { "doc.owner_id": "u3" } },
            "verbosity": "executionStats",
        })
        .await
        .expect("explain");
    let examined = explain
        .get_document("executionStats")
        .ok()
        .and_then(|stats| stats.get("totalDocsExamined").cloned());
    let examined = examined.and_then(|n| match n {
        mongodb::bson::Bson::Int32(n) => Some(i64::from(n)),
        mongodb::bson::Bson::Int64(n) => Some(n),
        _ => None,
    });
    assert_eq!(
        examined,
        Some(10),
        "the index must narrow the scan: {explain}"
    );
}
