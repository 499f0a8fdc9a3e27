//! Prometheus metrics (`/metrics`, OpenMetrics text from `prometheus-client`):
//! the registry and what the parts of crest report into it — HTTP requests
//! and latency by route template, per-dimension gauges (capped at
//! `metrics_max_dimensions` series), store latency and errors, TLS handshake
//! failures. Gauges that depend on the clock (status age, certificate days
//! left, ACME state) are computed at scrape time, by `Sampler`s that the app
//! registers (TLS, ACME): the registry observes, it owns nothing above the
//! domain.

use crate::domain::{Dimension, DimensionId, ScalingStatus};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
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
    store_duration: HistogramFamily<StoreLabels>,
    store_errors: Family<StoreLabels, Counter>,
    handshake_failures: Family<ReasonLabels, Counter>,
    client_rejections: Family<ReasonLabels, Counter>,
    rate_limited: Counter,
    rejections: Family<ReasonLabels, Counter>,
    rejections_unlogged: Counter,
    untracked: Counter,
    refused: Counter,
    board: Arc<Board>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Gauges computed at scrape time by a part of crest (certificate days
/// left, ACME renewal state), registered with [`Metrics::sample`].
pub trait Sampler: Send + Sync {
    /// The gauges as of `now`.
    fn gauges(&self, now: SystemTime) -> Vec<Gauge>;
}

/// One gauge family at scrape time.
#[derive(Debug, Clone, PartialEq)]
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    pub value: GaugeValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum GaugeValue {
    /// A gauge without labels; None writes nothing.
    Plain(Option<f64>),
    /// Series by labels (the descriptor is written even with no series).
    Labelled(Vec<(Vec<(&'static str, String)>, f64)>),
}

/// The last state seen of each dimension, and the samplers, read at scrape
/// time.
#[derive(Default)]
struct Board {
    max: usize,
    dimensions: Mutex<HashMap<DimensionId, Seen>>,
    samplers: Mutex<Vec<Arc<dyn Sampler>>>,
}

impl std::fmt::Debug for Board {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Board").field("max", &self.max).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
struct Seen {
    desired: f64,
    actual: f64,
    status: ScalingStatus,
    since: SystemTime,
}

impl Metrics {
    /// A registry with every metric; at most `max_dimensions` dimensions get
    /// their own series.
    pub fn new(max_dimensions: usize) -> Self {
        let mut registry = Registry::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "crest_http_requests",
            "HTTP requests by route template, method and status code",
            http_requests.clone(),
        );
        let http_duration = HistogramFamily::<RouteLabels>::new_with_constructor(latency_histogram);
        registry.register(
            "crest_http_request_duration_seconds",
            "Time from request to response head, by route template and method",
            http_duration.clone(),
        );
        let store_duration = HistogramFamily::<StoreLabels>::new_with_constructor(latency_histogram);
        registry.register(
            "crest_store_operation_duration_seconds",
            "Latency of state store operations",
            store_duration.clone(),
        );
        let store_errors = Family::<StoreLabels, Counter>::default();
        registry.register("crest_store_errors", "State store operations that failed", store_errors.clone());
        let handshake_failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "crest_tls_handshake_failures",
            "TLS handshakes that failed, by reason",
            handshake_failures.clone(),
        );
        let client_rejections = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "crest_tls_client_rejections",
            "Requests refused for want of a verified client certificate",
            client_rejections.clone(),
        );
        let rate_limited = Counter::default();
        registry.register("crest_rate_limited", "Requests answered 429 by the rate limiter", rate_limited.clone());
        let rejections = Family::<ReasonLabels, Counter>::default();
        registry.register("crest_http_rejections", "Requests answered 401, 403 or 429, by reason", rejections.clone());
        let rejections_unlogged = Counter::default();
        registry.register(
            "crest_log_rejections_suppressed",
            "Rejected requests not logged because the rejection log limit was reached",
            rejections_unlogged.clone(),
        );
        let untracked = Counter::default();
        registry.register(
            "crest_dimensions_untracked",
            "Dimension observations not exported because metrics_max_dimensions was reached",
            untracked.clone(),
        );
        let refused = Counter::default();
        registry.register(
            "crest_dimensions_refused",
            "Creations of a dimension refused (409) because max_dimensions was reached",
            refused.clone(),
        );
        let board = Arc::new(Board { max: max_dimensions, ..Board::default() });
        registry.register_collector(Box::new(board.clone()));
        Self {
            registry,
            http_requests,
            http_duration,
            store_duration,
            store_errors,
            handshake_failures,
            client_rejections,
            rate_limited,
            rejections,
            rejections_unlogged,
            untracked,
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
        let labels = HttpLabels { route, method, status };
        self.http_requests.get_or_create(&labels).inc();
        let labels = RouteLabels { route, method };
        self.http_duration.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
    }

    /// The state of a dimension as a response showed it.
    pub fn dimension(&self, d: &Dimension) {
        let mut map = self.board.dimensions.lock().unwrap_or_else(PoisonError::into_inner);
        let since = match (map.get(d.id()), d.status_since) {
            (_, Some(t)) => t,
            (Some(seen), None) if seen.status == d.scaling_status => seen.since,
            _ => SystemTime::now(),
        };
        let seen = Seen {
            desired: d.desired_capacity.get(),
            actual: d.actual_capacity.get(),
            status: d.scaling_status,
            since,
        };
        if let Some(slot) = map.get_mut(d.id()) {
            *slot = seen;
        } else if map.len() < self.board.max {
            map.insert(d.id().clone(), seen);
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

    /// Adds gauges computed at every scrape.
    pub fn sample(&self, sampler: Arc<dyn Sampler>) {
        self.board.samplers.lock().unwrap_or_else(PoisonError::into_inner).push(sampler);
    }

    /// Creates the error series of a store's operations, so `increase()`
    /// sees the first error.
    pub fn store_operations(&self, store: &'static str, operations: &[&'static str]) {
        for &operation in operations {
            let _ = self.store_errors.get_or_create(&StoreLabels { store, operation });
        }
    }

    /// One store operation done since `started`; `failed` counts an error.
    pub fn store_op(&self, store: &'static str, operation: &'static str, started: Instant, failed: bool) {
        let labels = StoreLabels { store, operation };
        self.store_duration.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
        if failed {
            self.store_errors.get_or_create(&labels).inc();
        }
    }
}

fn gauge<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (L, f64)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A gauge without labels (no `{}` in the text); `None` writes nothing.
fn plain_gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: Option<f64>,
) -> Result<(), std::fmt::Error> {
    if let Some(value) = value {
        ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)?;
    }
    Ok(())
}

impl Collector for Board {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let now = SystemTime::now();
        let dims: Vec<(DimensionId, Seen)> = {
            let map = self.dimensions.lock().unwrap_or_else(PoisonError::into_inner);
            map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        gauge(
            &mut encoder,
            "crest_build_info",
            "crest's version",
            [(vec![("version", env!("CARGO_PKG_VERSION"))], 1.0)],
        )?;
        plain_gauge(
            &mut encoder,
            "crest_dimensions_tracked",
            "Dimensions with their own series",
            Some(dims.len() as f64),
        )?;
        let one = |f: fn(&Seen) -> f64| dims.iter().map(move |(id, s)| (vec![("dimension", id.as_str())], f(s)));
        gauge(&mut encoder, "crest_dimension_desired_capacity", "desiredCapacity as last served", one(|s| s.desired))?;
        gauge(&mut encoder, "crest_dimension_actual_capacity", "actualCapacity as last served", one(|s| s.actual))?;
        let statuses =
            [ScalingStatus::Pending, ScalingStatus::InProgress, ScalingStatus::Successful, ScalingStatus::Failed];
        gauge(
            &mut encoder,
            "crest_dimension_scaling_status",
            "scalingStatus as last served: 1 for the current status, 0 for the others",
            dims.iter().flat_map(|(id, s)| {
                statuses.iter().map(move |st| {
                    (vec![("dimension", id.as_str()), ("status", st.as_str())], f64::from(u8::from(*st == s.status)))
                })
            }),
        )?;
        gauge(
            &mut encoder,
            "crest_dimension_status_age_seconds",
            "Seconds since the dimension's scalingStatus last changed",
            one(|s| SystemTime::now().duration_since(s.since).map_or(0.0, |d| d.as_secs_f64())),
        )?;
        let samplers = self.samplers.lock().unwrap_or_else(PoisonError::into_inner).clone();
        for g in samplers.iter().flat_map(|s| s.gauges(now)) {
            match g.value {
                GaugeValue::Plain(value) => plain_gauge(&mut encoder, g.name, g.help, value)?,
                GaugeValue::Labelled(series) => {
                    let series = series
                        .iter()
                        .map(|(labels, v)| (labels.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(), *v));
                    gauge(&mut encoder, g.name, g.help, series)?;
                }
            }
        }
        Ok(())
    }
}
