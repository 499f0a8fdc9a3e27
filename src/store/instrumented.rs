//! The metrics decorator of a store: every operation timed and counted
//! (`crest_store_operation_duration_seconds`, `crest_store_errors`), by
//! store kind and operation.

use super::{ListQuery, NotReady, Store, StoreError, StoreLock, Transition, UpdateError};
use crate::domain::{Dimension, DimensionId, HistoryEntry, HistoryQuery, Outcome, Source};
use crate::metrics::Metrics;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Instant;

/// The operations whose errors are counted.
const OPERATIONS: [&str; 9] =
    ["get", "update", "list", "count", "delete", "history", "get_secret", "put_secret", "ping"];

/// Wraps `store` so every operation's latency and errors are counted.
pub fn instrument(store: Arc<dyn Store>, metrics: Arc<Metrics>) -> Arc<dyn Store> {
    metrics.store_operations(store.kind(), &OPERATIONS);
    store.observe(&metrics);
    Arc::new(Instrumented { inner: store, metrics })
}

/// A store whose every operation is timed and counted.
struct Instrumented {
    inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

#[async_trait]
impl Store for Instrumented {
    async fn get(&self, id: &DimensionId) -> Result<Option<Dimension>, StoreError> {
        let t = Instant::now();
        let r = self.inner.get(id).await;
        self.metrics.store_op(self.inner.kind(), "get", t, r.is_err());
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
        self.metrics.store_op(self.inner.kind(), "update", t, failed);
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
        self.metrics.store_op(self.inner.kind(), "update", t, failed);
        r
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Dimension>, StoreError> {
        let t = Instant::now();
        let r = self.inner.list(query).await;
        self.metrics.store_op(self.inner.kind(), "list", t, r.is_err());
        r
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let t = Instant::now();
        let r = self.inner.count().await;
        self.metrics.store_op(self.inner.kind(), "count", t, r.is_err());
        r
    }

    async fn delete(&self, id: &DimensionId) -> Result<bool, StoreError> {
        let t = Instant::now();
        let r = self.inner.delete(id).await;
        self.metrics.store_op(self.inner.kind(), "delete", t, r.is_err());
        r
    }

    async fn history(&self, id: &DimensionId, query: HistoryQuery) -> Result<Vec<HistoryEntry>, StoreError> {
        let t = Instant::now();
        let r = self.inner.history(id, query).await;
        self.metrics.store_op(self.inner.kind(), "history", t, r.is_err());
        r
    }

    async fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let t = Instant::now();
        let r = self.inner.get_secret(name).await;
        self.metrics.store_op(self.inner.kind(), "get_secret", t, r.is_err());
        r
    }

    async fn put_secret(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let t = Instant::now();
        let r = self.inner.put_secret(name, value).await;
        self.metrics.store_op(self.inner.kind(), "put_secret", t, r.is_err());
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
        self.metrics.store_op(self.inner.kind(), "ping", t, r.is_err());
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
