//! The tracing subscriber: human text (`text.rs`), or one flat JSON object
//! per line for log shippers (`json.rs`). In both, every field value is
//! escaped (`escape.rs`: C0 and C1 controls, bidi controls, line and
//! paragraph separators), so a user-supplied string cannot forge a line or
//! drive a terminal. Lines go through a bounded queue to a thread that
//! writes them to stderr (`queue.rs`): logging never blocks a request, and
//! what cannot be queued or written is dropped and counted (`writer.rs`): a
//! slow or closed log pipe is never fatal. The access log has its switch
//! and per-second budget (`access.rs`). Float fields are rounded to 3
//! decimals in both formats.

pub mod access;
mod escape;
mod json;
mod queue;
pub mod request;
mod text;
mod window;
mod writer;

pub use escape::must_escape;
pub use json::{FlatJson, JsonSpanFields};
pub use queue::{CAPACITY, flush, queue_full};
pub use text::{TextFields, TextLine};
pub use window::LogWindow;
pub use writer::{Forgiving, Stderr, write_failures};

use std::io::IsTerminal;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// A float field as it is written, in both formats: rounded to 3 decimals
/// (`latency_ms=0.142`, not `0.14212300000000001`).
fn round(value: f64) -> f64 {
    if value.is_finite() && value.abs() < 1e15 { (value * 1000.0).round() / 1000.0 } else { value }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The access log: on or off, and its budget of lines a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessLog {
    pub enabled: bool,
    pub budget: u32,
}

impl Default for AccessLog {
    fn default() -> Self {
        Self { enabled: true, budget: access::DEFAULT_BUDGET }
    }
}

/// Installs the global subscriber and starts the writer thread. Log lines
/// go to stderr through the queue; those dropped are counted by
/// [`queue_full`] and [`write_failures`]. Call [`flush`] before exiting.
///
/// # Errors
/// When `filter` is not a valid filter, a subscriber is already set, or the
/// writer thread cannot start.
pub fn init(format: LogFormat, filter: &str, access_log: AccessLog) -> anyhow::Result<()> {
    let filter = level_filter(filter)?;
    access::configure(access_log.enabled, access_log.budget);
    queue::start().map_err(|e| anyhow::anyhow!("cannot start the log writer thread: {e}"))?;
    let registry = tracing_subscriber::registry().with(filter);
    let layer = tracing_subscriber::fmt::layer().with_writer(queue::Queued);
    match format {
        LogFormat::Text => registry
            .with(layer.with_ansi(std::io::stderr().is_terminal()).fmt_fields(TextFields).event_format(TextLine))
            .try_init(),
        LogFormat::Json => registry.with(layer.fmt_fields(JsonSpanFields).event_format(FlatJson)).try_init(),
    }
    .map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))
}

/// The filter of `--log-level`. Levels by target (`info`,
/// `warn,crest::access=off`) are a [`Targets`] filter, decided once per
/// call site; only a filter that names spans or fields (`[http{route=…}]`)
/// needs an [`EnvFilter`], which also looks at every span as it is
/// entered and left (a lock taken on each poll of every request).
fn level_filter(filter: &str) -> anyhow::Result<Box<dyn Layer<Registry> + Send + Sync>> {
    Ok(match targets(filter) {
        Some(targets) => Box::new(targets),
        None => Box::new(EnvFilter::try_new(filter)?),
    })
}

/// `filter` as levels by target, unless it names spans or fields.
fn targets(filter: &str) -> Option<Targets> {
    if filter.contains(['[', '{']) { None } else { filter.parse().ok() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_levels_are_targets_and_span_filters_stay_env_filters() {
        for plain in ["info", "warn,crest::access=off", "crest=debug,info", "off"] {
            assert!(targets(plain).is_some(), "{plain}");
        }
        assert!(targets("info,[http{route=/readyz}]=off").is_none());
        assert!(level_filter("info,[http{route=/readyz}]=off").is_ok());
        assert!(level_filter("info,[").is_err());
    }
}
