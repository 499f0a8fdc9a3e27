//! `Dimensions`: the one write path. Every change of a dimension (GET in
//! demo mode, PATCH, PUT, start-up creation, DELETE) goes read → pure
//! transition → store → publish to watchers → metric → change log here, and
//! nowhere else. A change that would write nothing is answered from the read,
//! on the caller's task; one that writes runs in a task of its own (keeping
//! the request's span), so a client that hangs up cannot cancel it half-way.

use crate::clock::Clock;
use crate::domain::{
    Changes, Dimension, DimensionId, Event, Outcome, Patch, Policy, Precondition, Registration, Source,
    TransitionError, change, lifecycle, registration,
};
use crate::fingerprint::Fingerprint;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError, Transition, UpdateError};
use crate::watch::Feed;
use std::sync::Arc;
use tracing::Instrument;

/// The default of `max_dimensions`: how many dimensions there may be
/// before the API refuses to create another. AAS needs one per scalable
/// target; 10,000 is far above any real deployment and keeps a store's
/// worst case small (see the README's limits).
pub const DEFAULT_MAX_DIMENSIONS: u64 = 10_000;

/// Why a change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The transition refused (not found, stale, out of bounds…).
    #[error(transparent)]
    Rejected(#[from] TransitionError),
    /// The store failed; nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The detached write's task failed (a bug): the outcome is unknown.
    #[error("store task failed: {0}")]
    Task(String),
}

impl From<UpdateError> for ServiceError {
    fn from(e: UpdateError) -> Self {
        match e {
            UpdateError::Rejected(t) => Self::Rejected(t),
            UpdateError::Store(s) => Self::Store(s),
        }
    }
}

/// Who asks: what goes into the history entry and the change log. Built only
/// when something is written.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub source: Source,
    /// The verified client certificate on the connection, for the log.
    pub certificate: Option<(String, Fingerprint)>,
}

/// The dimensions: the store plus what every change must also do.
pub struct Dimensions {
    store: Arc<dyn Store>,
    policy: Arc<Policy>,
    feed: Arc<Feed>,
    metrics: Arc<Metrics>,
    clock: Clock,
}

impl Dimensions {
    pub fn new(store: Arc<dyn Store>, policy: Policy, feed: Arc<Feed>, metrics: Arc<Metrics>, clock: Clock) -> Self {
        Self { store, policy: Arc::new(policy), feed, metrics, clock }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn feed(&self) -> &Arc<Feed> {
        &self.feed
    }

    /// A GET: advances a demo scaling (a write), or only reads.
    ///
    /// # Errors
    /// See [`ServiceError`].
    pub async fn get(&self, id: &DimensionId, caller: impl FnOnce() -> Caller) -> Result<Outcome, ServiceError> {
        let (id_, policy, clock) = (id.clone(), self.policy.clone(), self.clock.clone());
        let step = move |d: Option<&Dimension>| lifecycle::apply(d, &id_, Event::Get, &policy, clock.now());
        self.change(id, step, caller).await
    }

    /// A PATCH, a compare-and-swap when `precondition` is given.
    ///
    /// # Errors
    /// See [`ServiceError`].
    pub async fn patch(
        &self,
        id: &DimensionId,
        patch: Patch,
        precondition: Option<Precondition>,
        caller: impl FnOnce() -> Caller,
    ) -> Result<Outcome, ServiceError> {
        let (id_, policy, clock) = (id.clone(), self.policy.clone(), self.clock.clone());
        let step = move |d: Option<&Dimension>| {
            // Compare-and-swap: checked inside the store's lock or transaction.
            change::check(d, precondition)?;
            lifecycle::apply(d, &id_, Event::Patch(&patch), &policy, clock.now())
        };
        self.change(id, step, caller).await
    }

    /// A PUT: registers the dimension or updates its metadata and bounds.
    ///
    /// # Errors
    /// See [`ServiceError`].
    pub async fn register(
        &self,
        id: &DimensionId,
        reg: Registration,
        precondition: Option<Precondition>,
        caller: impl FnOnce() -> Caller,
    ) -> Result<Outcome, ServiceError> {
        let (id_, policy) = (id.clone(), self.policy.clone());
        let step = move |d: Option<&Dimension>| {
            change::check(d, precondition)?;
            registration::register(d, &id_, &reg, &policy.defaults)
        };
        self.change(id, step, caller).await
    }

    /// Creates `id` as the defaults make it, unless it exists (the
    /// configured `register` list, at start-up, even in strict mode).
    ///
    /// # Errors
    /// See [`ServiceError`].
    pub async fn create_if_absent(&self, id: &DimensionId) -> Result<Outcome, ServiceError> {
        let (id_, clock) = (id.clone(), self.clock.clone());
        let policy = Policy { strict: false, ..(*self.policy).clone() };
        let step = move |d: Option<&Dimension>| lifecycle::apply(d, &id_, Event::View, &policy, clock.now());
        let caller = || Caller { source: Source::method("register"), certificate: None };
        self.change(id, step, caller).await
    }

    /// The dimension as a GET would show it before any demo step, without
    /// writing (HEAD, long-poll answers).
    ///
    /// # Errors
    /// `Rejected(NotFound)` in strict mode; `Store`.
    pub async fn view(&self, id: &DimensionId) -> Result<Dimension, ServiceError> {
        let current = self.store.get(id).await?;
        let outcome = lifecycle::apply(current.as_ref(), id, Event::View, &self.policy, self.clock.now())?;
        self.metrics.dimension(&outcome.dimension);
        Ok(outcome.dimension)
    }

    /// Removes a dimension and its history; false when there was none.
    ///
    /// # Errors
    /// `Store` (nothing removed) or `Task`.
    pub async fn delete(&self, id: &DimensionId, caller: impl FnOnce() -> Caller) -> Result<bool, ServiceError> {
        let (store, id_) = (self.store.clone(), id.clone());
        let task = tokio::spawn(async move { store.delete(&id_).await }.in_current_span());
        let gone = task.await.map_err(|e| ServiceError::Task(e.to_string()))??;
        if gone {
            self.feed.forget(id);
            self.metrics.forget_dimension(id);
            let caller = caller();
            tracing::info!(
                method = caller.source.method,
                client = caller.source.client.as_deref(),
                "dimension deleted"
            );
        }
        Ok(gone)
    }

    /// Read, and when the step would change something, write through the
    /// store (which re-reads and re-applies under its lock or transaction).
    async fn change(
        &self,
        id: &DimensionId,
        // Runs once on the read, then moves into the write's task.
        step: impl Fn(Option<&Dimension>) -> Result<Outcome, TransitionError> + Send + Sync + 'static,
        caller: impl FnOnce() -> Caller,
    ) -> Result<Outcome, ServiceError> {
        let current = self.store.get(id).await?;
        let first = step(current.as_ref())?;
        if !first.must_write() {
            self.metrics.dimension(&first.dimension);
            return Ok(first);
        }
        let caller = caller();
        let (store, id_, source) = (self.store.clone(), id.clone(), caller.source.clone());
        let task = tokio::spawn(
            async move {
                let transition: &Transition<'_> = &step;
                store.update(&id_, transition, &source).await
            }
            .in_current_span(),
        );
        let outcome = task.await.map_err(|e| ServiceError::Task(e.to_string()))??;
        self.metrics.dimension(&outcome.dimension);
        if outcome.must_write() {
            self.feed.publish(&outcome.dimension);
        }
        log(&outcome, &caller);
        Ok(outcome)
    }
}

/// The change log: one line for a creation, one for the changed fields.
fn log(outcome: &Outcome, caller: &Caller) {
    let (method, revision) = (caller.source.method.as_str(), outcome.dimension.revision);
    let client_subject = caller.certificate.as_ref().map(|(subject, _)| subject.as_str());
    let client_sha256 = caller.certificate.as_ref().map(|(_, sha)| tracing::field::display(sha));
    if outcome.created {
        tracing::info!(method, client_sha256, client_subject, revision, "dimension created");
    }
    if !outcome.changes.is_empty() {
        let changes = Changes(&outcome.changes);
        tracing::info!(method, client_sha256, client_subject, revision, changes = %changes, "dimension changed");
    }
}
