//! What `/metrics` computes at scrape time: the last state seen of each
//! dimension (capped), and the gauges of the `Sampler`s the app registers
//! (certificate days left, ACME state), which depend on the clock.

use crate::domain::{Dimension, DimensionId, IdMap, ScalingStatus};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

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
pub(super) struct Board {
    pub(super) max: usize,
    pub(super) dimensions: Mutex<IdMap<Seen>>,
    pub(super) samplers: Mutex<Vec<Arc<dyn Sampler>>>,
}

impl std::fmt::Debug for Board {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Board").field("max", &self.max).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub(super) struct Seen {
    pub(super) desired: f64,
    pub(super) actual: f64,
    pub(super) status: ScalingStatus,
    pub(super) since: SystemTime,
}

impl Seen {
    pub(super) fn of(d: &Dimension, since: SystemTime) -> Self {
        Self { desired: d.desired_capacity.get(), actual: d.actual_capacity.get(), status: d.scaling_status, since }
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
