//! Properties of queries, paging, indexes and name checks.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{commit, doc, fail, get, ids};
use crate::store::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Query, Store, StoreError, Transaction};

/// Equality filters on top-level fields are ANDed, compare JSON types strictly (`1` is not
/// `"1"` nor `true`, `2` is `2.0`), treat null as "null or missing", and mean the same with
/// or without an index.
pub async fn find_matches_equality_filters(store: Arc<dyn Store>) {
    let tx = Transaction::new()
        .insert(
            "items",
            "a",
            doc(json!({"owner": "u1", "n": 1, "done": true, "score": 1.5, "note": null})),
        )
        .insert(
            "items",
            "b",
            doc(json!({"owner": "u1", "n": 2, "done": false, "score": 2})),
        )
        .insert(
            "items",
            "c",
            doc(json!({"owner": "u2", "n": 1, "done": true})),
        )
        .insert(
            "items",
            "d",
            doc(json!({"owner": "1", "n": "1", "done": 1})),
        )
        .insert(
            "items",
            "e",
            doc(json!({"owner": "u3", "note": "x", "n": [1]})),
        );
    commit(&store, tx).await;
    let cases: Vec<(Query, &[&str])> = vec![
        (Query::all("items").where_eq("owner", "u1"), &["a", "b"]),
        (
            Query::all("items").where_eq("owner", "u1").where_eq("n", 1),
            &["a"],
        ),
        (Query::all("items").where_eq("n", 1), &["a", "c"]),
        (Query::all("items").where_eq("n", "1"), &["d"]),
        (Query::all("items").where_eq("done", true), &["a", "c"]),
        (Query::all("items").where_eq("done", false), &["b"]),
        (Query::all("items").where_eq("done", 1), &["d"]),
        (Query::all("items").where_eq("score", 2.0), &["b"]),
        (Query::all("items").where_eq("score", 1.5), &["a"]),
        (
            Query::all("items").where_eq("note", Value::Null),
            &["a", "b", "c", "d"],
        ),
        (Query::all("items").where_eq("owner", "nobody"), &[]),
        (Query::all("items"), &["a", "b", "c", "d", "e"]),
    ];
    for indexed in [false, true] {
        if indexed {
            for field in ["owner", "n", "done", "score", "note"] {
                store
                    .ensure_index("items", field, false)
                    .await
                    .expect("ensure_index");
            }
        }
        for (query, expected) in &cases {
            let page = store.find(query.clone()).await.expect("find");
            assert_eq!(
                ids(&page.records),
                *expected,
                "wrong records for {:?} (indexed: {indexed})",
                query.filter
            );
            assert_eq!(page.next, None);
        }
    }
}

/// Pages come in id order; `next` is set exactly when more records match, and `after`
/// is an exclusive cursor that need not be an existing id.
pub async fn find_pages_in_id_order(store: Arc<dyn Store>) {
    // Inserted out of order so that insertion order cannot pass for id order.
    let mut tx = Transaction::new();
    for i in (0..25)
        .rev()
        .step_by(2)
        .chain((0..25).rev().skip(1).step_by(2))
    {
        tx = tx.insert("rows", format!("r{i:02}"), doc(json!({"even": i % 2 == 0})));
    }
    commit(&store, tx).await;
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut nexts = Vec::new();
    loop {
        let page = store
            .find(Query::all("rows").after(cursor).limit(10))
            .await
            .expect("find");
        seen.extend(ids(&page.records).into_iter().map(str::to_owned));
        nexts.push(page.next.clone());
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    let expected: Vec<String> = (0..25).map(|i| format!("r{i:02}")).collect();
    assert_eq!(
        seen, expected,
        "paging must visit every record once, in id order"
    );
    assert_eq!(
        nexts,
        [Some("r09".to_owned()), Some("r19".to_owned()), None],
        "next must be the last id of a full page"
    );

    let page = store
        .find(Query::all("rows").where_eq("even", true).limit(13))
        .await
        .expect("find");
    assert_eq!(
        (page.records.len(), page.next),
        (13, None),
        "a page that holds the last match exactly has no next"
    );
    let page = store
        .find(Query::all("rows").after(Some("r095".into())).limit(2))
        .await
        .expect("find");
    assert_eq!(
        ids(&page.records),
        ["r10", "r11"],
        "after is exclusive and may name no record"
    );
    let page = store
        .find(
            Query::all("rows")
                .where_eq("even", false)
                .after(Some("r20".into())),
        )
        .await
        .expect("find");
    assert_eq!(
        ids(&page.records),
        ["r21", "r23"],
        "filter and cursor combine"
    );
}

/// A limit of 0 means `DEFAULT_PAGE_SIZE` and larger limits are clamped to `MAX_PAGE_SIZE`.
pub async fn find_limits_page_size(store: Arc<dyn Store>) {
    let total = MAX_PAGE_SIZE as usize + 1;
    let tx = (0..total).fold(Transaction::new(), |tx, i| {
        tx.insert("many", format!("m{i:05}"), doc(json!({})))
    });
    commit(&store, tx).await;
    let page = store.find(Query::all("many")).await.expect("find");
    assert_eq!(
        page.records.len(),
        DEFAULT_PAGE_SIZE as usize,
        "limit 0 must give the default page size"
    );
    let page = store
        .find(Query::all("many").limit(u32::MAX))
        .await
        .expect("find");
    assert_eq!(
        page.records.len(),
        MAX_PAGE_SIZE as usize,
        "a huge limit must be clamped to MAX_PAGE_SIZE"
    );
    assert_eq!(page.next, Some(format!("m{:05}", MAX_PAGE_SIZE - 1)));
    let rest = store
        .find(Query::all("many").after(page.next).limit(u32::MAX))
        .await
        .expect("find");
    assert_eq!((rest.records.len(), rest.next), (1, None));
}

/// A unique index rejects a second record with the same value, on insert and on replace,
/// lets any number of records lack the field, and frees a value when its holder goes.
pub async fn unique_index_rejects_duplicates(store: Arc<dyn Store>) {
    store
        .ensure_index("users", "email", true)
        .await
        .expect("ensure_index on a new collection");
    store
        .ensure_index("users", "email", true)
        .await
        .expect("ensure_index must be idempotent");
    commit(
        &store,
        Transaction::new().insert("users", "u1", doc(json!({"email": "a@x"}))),
    )
    .await;
    let err = fail(
        &store,
        Transaction::new().insert("users", "u2", doc(json!({"email": "a@x"}))),
    )
    .await;
    assert!(
        matches!(&err, StoreError::Duplicate { collection, field } if collection == "users" && field == "email"),
        "a duplicate email must be Duplicate {{ users, email }}, got {err:?}"
    );
    assert_eq!(get(&store, "users", "u2").await, None);
    commit(
        &store,
        Transaction::new().insert("users", "u2", doc(json!({"email": "b@x"}))),
    )
    .await;
    let err = fail(
        &store,
        Transaction::new().replace("users", "u2", 1, doc(json!({"email": "a@x"}))),
    )
    .await;
    assert!(
        matches!(&err, StoreError::Duplicate { field, .. } if field == "email"),
        "got {err:?}"
    );
    let tx = Transaction::new()
        .insert("users", "u3", doc(json!({})))
        .insert("users", "u4", doc(json!({"name": "x"})));
    commit(&store, tx).await;
    let tx = Transaction::new().delete("users", "u1", None).replace(
        "users",
        "u2",
        1,
        doc(json!({"email": "a@x"})),
    );
    commit(&store, tx).await;
    let err = fail(
        &store,
        Transaction::new().insert("users", "u2", doc(json!({"email": "c@x"}))),
    )
    .await;
    assert!(
        matches!(err, StoreError::AlreadyExists { .. }),
        "an id clash stays AlreadyExists, got {err:?}"
    );
}

/// Creating a unique index over values that already repeat fails with `Duplicate`.
pub async fn unique_index_over_existing_duplicates_fails(store: Arc<dyn Store>) {
    let tx = Transaction::new()
        .insert("users", "u1", doc(json!({"email": "a@x"})))
        .insert("users", "u2", doc(json!({"email": "a@x"})));
    commit(&store, tx).await;
    let err = store
        .ensure_index("users", "email", true)
        .await
        .expect_err("a unique index over duplicates must fail");
    assert!(
        matches!(&err, StoreError::Duplicate { field, .. } if field == "email"),
        "got {err:?}"
    );
    store
        .ensure_index("users", "email", false)
        .await
        .expect("a non-unique index over duplicates is fine");
    commit(
        &store,
        Transaction::new().insert("users", "u3", doc(json!({"email": "a@x"}))),
    )
    .await;
}

/// Collection and field names that are not `[A-Za-z_][A-Za-z0-9_]*` are refused everywhere.
pub async fn invalid_names_are_rejected(store: Arc<dyn Store>) {
    for bad in [
        "",
        "1users",
        "users;drop",
        "a.b",
        "a-b",
        "a b",
        "naïve",
        "a'b",
        "a\"b",
    ] {
        let is_invalid = |result: Result<(), StoreError>, what: &str| {
            assert!(
                matches!(result, Err(StoreError::InvalidName(_))),
                "{what} with name {bad:?} must be InvalidName"
            );
        };
        is_invalid(store.get(bad, "x").await.map(drop), "get");
        is_invalid(
            store.find(Query::all(bad)).await.map(drop),
            "find on a collection",
        );
        is_invalid(
            store
                .find(Query::all("ok").where_eq(bad, 1))
                .await
                .map(drop),
            "find on a field",
        );
        is_invalid(
            store.ensure_index(bad, "f", false).await,
            "ensure_index on a collection",
        );
        is_invalid(
            store.ensure_index("ok", bad, true).await,
            "ensure_index on a field",
        );
        is_invalid(
            store
                .commit(Transaction::new().insert(bad, "x", doc(json!({}))))
                .await,
            "insert",
        );
        is_invalid(
            store
                .commit(Transaction::new().delete(bad, "x", None))
                .await,
            "delete",
        );
    }
    let page = store
        .find(Query::all("Mixed_Case_9"))
        .await
        .expect("mixed case with digits and underscores is valid");
    assert!(page.records.is_empty());
}

/// Arrays and objects cannot be filter values: stores disagree on what they would match.
pub async fn filter_values_must_be_scalars(store: Arc<dyn Store>) {
    for value in [json!(["a"]), json!({"a": 1})] {
        let err = store
            .find(Query::all("items").where_eq("tags", value))
            .await
            .expect_err("must be refused");
        assert!(matches!(err, StoreError::InvalidFilter(_)), "got {err:?}");
    }
}
