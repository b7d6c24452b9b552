//! Properties of single records: insert, read, replace, delete, versions, and the typed wrapper.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{commit, doc, fail, get, pending};
use crate::store::{
    Collection, OutboxEntry, Query, Record, Store, StoreError, Transaction, to_document,
};

/// A record can be read back exactly as inserted, at version 1.
pub async fn insert_then_get(store: Arc<dyn Store>) {
    let doc = doc(
        json!({"title": "milk", "n": 3, "done": false, "tags": ["a", "b"], "at": {"x": 1.5}, "none": null}),
    );
    commit(
        &store,
        Transaction::new().insert("todos", "t1", doc.clone()),
    )
    .await;
    let got = get(&store, "todos", "t1")
        .await
        .expect("t1 should exist after its insert committed");
    assert_eq!(
        got,
        Record {
            id: "t1".into(),
            version: 1,
            doc
        },
        "a record must read back as inserted"
    );
    assert_eq!(
        get(&store, "todos", "t2").await,
        None,
        "an id never inserted must read as None"
    );
}

/// A collection never written to has no records and an outbox starts empty.
pub async fn missing_collection_reads_as_empty(store: Arc<dyn Store>) {
    assert_eq!(get(&store, "nothing_here", "x").await, None);
    let page = store
        .find(Query::all("nothing_here").where_eq("a", 1))
        .await
        .expect("find on a new collection");
    assert!(
        page.records.is_empty() && page.next.is_none(),
        "a new collection must read as empty: {page:?}"
    );
    assert!(
        pending(&store).await.is_empty(),
        "a new store must have an empty outbox"
    );
}

/// Inserting an id that exists fails with `AlreadyExists` and keeps the first record.
pub async fn insert_of_existing_id_fails(store: Arc<dyn Store>) {
    commit(
        &store,
        Transaction::new().insert("users", "u1", doc(json!({"name": "first"}))),
    )
    .await;
    let err = fail(
        &store,
        Transaction::new().insert("users", "u1", doc(json!({"name": "second"}))),
    )
    .await;
    assert!(
        matches!(&err, StoreError::AlreadyExists { collection, id } if collection == "users" && id == "u1"),
        "a second insert of u1 must fail with AlreadyExists, got {err:?}"
    );
    assert_eq!(
        get(&store, "users", "u1").await.map(|r| r.doc),
        Some(doc(json!({"name": "first"})))
    );
    // Ids are per collection.
    commit(
        &store,
        Transaction::new().insert("admins", "u1", doc(json!({}))),
    )
    .await;
}

/// Replace needs the current version, bumps it by one and leaves the record alone on a conflict.
pub async fn replace_checks_and_bumps_version(store: Arc<dyn Store>) {
    commit(
        &store,
        Transaction::new().insert("todos", "t1", doc(json!({"title": "a"}))),
    )
    .await;
    commit(
        &store,
        Transaction::new().replace("todos", "t1", 1, doc(json!({"title": "b"}))),
    )
    .await;
    let got = get(&store, "todos", "t1").await.expect("t1 exists");
    assert_eq!(
        (got.version, got.doc),
        (2, doc(json!({"title": "b"}))),
        "replace must store the doc at version 2"
    );

    let err = fail(
        &store,
        Transaction::new().replace("todos", "t1", 1, doc(json!({"title": "stale"}))),
    )
    .await;
    assert!(
        matches!(err, StoreError::VersionConflict { .. }),
        "a stale replace must conflict, got {err:?}"
    );
    let err = fail(
        &store,
        Transaction::new().replace("todos", "t1", u64::MAX, doc(json!({}))),
    )
    .await;
    assert!(
        matches!(err, StoreError::VersionConflict { .. }),
        "a future version must conflict, got {err:?}"
    );
    assert_eq!(
        get(&store, "todos", "t1").await.map(|r| r.version),
        Some(2),
        "a failed replace must change nothing"
    );
}

/// Replacing a record that does not exist fails with `NotFound`.
pub async fn replace_of_missing_record_is_not_found(store: Arc<dyn Store>) {
    let err = fail(
        &store,
        Transaction::new().replace("todos", "ghost", 1, doc(json!({}))),
    )
    .await;
    assert!(
        matches!(&err, StoreError::NotFound { collection, id } if collection == "todos" && id == "ghost"),
        "replacing a missing record must be NotFound, got {err:?}"
    );
}

/// Delete checks the version when given one and fails with `NotFound` when nothing is there.
pub async fn delete_checks_version(store: Arc<dyn Store>) {
    let tx = Transaction::new()
        .insert("todos", "t1", doc(json!({})))
        .insert("todos", "t2", doc(json!({})));
    commit(&store, tx).await;
    let err = fail(&store, Transaction::new().delete("todos", "t1", Some(5))).await;
    assert!(
        matches!(err, StoreError::VersionConflict { .. }),
        "deleting at a wrong version must conflict, got {err:?}"
    );
    assert!(
        get(&store, "todos", "t1").await.is_some(),
        "a failed delete must keep the record"
    );
    commit(&store, Transaction::new().delete("todos", "t1", Some(1))).await;
    commit(&store, Transaction::new().delete("todos", "t2", None)).await;
    assert_eq!(
        get(&store, "todos", "t1").await,
        None,
        "a deleted record must be gone"
    );
    let err = fail(&store, Transaction::new().delete("todos", "t1", None)).await;
    assert!(
        matches!(err, StoreError::NotFound { .. }),
        "deleting twice must be NotFound, got {err:?}"
    );
    commit(
        &store,
        Transaction::new().insert("todos", "t1", doc(json!({}))),
    )
    .await;
    assert_eq!(
        get(&store, "todos", "t1").await.map(|r| r.version),
        Some(1),
        "a re-inserted id starts at version 1"
    );
}

/// Writes apply in order and each sees the ones before it.
pub async fn writes_in_one_transaction_see_each_other(store: Arc<dyn Store>) {
    let tx = Transaction::new()
        .insert("todos", "t1", doc(json!({"step": 1})))
        .replace("todos", "t1", 1, doc(json!({"step": 2})))
        .insert("todos", "t2", doc(json!({})))
        .delete("todos", "t2", Some(1));
    commit(&store, tx).await;
    let got = get(&store, "todos", "t1").await.expect("t1 exists");
    assert_eq!((got.version, got.doc), (2, doc(json!({"step": 2}))));
    assert_eq!(get(&store, "todos", "t2").await, None);
}

/// Committing an empty transaction succeeds and changes nothing.
pub async fn empty_commit_is_ok(store: Arc<dyn Store>) {
    commit(&store, Transaction::new()).await;
    assert!(pending(&store).await.is_empty());
}

/// Two writers replacing the same version at once: exactly one wins.
pub async fn concurrent_replaces_have_one_winner(store: Arc<dyn Store>) {
    commit(
        &store,
        Transaction::new().insert("seats", "s1", doc(json!({"holder": null}))),
    )
    .await;
    let claim = |who: &str| {
        store.commit(Transaction::new().replace("seats", "s1", 1, doc(json!({"holder": who}))))
    };
    let (a, b) = tokio::join!(claim("alice"), claim("bob"));
    let conflicts = [&a, &b]
        .iter()
        .filter(|r| matches!(r, Err(StoreError::VersionConflict { .. })))
        .count();
    assert!(
        a.is_ok() != b.is_ok() && conflicts == 1,
        "exactly one claim must win: {a:?} / {b:?}"
    );
    let seat = get(&store, "seats", "s1").await.expect("s1 exists");
    let winner = if a.is_ok() { "alice" } else { "bob" };
    assert_eq!(
        (seat.version, seat.doc),
        (2, doc(json!({"holder": winner})))
    );
}

/// Many transactions committed at once, some of them failing, each get their own outcome:
/// a failing one leaves no write and no outbox entry, and takes no other down with it.
pub async fn concurrent_commits_fail_alone(store: Arc<dyn Store>) {
    commit(
        &store,
        Transaction::new().insert("tickets", "taken", doc(json!({}))),
    )
    .await;
    let attempts = (0..40).map(|n| {
        let store = Arc::clone(&store);
        async move {
            // Every third transaction also inserts the taken id, so it must fail whole.
            let mut tx = Transaction::new()
                .insert("tickets", format!("t{n}"), doc(json!({ "n": n })))
                .publish(OutboxEntry::new("events.test.ticket", vec![n]));
            if n % 3 == 0 {
                tx = tx.insert("tickets", "taken", doc(json!({})));
            }
            (n, store.commit(tx).await)
        }
    });
    let outcomes = futures::future::join_all(attempts).await;
    for (n, outcome) in &outcomes {
        let stored = get(&store, "tickets", &format!("t{n}")).await.is_some();
        if n % 3 == 0 {
            assert!(
                matches!(outcome, Err(StoreError::AlreadyExists { .. })),
                "transaction {n} must fail on the taken id, got {outcome:?}"
            );
            assert!(!stored, "the failed transaction {n} must leave no write");
        } else {
            assert!(outcome.is_ok(), "transaction {n} must commit: {outcome:?}");
            assert!(stored, "the committed transaction {n} must be stored");
        }
    }
    let announced: BTreeSet<u8> = pending(&store)
        .await
        .iter()
        .map(|entry| entry.payload[0])
        .collect();
    let committed: BTreeSet<u8> = (0..40).filter(|n| n % 3 != 0).collect();
    assert_eq!(
        announced, committed,
        "exactly the committed transactions' outbox entries must be stored"
    );
}

/// `delete_below` removes exactly the records whose number field is below the bound.
pub async fn delete_below_removes_only_what_is_below(store: Arc<dyn Store>) {
    assert_eq!(
        store
            .delete_below("never_written", "at", 10)
            .await
            .expect("delete_below on a missing collection"),
        0
    );
    let tx = Transaction::new()
        .insert("marks", "old", doc(json!({"at": 1})))
        .insert("marks", "older", doc(json!({"at": -3})))
        .insert("marks", "edge", doc(json!({"at": 5})))
        .insert("marks", "new", doc(json!({"at": 9})))
        .insert("marks", "text", doc(json!({"at": "1"})))
        .insert("marks", "none", doc(json!({})));
    commit(&store, tx).await;
    let deleted = store
        .delete_below("marks", "at", 5)
        .await
        .expect("delete_below");
    assert_eq!(deleted, 2, "only `old` and `older` are below 5");
    for (id, kept) in [
        ("old", false),
        ("older", false),
        ("edge", true),
        ("new", true),
        ("text", true),
        ("none", true),
    ] {
        assert_eq!(
            get(&store, "marks", id).await.is_some(),
            kept,
            "record {id} kept: {kept}"
        );
    }
}

/// The typed [`Collection`] writes and reads structs and reports documents it cannot decode.
pub async fn typed_collection_round_trips(store: Arc<dyn Store>) {
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Todo {
        owner_id: String,
        title: String,
        done: bool,
    }
    let todos = Collection::<Todo>::new(Arc::clone(&store), "todos");
    let milk = Todo {
        owner_id: "u1".into(),
        title: "milk".into(),
        done: false,
    };
    let tx = todos
        .insert(Transaction::new(), "t1", &milk)
        .expect("encode");
    let tx = todos
        .insert(
            tx,
            "t2",
            &Todo {
                owner_id: "u2".into(),
                ..milk.clone()
            },
        )
        .expect("encode");
    commit(&store, tx).await;
    let got = todos.get("t1").await.expect("get").expect("t1 exists");
    assert_eq!((got.id.as_str(), got.version, &got.value), ("t1", 1, &milk));

    let done = Todo {
        done: true,
        ..milk.clone()
    };
    commit(
        &store,
        todos
            .replace(Transaction::new(), "t1", got.version, &done)
            .expect("encode"),
    )
    .await;
    let page = todos
        .find(todos.query().where_eq("owner_id", "u1"))
        .await
        .expect("find");
    let found: Vec<_> = page
        .records
        .iter()
        .map(|v| (v.id.as_str(), v.version, &v.value))
        .collect();
    assert_eq!(found, [("t1", 2, &done)]);

    commit(&store, todos.delete(Transaction::new(), "t2", Some(1))).await;
    commit(
        &store,
        Transaction::new().insert("todos", "bad", doc(json!({"title": 5}))),
    )
    .await;
    let err = todos
        .get("bad")
        .await
        .expect_err("a document of another shape must not decode");
    assert!(
        matches!(&err, StoreError::Decode { id, .. } if id == "bad"),
        "got {err:?}"
    );
    assert!(
        matches!(to_document(&5), Err(StoreError::NotADocument)),
        "a number is not a document"
    );
}
