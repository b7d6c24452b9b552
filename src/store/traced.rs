//! Every store, seen through spans: [`open`](super::open) wraps the implementation it opens,
//! so each operation a request or event handler makes is a database span in its trace,
//! whichever implementation serves it.

use std::sync::Arc;
use std::time::SystemTime;

use super::{OutboxEntry, Page, Query, Record, Store, StoreError, Transaction};
use crate::telemetry::spans;

/// `inner`, with a span per operation named by `system` (`db.system.name`).
pub(crate) struct Traced {
    inner: Arc<dyn Store>,
    system: &'static str,
}

impl Traced {
    pub(crate) fn new(inner: Arc<dyn Store>, system: &'static str) -> Self {
        Self { inner, system }
    }

    /// Runs `work` inside the span of `operation`, marking the span failed with the
    /// error's kind.
    async fn traced<T>(
        &self,
        operation: &'static str,
        collection: Option<&str>,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let span = spans::store(self.system, operation, collection);
        spans::run(span, work, StoreError::kind).await
    }
}

#[async_trait::async_trait]
impl Store for Traced {
    async fn ensure_index(
        &self,
        collection: &str,
        field: &str,
        unique: bool,
    ) -> Result<(), StoreError> {
        let work = self.inner.ensure_index(collection, field, unique);
        self.traced("ensure_index", Some(collection), work).await
    }

    async fn get(&self, collection: &str, id: &str) -> Result<Option<Record>, StoreError> {
        let work = self.inner.get(collection, id);
        self.traced("get", Some(collection), work).await
    }

    async fn find(&self, query: Query) -> Result<Page, StoreError> {
        // The span is opened before the query moves: no copy of its collection's name.
        let span = spans::store(self.system, "find", Some(&query.collection));
        spans::run(span, self.inner.find(query), StoreError::kind).await
    }

    async fn commit(&self, tx: Transaction) -> Result<(), StoreError> {
        self.traced("commit", None, self.inner.commit(tx)).await
    }

    // The relay's and housekeeping's own operations: the publish span covers the relay's
    // work, and housekeeping belongs to no trace.
    async fn outbox_pending(&self, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.outbox_pending(limit).await
    }

    async fn outbox_mark_published(&self, ids: &[String]) -> Result<(), StoreError> {
        self.inner.outbox_mark_published(ids).await
    }

    async fn outbox_prune(&self, before: SystemTime) -> Result<u64, StoreError> {
        self.inner.outbox_prune(before).await
    }

    async fn delete_below(
        &self,
        collection: &str,
        field: &str,
        before: i64,
    ) -> Result<u64, StoreError> {
        self.inner.delete_below(collection, field, before).await
    }

    fn outbox_signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        self.inner.outbox_signal()
    }

    // Readiness probes belong to no trace.
    async fn check(&self) -> Result<(), StoreError> {
        self.inner.check().await
    }
}
