//! Test support: the properties every [`Store`] implementation must have, one function each.
//!
//! Every function takes a fresh, empty store of its own (it also checks the outbox, which
//! is shared by the whole store) and panics with a message naming the broken property.
//! The SQLite tests run them all through [`store_conformance_tests!`](crate::store_conformance_tests),
//! and the MongoDB tests run the very same list, so adding a property here tests every
//! backend at once. This module is compiled into the library, not only under `cfg(test)`,
//! because other crates' tests call it.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use super::{Document, MAX_PAGE_SIZE, OutboxEntry, Record, Store, StoreError, Transaction};

mod outbox;
mod queries;
mod records;

pub use outbox::{
    failed_commit_leaves_no_trace, outbox_follows_commit_order_under_contention,
    outbox_keeps_commit_order_until_published, published_entries_are_kept_until_pruned,
    records_and_outbox_commit_together,
};
pub use queries::{
    filter_values_must_be_scalars, find_limits_page_size, find_matches_equality_filters,
    find_pages_in_id_order, invalid_names_are_rejected,
    unique_index_over_existing_duplicates_fails, unique_index_rejects_duplicates,
};
pub use records::{
    concurrent_commits_fail_alone, concurrent_replaces_have_one_winner,
    delete_below_removes_only_what_is_below, delete_checks_version, empty_commit_is_ok,
    insert_of_existing_id_fails, insert_then_get, missing_collection_reads_as_empty,
    replace_checks_and_bumps_version, replace_of_missing_record_is_not_found,
    typed_collection_round_trips, writes_in_one_transaction_see_each_other,
};

/// Defines one `#[tokio::test]` per conformance property in the calling module.
///
/// `$open` is called once per test and must give a future of `(Arc<dyn Store>, guard)`;
/// the guard (a temporary directory, a database to drop, or `()`) lives until the test ends.
///
/// ```no_run
/// mod memory {
///     switchboard::store_conformance_tests!(async || {
///         (switchboard::store::open("sqlite::memory:").await.expect("open"), ())
///     });
/// }
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    ($open:expr) => {
        $crate::store_conformance_tests!(@each $open;
            insert_then_get, missing_collection_reads_as_empty, insert_of_existing_id_fails,
            replace_checks_and_bumps_version, replace_of_missing_record_is_not_found,
            delete_checks_version, writes_in_one_transaction_see_each_other, empty_commit_is_ok,
            failed_commit_leaves_no_trace, records_and_outbox_commit_together,
            outbox_keeps_commit_order_until_published, published_entries_are_kept_until_pruned,
            outbox_follows_commit_order_under_contention,
            find_matches_equality_filters,
            find_pages_in_id_order, find_limits_page_size, unique_index_rejects_duplicates,
            unique_index_over_existing_duplicates_fails, invalid_names_are_rejected,
            filter_values_must_be_scalars, concurrent_replaces_have_one_winner,
            concurrent_commits_fail_alone, delete_below_removes_only_what_is_below,
            typed_collection_round_trips,
        );
    };
    (@each $open:expr; $($property:ident),* $(,)?) => {
        $(
            #[::tokio::test]
            async fn $property() {
                let (store, _guard) = ($open)().await;
                $crate::store::conformance::$property(store).await;
            }
        )*
    };
}

/// Builds a document from a `json!` object literal.
fn doc(value: Value) -> Document {
    match value {
        Value::Object(map) => map,
        other => panic!("test documents must be JSON objects, got {other}"),
    }
}

async fn commit(store: &Arc<dyn Store>, tx: Transaction) {
    let what = format!("{tx:?}");
    if let Err(err) = store.commit(tx).await {
        panic!("commit should succeed but failed with {err:?}: {what}");
    }
}

async fn fail(store: &Arc<dyn Store>, tx: Transaction) -> StoreError {
    let what = format!("{tx:?}");
    store
        .commit(tx)
        .await
        .err()
        .unwrap_or_else(|| panic!("commit should fail but succeeded: {what}"))
}

async fn get(store: &Arc<dyn Store>, collection: &str, id: &str) -> Option<Record> {
    store
        .get(collection, id)
        .await
        .unwrap_or_else(|err| panic!("get {collection}/{id} failed: {err:?}"))
}

async fn pending(store: &Arc<dyn Store>) -> Vec<OutboxEntry> {
    store
        .outbox_pending(MAX_PAGE_SIZE)
        .await
        .expect("outbox_pending")
}

fn ids(records: &[Record]) -> Vec<&str> {
    let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "a page must not repeat a record: {ids:?}"
    );
    ids
}
