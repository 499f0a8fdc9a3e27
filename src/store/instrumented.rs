//! The metrics decorator of a store: every operation timed and counted
//! (`crest_store_operation_duration_seconds`, `crest_store_errors`), by
//! store kind and operation.

use super::{ListQuery, NotReady, Store, StoreError, StoreLock, Transition, UpdateError};
use crate::domain::{Dimension, DimensionId, HistoryEntry, HistoryQuery, Outcome, Source};
use crate::metrics::{Metrics, StoreOperation};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Instant;

/// The operations whose errors are counted.
const OPERATIONS: [&str; 9] =
    ["get", "update", "list", "count", "delete", "history", "get_secret", "put_secret", "ping"];

/// Wraps `store` so every operation's latency and errors are counted.
pub fn instrument(store: Arc<dyn Store>, metrics: Arc<Metrics>) -> Arc<dyn Store> {
    let ops = OPERATIONS.map(|operation| metrics.store_operation(store.kind(), operation));
    store.observe(&metrics);
    Arc::new(Instrumented { inner: store, ops })
}

/// A store whose every operation is timed and counted: each operation's
/// series looked up once, here (not per call: a GET's label hashing and
/// map lookups were 2 % of its instructions).
struct Instrumented {
    inner: Arc<dyn Store>,
    /// By the index of the operation in `OPERATIONS`.
    ops: [StoreOperation; 9],
}

#[async_trait]
impl Store for Instrumented {
    fn cached(&self, id: &DimensionId) -> Option<Dimension> {
        let hit = self.inner.cached(id);
        if hit.is_some() {
            // A read served from memory is a `get` like any other.
            self.ops[0].done_in_memory();
        }
        hit
    }

    async fn get(&self, id: &DimensionId) -> Result<Option<Dimension>, StoreError> {
        let t = Instant::now();
        let r = self.inner.get(id).await;
        self.ops[0].done(t, r.is_err());
        r
    }

    async fn update(
        &self,
        id: &DimensionId,
        transition: &Transition<'_>,
        source: &Source,
    ) -> Result<Outcome, UpdateError> {
        let t = Instant::now();
        let r = self.inner.update(id, transition, source).await;
        // A refused transition is the caller's error, not the store's.
        let failed = matches!(r, Err(UpdateError::Store(_)));
        self.ops[1].done(t, failed);
        r
    }

    async fn update_seen(
        &self,
        id: &DimensionId,
        seen: Option<Dimension>,
        transition: &Transition<'_>,
        source: &Source,
    ) -> Result<Outcome, UpdateError> {
        let t = Instant::now();
        let r = self.inner.update_seen(id, seen, transition, source).await;
        let failed = matches!(r, Err(UpdateError::Store(_)));
        self.ops[1].done(t, failed);
        r
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Dimension>, StoreError> {
        let t = Instant::now();
        let r = self.inner.list(query).await;
        self.ops[2].done(t, r.is_err());
        r
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let t = Instant::now();
        let r = self.inner.count().await;
        self.ops[3].done(t, r.is_err());
        r
    }

    async fn delete(&self, id: &DimensionId) -> Result<bool, StoreError> {
        let t = Instant::now();
        let r = self.inner.delete(id).await;
        self.ops[4].done(t, r.is_err());
        r
    }

    async fn history(&self, id: &DimensionId, query: HistoryQuery) -> Result<Vec<HistoryEntry>, StoreError> {
        let t = Instant::now();
        let r = self.inner.history(id, query).await;
        self.ops[5].done(t, r.is_err());
        r
    }

    async fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let t = Instant::now();
        let r = self.inner.get_secret(name).await;
        self.ops[6].done(t, r.is_err());
        r
    }

    async fn put_secret(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let t = Instant::now();
        let r = self.inner.put_secret(name, value).await;
        self.ops[7].done(t, r.is_err());
        r
    }

    async fn try_lock(&self, name: &str) -> Result<Option<StoreLock>, StoreError> {
        self.inner.try_lock(name).await
    }

    async fn follow(&self, feed: Arc<crate::watch::Feed>, shutdown: tokio_util::sync::CancellationToken) {
        self.inner.follow(feed, shutdown).await;
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let t = Instant::now();
        let r = self.inner.ping().await;
        self.ops[8].done(t, r.is_err());
        r
    }

    fn readiness(&self) -> Option<NotReady> {
        self.inner.readiness()
    }

    fn observe(&self, metrics: &Arc<Metrics>) {
        self.inner.observe(metrics);
    }

    async fn close(&self) {
        self.inner.close().await;
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}
