//! The dimension limit (`max_dimensions`): a change that would create a
//! dimension first takes a slot here, counted against the store's own
//! number of dimensions (so replicas on Postgres share it) plus the
//! creations of this process still in flight (so concurrent creations here
//! cannot overshoot it). When only those in flight make it full (they may
//! fail, or be counted twice while they commit), the creation waits for
//! them and counts again, so the last free slot is neither lost nor given
//! twice. Counting happens only on that rare path; a "full" answer is
//! reused for [`RECOUNT_AFTER`] (a delete here forgets it at once), so a
//! flood of unknown ids costs the store no query per request.
//!
//! Exact within one process. With several replicas each counts what is
//! committed plus its own creations in flight, so those in flight on the
//! others at that instant can take the total past the limit by as many.

use super::ServiceError;
use crate::domain::DimensionId;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long a count that found the limit reached is trusted.
const RECOUNT_AFTER: Duration = Duration::from_secs(1);

/// How often a refusal is logged (the first at once; the rest are counted).
const WARN_EVERY: Duration = Duration::from_secs(60);

/// How many times a creation waits for those in flight before it counts
/// them as taken, and how long each wait may be.
const SETTLE_ROUNDS: usize = 20;
const SETTLE_WAIT: Duration = Duration::from_millis(50);

pub(super) struct Quota {
    max: u64,
    /// Creations that passed the check and are not written yet.
    creating: AtomicU64,
    /// Told whenever one of them is done.
    settled: Notify,
    /// When a count last found `max` or more dimensions, and how many.
    full: Mutex<Option<(Instant, u64)>>,
    /// When a refusal was last logged, and how many were not since.
    warned: Mutex<(Option<Instant>, u64)>,
}

/// A slot taken for one creation; given back when dropped (after the write).
pub(super) struct Slot(Arc<Quota>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.creating.fetch_sub(1, Ordering::SeqCst);
        self.0.settled.notify_waiters();
    }
}

impl Quota {
    pub(super) fn new(max: u64) -> Arc<Self> {
        Arc::new(Self {
            max,
            creating: AtomicU64::new(0),
            settled: Notify::new(),
            full: Mutex::new(None),
            warned: Mutex::new((None, 0)),
        })
    }

    /// A slot for creating `id`.
    ///
    /// # Errors
    /// `TooManyDimensions` (counted and logged) when `max` dimensions exist
    /// or are being created; `Store` when the store cannot count.
    pub(super) async fn reserve(
        self: &Arc<Self>,
        id: &DimensionId,
        store: &dyn Store,
        metrics: &Metrics,
    ) -> Result<Slot, ServiceError> {
        let mut round = 0;
        loop {
            let ahead = self.creating.fetch_add(1, Ordering::SeqCst);
            let slot = Slot(self.clone());
            let existing = self.existing(store).await?;
            if existing.saturating_add(ahead) < self.max {
                return Ok(slot);
            }
            drop(slot);
            if existing >= self.max || round == SETTLE_ROUNDS {
                metrics.dimension_refused();
                self.warn(existing);
                return Err(self.refusal(id, existing.saturating_add(ahead)));
            }
            // Only creations in flight fill it: wait for one to end (unless
            // one already has), then count again.
            round += 1;
            let settled = self.settled.notified();
            if self.creating.load(Ordering::SeqCst) >= ahead {
                let _ = tokio::time::timeout(SETTLE_WAIT, settled).await;
            }
        }
    }

    /// Whether `id` could be created now (a HEAD answers as a GET would);
    /// takes no slot, logs nothing.
    ///
    /// # Errors
    /// As [`Quota::reserve`].
    pub(super) async fn check(&self, id: &DimensionId, store: &dyn Store) -> Result<(), ServiceError> {
        let taken = self.existing(store).await?.saturating_add(self.creating.load(Ordering::SeqCst));
        if taken < self.max { Ok(()) } else { Err(self.refusal(id, taken)) }
    }

    /// A dimension was deleted: count again at the next creation.
    pub(super) fn freed(&self) {
        *self.full.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The stored dimensions: a recent "full" count, else the store's.
    async fn existing(&self, store: &dyn Store) -> Result<u64, StoreError> {
        let recent = *self.full.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, n)) = recent.filter(|(at, _)| at.elapsed() < RECOUNT_AFTER) {
            return Ok(n);
        }
        let n = store.count().await?;
        *self.full.lock().unwrap_or_else(PoisonError::into_inner) = (n >= self.max).then(|| (Instant::now(), n));
        Ok(n)
    }

    fn refusal(&self, id: &DimensionId, taken: u64) -> ServiceError {
        ServiceError::TooManyDimensions { id: id.clone(), max: self.max, taken }
    }

    /// One WARN line for the first refusal, then at most one a minute with
    /// the number refused since.
    fn warn(&self, existing: u64) {
        let mut warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
        warned.1 += 1;
        if warned.0.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            return;
        }
        tracing::warn!(
            max_dimensions = self.max,
            existing,
            refused = warned.1,
            "dimension limit reached: creating dimensions is refused (409); delete unused dimensions \
             or raise max_dimensions (--max-dimensions, CREST_MAX_DIMENSIONS)"
        );
        *warned = (Some(Instant::now()), 0);
    }
}
