//! The tracing subscriber: human text (`text.rs`), or one flat JSON object
//! per line for log shippers (`json.rs`). In both, every field value is
//! escaped (`escape.rs`: C0 and C1 controls, bidi controls, line and
//! paragraph separators), so a user-supplied string cannot forge a line or
//! drive a terminal. Lines go to stderr through a writer that drops and
//! counts what cannot be written (`writer.rs`): a closed log pipe is never
//! fatal. Float fields are rounded to 3 decimals in both formats.

mod escape;
mod json;
mod text;
mod writer;

pub use escape::must_escape;
pub use json::FlatJson;
pub use text::TextFields;
pub use writer::{Forgiving, Stderr, write_failures};

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::JsonFields;

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

/// Installs the global subscriber. Log lines go to stderr; those that cannot
/// be written are counted by [`write_failures`].
///
/// # Errors
/// When `filter` is not a valid filter or a subscriber is already set.
pub fn init(format: LogFormat, filter: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter)?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(Stderr);
    match format {
        LogFormat::Text => {
            builder.with_ansi(std::io::stderr().is_terminal()).with_target(true).fmt_fields(TextFields).try_init()
        }
        LogFormat::Json => builder.fmt_fields(JsonFields::new()).event_format(FlatJson).try_init(),
    }
    .map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))
}
