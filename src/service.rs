//! `Dimensions`: the one write path. Every change of a dimension (GET in
//! demo mode, PATCH, PUT, start-up creation, DELETE) goes read → pure
//! transition → store → publish to watchers → metric → change log here, and
//! nowhere else. A change that would write nothing is answered from the read,
//! on the caller's task; one that writes runs in a task of its own (keeping
//! the request's log fields), so a client that hangs up cannot cancel it half-way.
//! A change that would create a dimension must also fit the dimension limit
//! (`quota`), and is refused to a read-only caller ([`Creating`]).

mod quota;

use crate::clock::Clock;
use crate::domain::{
    Changes, Dimension, DimensionId, Event, Mode, Outcome, Patch, Policy, Precondition, Registration, Source,
    TransitionError, change, lifecycle, registration,
};
use crate::fingerprint::Fingerprint;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError, Transition, UpdateError};
use crate::telemetry;
use crate::watch::Feed;
use std::sync::Arc;

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
    /// Creating `id` would pass `max_dimensions` (`taken`: the dimensions
    /// stored or being created).
    #[error(
        "cannot create dimension {id:?}: the limit of {max} dimensions is reached ({taken} exist or are being \
         created); delete unused dimensions (DELETE /v1/scalableTargetDimensions/ID, role admin) or raise \
         max_dimensions (--max-dimensions, CREST_MAX_DIMENSIONS)"
    )]
    TooManyDimensions { id: DimensionId, max: u64, taken: u64 },
}

/// Whether a request may create the dimension it names, if it does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creating {
    /// Roles aas, scaler, admin, or no authentication: as the mode says.
    Allowed,
    /// Role read: an unknown id is a 404, as in strict mode; nothing is written.
    ReadOnly,
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
    /// `policy` for read-only callers: strict.
    read_only: Arc<Policy>,
    quota: Arc<quota::Quota>,
    feed: Arc<Feed>,
    metrics: Arc<Metrics>,
    clock: Clock,
}

impl Dimensions {
    /// The dimensions of `store`; the API creates new ones while fewer than
    /// `max_dimensions` exist.
    pub fn new(
        store: Arc<dyn Store>,
        policy: Policy,
        max_dimensions: u64,
        feed: Arc<Feed>,
        metrics: Arc<Metrics>,
        clock: Clock,
    ) -> Self {
        let read_only = Arc::new(Policy { strict: true, ..policy.clone() });
        let quota = quota::Quota::new(max_dimensions);
        Self { store, policy: Arc::new(policy), read_only, quota, feed, metrics, clock }
    }

    /// The policy for a caller, and whether its "not found" is because it
    /// may not create (rather than strict mode).
    fn policy_for(&self, creating: Creating) -> (Arc<Policy>, bool) {
        match creating {
            Creating::ReadOnly if !self.policy.strict => (self.read_only.clone(), true),
            _ => (self.policy.clone(), false),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn feed(&self) -> &Arc<Feed> {
        &self.feed
    }

    /// How GET and PATCH change a dimension here (what a PATCH may carry).
    pub fn mode(&self) -> crate::domain::Mode {
        self.policy.mode
    }

    /// A GET: advances a demo scaling (a write), or only reads.
    ///
    /// # Errors
    /// See [`ServiceError`].
    pub async fn get(
        &self,
        id: &DimensionId,
        creating: Creating,
        caller: impl FnOnce() -> Caller,
    ) -> Result<Outcome, ServiceError> {
        let ((policy, read_only), id_, clock) = (self.policy_for(creating), id.clone(), self.clock.clone());
        let step = move |d: Option<&Dimension>| {
            lifecycle::apply(d, &id_, Event::Get, &policy, clock.now()).map_err(|e| not_created(e, read_only))
        };
        self.change(id, step, caller, true).await
    }

    /// A GET answered at once from the store's copy in memory, when it has
    /// one and the GET changes nothing there (production mode): no task, no
    /// clock, nothing awaited. None: ask [`Self::get`].
    pub fn get_cached(&self, id: &DimensionId) -> Option<Outcome> {
        if !lifecycle::changes_nothing(Event::Get, self.policy.mode) {
            return None;
        }
        let dimension = self.store.cached(id)?;
        self.metrics.dimension(&dimension);
        Some(Outcome { dimension, changes: Vec::new(), created: false })
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
        // A request check that needs no stored state comes before If-Match
        // (RFC 9110, 13.2.1): in demo mode crest is the scaler.
        if let (Mode::Demo { .. }, Some(fields)) = (policy.mode, patch.scaler_fields()) {
            return Err(TransitionError::ScalerFieldsInDemo(fields).into());
        }
        let step = move |d: Option<&Dimension>| {
            // Compare-and-swap: checked inside the store's lock or transaction.
            change::check(d, precondition)?;
            lifecycle::apply(d, &id_, Event::Patch(&patch), &policy, clock.now())
        };
        self.change(id, step, caller, true).await
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
        self.change(id, step, caller, true).await
    }

    /// Creates `id` as the defaults make it, unless it exists (the
    /// configured `register` list, at start-up, even in strict mode and
    /// beyond the dimension limit: an operator's explicit list).
    ///
    /// # Errors
    /// See [`ServiceError`].
    pub async fn create_if_absent(&self, id: &DimensionId) -> Result<Outcome, ServiceError> {
        let (id_, clock) = (id.clone(), self.clock.clone());
        let policy = Policy { strict: false, ..(*self.policy).clone() };
        let step = move |d: Option<&Dimension>| lifecycle::apply(d, &id_, Event::View, &policy, clock.now());
        let caller = || Caller { source: Source::method("register"), certificate: None };
        self.change(id, step, caller, false).await
    }

    /// The dimension as a GET would show it before any demo step, without
    /// writing (HEAD, long-poll answers); an unknown id answers as its GET
    /// would (a new dimension, not stored, or the refusal).
    ///
    /// # Errors
    /// `Rejected(NotFound)` in strict mode or for a read-only caller;
    /// `TooManyDimensions`; `Store`.
    pub async fn view(&self, id: &DimensionId, creating: Creating) -> Result<Dimension, ServiceError> {
        let current = self.read(id).await?;
        let (policy, read_only) = self.policy_for(creating);
        let outcome = lifecycle::apply(current.as_ref(), id, Event::View, &policy, self.clock.now())
            .map_err(|e| not_created(e, read_only))?;
        if outcome.created {
            // Not stored: no metric series for it.
            self.quota.check(id, self.store.as_ref()).await?;
        } else {
            self.metrics.dimension(&outcome.dimension);
        }
        Ok(outcome.dimension)
    }

    /// Removes a dimension and its history; false when there was none.
    ///
    /// # Errors
    /// `Store` (nothing removed) or `Task`.
    pub async fn delete(&self, id: &DimensionId, caller: impl FnOnce() -> Caller) -> Result<bool, ServiceError> {
        let (store, id_) = (self.store.clone(), id.clone());
        let task = tokio::spawn(telemetry::request::carry(async move { store.delete(&id_).await }));
        let gone = task.await.map_err(|e| ServiceError::Task(e.to_string()))??;
        if gone {
            self.quota.freed();
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

    /// The stored dimension: the store's copy in memory when it has one.
    async fn read(&self, id: &DimensionId) -> Result<Option<Dimension>, StoreError> {
        match self.store.cached(id) {
            Some(d) => Ok(Some(d)),
            None => self.store.get(id).await,
        }
    }

    /// Read, and when the step would change something, write through the
    /// store, which applies the step again to the state it holds under its
    /// lock or transaction (Postgres: to the state read here, if the row has
    /// not changed since; otherwise it reads again).
    /// A creation first takes a slot of the dimension limit when `limited`.
    async fn change(
        &self,
        id: &DimensionId,
        // Runs once on the read, then moves into the write's task.
        step: impl Fn(Option<&Dimension>) -> Result<Outcome, TransitionError> + Send + Sync + 'static,
        caller: impl FnOnce() -> Caller,
        limited: bool,
    ) -> Result<Outcome, ServiceError> {
        let current = self.read(id).await?;
        let first = step(current.as_ref())?;
        if !first.must_write() {
            self.metrics.dimension(&first.dimension);
            return Ok(first);
        }
        let slot = if first.created && limited {
            Some(self.quota.reserve(id, self.store.as_ref(), &self.metrics).await?)
        } else {
            None
        };
        let caller = caller();
        let (store, id_, source) = (self.store.clone(), id.clone(), caller.source.clone());
        let task = tokio::spawn(telemetry::request::carry(async move {
            let transition: &Transition<'_> = &step;
            // The store may try its write against what was just read.
            let written = store.update_seen(&id_, current, transition, &source).await;
            // The slot is given back once the write is done (or not).
            drop(slot);
            written
        }));
        let outcome = task.await.map_err(|e| ServiceError::Task(e.to_string()))??;
        self.metrics.dimension(&outcome.dimension);
        if outcome.must_write() {
            self.feed.publish(&outcome.dimension);
        }
        log(&outcome, &caller);
        Ok(outcome)
    }
}

/// A read-only caller's "not found" says why it is not created.
fn not_created(e: TransitionError, read_only: bool) -> TransitionError {
    match e {
        TransitionError::NotFound(id) if read_only => TransitionError::NotCreated(id),
        e => e,
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
