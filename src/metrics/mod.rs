//! Prometheus metrics (`/metrics`, OpenMetrics text from `prometheus-client`):
//! the registry and what the parts of crest report into it — HTTP requests
//! and latency by route template, per-dimension gauges (capped at
//! `metrics_max_dimensions` series), store latency and errors, TLS handshake
//! failures, connections (open, limit, shed, idle-closed, accept errors),
//! and the process (`process_*`, read from `/proc/self` at scrape time).
//! Gauges that depend on the clock (status age, certificate days left, ACME
//! state) are computed at scrape time (`board.rs`), by `Sampler`s that the
//! app registers (TLS, ACME): the registry observes, it owns nothing above
//! the domain.

mod board;
mod process;
mod series;

pub use board::{Gauge, GaugeValue, Sampler};

use crate::domain::{Dimension, DimensionId};
use board::{Board, Seen};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge as LiveGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::{Arc, PoisonError};
use std::time::{Instant, SystemTime};

/// The content type of `/metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The default cap on dimensions with their own series.
pub const DEFAULT_MAX_DIMENSIONS: usize = 1000;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    store: &'static str,
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 100 µs to ~13 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

/// Every metric crest keeps; one per server, shared by its parts.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily<RouteLabels>,
    http_series: series::HttpSeries,
    store_duration: HistogramFamily<StoreLabels>,
    store_errors: Family<StoreLabels, Counter>,
    store_acquire: Histogram,
    handshake_failures: Family<ReasonLabels, Counter>,
    client_rejections: Family<ReasonLabels, Counter>,
    rate_limited: Counter,
    rejections: Family<ReasonLabels, Counter>,
    rejections_unlogged: Counter,
    untracked: Counter,
    connections_open: LiveGauge,
    connections_limit: LiveGauge,
    connections_shed: Family<ReasonLabels, Counter>,
    connections_idle_closed: Counter,
    accept_errors: Counter,
    refused: Counter,
    board: Arc<Board>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A registry with every metric; at most `max_dimensions` dimensions get
    /// their own series.
    pub fn new(max_dimensions: usize) -> Self {
        let mut registry = Registry::default();
        let http_requests: Family<HttpLabels, Counter> =
            registered(&mut registry, "crest_http_requests", "HTTP requests by route template, method and status code");
        let http_duration = HistogramFamily::<RouteLabels>::new_with_constructor(latency_histogram);
        registry.register(
            "crest_http_request_duration_seconds",
            "Time from request to response head, by route template and method",
            http_duration.clone(),
        );
        let store_duration = HistogramFamily::<StoreLabels>::new_with_constructor(latency_histogram);
        registry.register(
            "crest_store_operation_duration_seconds",
            "Latency of state store operations (a get answered from memory counts as 0)",
            store_duration.clone(),
        );
        let store_errors: Family<StoreLabels, Counter> =
            registered(&mut registry, "crest_store_errors", "State store operations that failed");
        let store_acquire = latency_histogram();
        registry.register(
            "crest_store_pool_acquire_seconds",
            "Time a Postgres store operation waited for a pooled connection",
            store_acquire.clone(),
        );
        let handshake_failures: Family<ReasonLabels, Counter> =
            registered(&mut registry, "crest_tls_handshake_failures", "TLS handshakes that failed, by reason");
        let client_rejections: Family<ReasonLabels, Counter> = registered(
            &mut registry,
            "crest_tls_client_rejections",
            "Requests refused for want of a verified client certificate",
        );
        let rate_limited: Counter =
            registered(&mut registry, "crest_rate_limited", "Requests answered 429 by the rate limiter");
        let rejections: Family<ReasonLabels, Counter> =
            registered(&mut registry, "crest_http_rejections", "Requests answered 401, 403 or 429, by reason");
        let rejections_unlogged: Counter = registered(
            &mut registry,
            "crest_log_rejections_suppressed",
            "Rejected requests not logged because the rejection log limit was reached",
        );
        let untracked: Counter = registered(
            &mut registry,
            "crest_dimensions_untracked",
            "Dimension observations not exported because metrics_max_dimensions was reached",
        );
        let connections_open: LiveGauge = registered(
            &mut registry,
            "crest_connections_open",
            "Client connections open on every listener (from accept to close)",
        );
        let connections_limit: LiveGauge = registered(
            &mut registry,
            "crest_connections_limit",
            "The connection limit in force: max_connections, or less for want of file descriptors",
        );
        let connections_shed = Family::<ReasonLabels, Counter>::default();
        for reason in ["idle", "limit", "accept_error"] {
            let _ = connections_shed.get_or_create(&ReasonLabels { reason });
        }
        registry.register(
            "crest_connections_shed",
            "Connections closed to stay under the limit: idle (the longest-idle one, for a newcomer), \
             limit (a newcomer, when none was idle), accept_error (the longest-idle one, after accept failed)",
            connections_shed.clone(),
        );
        let connections_idle_closed: Counter = registered(
            &mut registry,
            "crest_connections_idle_closed",
            "Connections closed by header_read_timeout or idle_timeout with no request in flight",
        );
        let accept_errors: Counter =
            registered(&mut registry, "crest_accept_errors", "Failed accepts on any listener (EMFILE and friends)");
        let refused: Counter = registered(
            &mut registry,
            "crest_dimensions_refused",
            "Creations of a dimension refused (409) because max_dimensions was reached",
        );
        let board = Arc::new(Board { max: max_dimensions, ..Board::default() });
        registry.register_collector(Box::new(board.clone()));
        registry.register_collector(Box::new(process::Process::new()));
        Self {
            registry,
            http_requests,
            http_duration,
            http_series: series::HttpSeries::default(),
            store_duration,
            store_errors,
            store_acquire,
            handshake_failures,
            client_rejections,
            rate_limited,
            rejections,
            rejections_unlogged,
            untracked,
            connections_open,
            connections_limit,
            connections_shed,
            connections_idle_closed,
            accept_errors,
            refused,
            board,
        }
    }

    /// The OpenMetrics text of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }

    /// One HTTP request answered.
    pub fn http(&self, route: &'static str, method: &axum::http::Method, status: u16, started: Instant) {
        use axum::http::Method;
        let method = match *method {
            Method::GET => "GET",
            Method::HEAD => "HEAD",
            Method::PATCH => "PATCH",
            Method::PUT => "PUT",
            Method::POST => "POST",
            Method::DELETE => "DELETE",
            Method::OPTIONS => "OPTIONS",
            _ => "other",
        };
        let (count, duration) = self.http_series.get(route, method, status, || {
            let count = self.http_requests.get_or_create(&HttpLabels { route, method, status }).clone();
            (count, self.http_duration.get_or_create(&RouteLabels { route, method }).clone())
        });
        count.inc();
        duration.observe(started.elapsed().as_secs_f64());
    }

    /// The state of a dimension as a response showed it.
    pub fn dimension(&self, d: &Dimension) {
        let mut map = self.board.dimensions.lock().unwrap_or_else(PoisonError::into_inner);
        // One lookup for a dimension already shown (every GET after the first).
        if let Some(slot) = map.get_mut(d.id()) {
            let since = match d.status_since {
                Some(t) => t,
                None if slot.status == d.scaling_status => slot.since,
                None => SystemTime::now(),
            };
            *slot = Seen::of(d, since);
        } else if map.len() < self.board.max {
            map.insert(d.id().clone(), Seen::of(d, d.status_since.unwrap_or_else(SystemTime::now)));
        } else {
            self.untracked.inc();
        }
    }

    /// A creation was refused: the dimension limit is reached.
    pub fn dimension_refused(&self) {
        self.refused.inc();
    }

    /// Drops a deleted dimension's series.
    pub fn forget_dimension(&self, id: &DimensionId) {
        self.board.dimensions.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
    }

    /// A TLS handshake failed for `reason` (a short fixed word).
    pub fn handshake_failed(&self, reason: &'static str) {
        self.handshake_failures.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// A request was refused for want of a client certificate.
    pub fn client_rejected(&self, reason: &'static str) {
        self.client_rejections.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// A request was answered 429.
    pub fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    /// A request was answered 401, 403 or 429 for `reason` (a short fixed word).
    pub fn rejected(&self, reason: &'static str) {
        self.rejections.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// A rejected request was not logged (over the log limit).
    pub fn rejection_unlogged(&self) {
        self.rejections_unlogged.inc();
    }

    /// The number of open connections, and the limit in force.
    pub fn connections(&self, open: usize, limit: usize) {
        self.connections_open.set(i64::try_from(open).unwrap_or(i64::MAX));
        self.connections_limit.set(i64::try_from(limit).unwrap_or(i64::MAX));
    }

    /// A connection was closed to stay under the limit, for `reason`.
    pub fn connection_shed(&self, reason: &'static str) {
        self.connections_shed.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// A connection with nothing in flight was closed by its timer.
    pub fn connection_idle_closed(&self) {
        self.connections_idle_closed.inc();
    }

    /// `accept` failed on a listener.
    pub fn accept_failed(&self) {
        self.accept_errors.inc();
    }

    /// Adds gauges computed at every scrape.
    pub fn sample(&self, sampler: Arc<dyn Sampler>) {
        self.board.samplers.lock().unwrap_or_else(PoisonError::into_inner).push(sampler);
    }

    /// Creates the error series of a store's operations, so `increase()`
    /// sees the first error.
    /// The series of one operation of the store kind `store` (created, so
    /// that an error count of 0 is shown before the first error).
    pub fn store_operation(&self, store: &'static str, operation: &'static str) -> StoreOperation {
        let labels = StoreLabels { store, operation };
        StoreOperation {
            duration: self.store_duration.get_or_create(&labels).clone(),
            errors: self.store_errors.get_or_create(&labels).clone(),
        }
    }

    /// A pooled store connection was handed out after `waited`.
    pub fn store_acquired(&self, waited: std::time::Duration) {
        self.store_acquire.observe(waited.as_secs_f64());
    }
}

/// One store operation's series (`Metrics::store_operation`).
pub struct StoreOperation {
    duration: Histogram,
    errors: Counter,
}

impl StoreOperation {
    /// A get answered from the store's copy in memory: counted as taking no
    /// time (it takes well under a microsecond, the first bucket is 100 µs),
    /// without reading the clock twice on every cached GET.
    pub fn done_in_memory(&self) {
        self.duration.observe(0.0);
    }

    /// One operation done since `started`; `failed` counts an error.
    pub fn done(&self, started: Instant, failed: bool) {
        self.duration.observe(started.elapsed().as_secs_f64());
        if failed {
            self.errors.inc();
        }
    }
}

/// A new metric of type `M`, registered as `name` with `help`.
fn registered<M: prometheus_client::registry::Metric + Clone + Default>(
    registry: &mut Registry,
    name: &str,
    help: &str,
) -> M {
    let metric = M::default();
    registry.register(name, help, metric.clone());
    metric
}
