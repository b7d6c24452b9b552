//! Properties of atomic commits and of the outbox written with them.

use std::sync::Arc;

use serde_json::json;

use super::{commit, doc, fail, get, pending};
use crate::store::{OutboxEntry, Store, StoreError, Transaction};

/// A transaction with one failing write leaves no trace: no record, no outbox entry.
pub async fn failed_commit_leaves_no_trace(store: Arc<dyn Store>) {
    commit(
        &store,
        Transaction::new().insert("users", "u1", doc(json!({"name": "a"}))),
    )
    .await;
    let tx = Transaction::new()
        .insert("users", "u2", doc(json!({"name": "b"})))
        .replace("users", "u1", 1, doc(json!({"name": "changed"})))
        .publish(OutboxEntry::new("events.users.created", b"u2".to_vec()))
        .replace("users", "u1", 1, doc(json!({"name": "stale"})));
    let err = fail(&store, tx).await;
    assert!(
        matches!(err, StoreError::VersionConflict { .. }),
        "the second replace must conflict, got {err:?}"
    );
    assert_eq!(
        get(&store, "users", "u2").await,
        None,
        "the insert of a failed transaction must be rolled back"
    );
    let u1 = get(&store, "users", "u1").await.expect("u1 exists");
    assert_eq!(
        (u1.version, u1.doc),
        (1, doc(json!({"name": "a"}))),
        "the replace of a failed transaction must be rolled back"
    );
    assert!(
        pending(&store).await.is_empty(),
        "the outbox entry of a failed transaction must be rolled back"
    );
    let err = fail(
        &store,
        Transaction::new()
            .insert("fresh", "f1", doc(json!({})))
            .delete("fresh", "nope", None),
    )
    .await;
    assert!(matches!(err, StoreError::NotFound { .. }), "got {err:?}");
    assert_eq!(
        get(&store, "fresh", "f1").await,
        None,
        "a failed first write to a collection must leave it empty"
    );
}

/// A record and the outbox entry announcing it are committed together, and the entry
/// reads back intact.
pub async fn records_and_outbox_commit_together(store: Arc<dyn Store>) {
    let entry = OutboxEntry::new("events.users.created", (0..=255).collect::<Vec<u8>>())
        .key("u1")
        .header("Sb-Sender", "users")
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        );
    commit(
        &store,
        Transaction::new()
            .insert("users", "u1", doc(json!({})))
            .publish(entry.clone()),
    )
    .await;
    assert!(
        get(&store, "users", "u1").await.is_some(),
        "the record must be stored"
    );
    assert_eq!(
        pending(&store).await,
        vec![entry],
        "the outbox entry must be stored with the record, byte for byte"
    );
}

/// Pending entries come out in commit order until marked published.
pub async fn outbox_keeps_commit_order_until_published(store: Arc<dyn Store>) {
    let entries: Vec<OutboxEntry> = (0..4)
        .map(|i| OutboxEntry::new("events.test.step", vec![i]))
        .collect();
    commit(&store, Transaction::new().publish(entries[0].clone())).await;
    commit(
        &store,
        Transaction::new()
            .publish(entries[1].clone())
            .publish(entries[2].clone()),
    )
    .await;
    commit(&store, Transaction::new().publish(entries[3].clone())).await;
    assert_eq!(
        pending(&store).await,
        entries,
        "pending entries must come out in commit order"
    );
    let first_two = store.outbox_pending(2).await.expect("outbox_pending");
    assert_eq!(
        first_two,
        entries[..2],
        "the limit must cut the oldest entries"
    );

    let err = fail(&store, Transaction::new().publish(entries[3].clone())).await;
    assert!(
        matches!(err, StoreError::AlreadyExists { .. }),
        "a pending entry id must not be stored twice, got {err:?}"
    );

    let ids = vec![
        entries[0].id.clone(),
        entries[1].id.clone(),
        "unknown".to_owned(),
    ];
    store
        .outbox_mark_published(&ids)
        .await
        .expect("marking published, unknown ids included");
    store
        .outbox_mark_published(&ids)
        .await
        .expect("marking published again must be harmless");
    assert_eq!(
        pending(&store).await,
        entries[2..],
        "published entries must no longer be pending"
    );
    let rest: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
    store
        .outbox_mark_published(&rest)
        .await
        .expect("mark published");
    assert!(pending(&store).await.is_empty());
}

/// Published entries stay (their ids taken) until pruned; pruning never takes a pending one.
pub async fn published_entries_are_kept_until_pruned(store: Arc<dyn Store>) {
    let published = OutboxEntry::new("events.test.done", vec![1]);
    let pending_entry = OutboxEntry::new("events.test.waiting", vec![2]);
    commit(
        &store,
        Transaction::new()
            .publish(published.clone())
            .publish(pending_entry.clone()),
    )
    .await;
    store
        .outbox_mark_published(std::slice::from_ref(&published.id))
        .await
        .expect("mark published");
    let err = fail(&store, Transaction::new().publish(published.clone())).await;
    assert!(
        matches!(err, StoreError::AlreadyExists { .. }),
        "a published entry's id must stay taken until pruned, got {err:?}"
    );
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    assert_eq!(
        store.outbox_prune(past).await.expect("prune"),
        0,
        "an entry published now is younger than an hour"
    );
    let future = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    assert_eq!(
        store.outbox_prune(future).await.expect("prune"),
        1,
        "only the published entry is pruned"
    );
    assert_eq!(
        pending(&store).await,
        vec![pending_entry],
        "a pending entry must survive any prune"
    );
    commit(&store, Transaction::new().publish(published)).await;
}

/// Writers racing on one record publish in the order their commits won: each round reads
/// the counter, replaces it at the version read and announces the new value, retrying on a
/// conflict, so the outbox must hold 1, 2, … in that order (what a relay relies on to publish
/// one aggregate's events in order).
pub async fn outbox_follows_commit_order_under_contention(store: Arc<dyn Store>) {
    const WRITERS: u64 = 8;
    const ROUNDS: u64 = 5;
    commit(
        &store,
        Transaction::new().insert("counters", "c", doc(json!({"n": 0}))),
    )
    .await;
    let writer = |store: Arc<dyn Store>| async move {
        for _ in 0..ROUNDS {
            loop {
                let current = get(&store, "counters", "c").await.expect("c exists");
                let next = current.doc["n"].as_u64().expect("n is a number") + 1;
                let tx = Transaction::new()
                    .replace("counters", "c", current.version, doc(json!({"n": next})))
                    .publish(
                        OutboxEntry::new("events.test.counted", next.to_be_bytes().to_vec())
                            .key("c"),
                    );
                match store.commit(tx).await {
                    Ok(()) => break,
                    Err(StoreError::VersionConflict { .. }) => continue,
                    Err(other) => panic!("a racing commit failed with {other:?}"),
                }
            }
        }
    };
    futures::future::join_all((0..WRITERS).map(|_| writer(Arc::clone(&store)))).await;
    let announced: Vec<u64> = pending(&store)
        .await
        .iter()
        .map(|entry| {
            let bytes: [u8; 8] = entry.payload.as_slice().try_into().expect("8 bytes");
            u64::from_be_bytes(bytes)
        })
        .collect();
    let expected: Vec<u64> = (1..=WRITERS * ROUNDS).collect();
    assert_eq!(
        announced, expected,
        "the outbox must hold every committed value once, in commit order"
    );
}
