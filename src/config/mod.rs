//! One `Config` for `crest serve`: defaults < config file (`--config`,
//! `CREST_CONFIG`) < `CREST_*` environment < flags. Every value is validated
//! here, and an error names the flag, variable and file key to fix. Loading
//! has no side effects. This module owns `Config`, its entry points and
//! `ConfigError`; the schema is in `settings.rs`, the file and the layering
//! in `merge.rs`, the checks in `validate.rs`, `tls.rs` and `tokens.rs`.

use crate::acme::AcmeOptions;
use crate::auth::AuthConfig;
use crate::domain::{Defaults, DemoStyle, DimensionId, Mode};
use crate::http::rate_limit::RateLimit;
use crate::secret::Secret;
use crate::store::StoreOptions;
use crate::telemetry::{AccessLog, LogFormat};
use crate::tls::TlsOptions;

mod merge;
mod settings;
mod tls;
mod tokens;
mod ui;
mod validate;

pub use settings::{DefaultSettings, ServeArgs, Settings};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// The validated configuration of `crest serve`.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// The store URL; it may hold a password (see the `Debug` below).
    pub store: Secret,
    pub store_options: StoreOptions,
    pub mode: Mode,
    pub strict: bool,
    pub defaults: Defaults,
    pub register: Vec<DimensionId>,
    /// The most dimensions there may be for the API to create another.
    pub max_dimensions: u64,
    /// The HTTPS listener, when configured.
    pub tls: Option<TlsOptions>,
    /// Certificates from an ACME CA (with `tls`, instead of files).
    pub acme: Option<AcmeOptions>,
    /// With TLS on: serve the API on the plain listener too (else it redirects).
    pub http_api: bool,
    /// Where `/metrics` is served instead of the API listener.
    pub metrics_listen: Option<SocketAddr>,
    pub metrics_max_dimensions: usize,
    /// Per-client rate limit; None: off.
    pub rate_limit: Option<RateLimit>,
    /// Bearer tokens and certificate roles.
    pub auth: AuthConfig,
    pub log_format: LogFormat,
    pub log_level: String,
    /// The access log's switch and budget.
    pub access_log: AccessLog,
    pub request_timeout: Duration,
    pub shutdown_timeout: Duration,
    /// After SIGTERM, how long crest serves on with `/readyz` failing
    /// before its listeners close (the drain); zero: close at once.
    pub shutdown_delay: Duration,
    /// How long a client may take to send a request head (and its first
    /// request, once connected).
    pub header_read_timeout: Duration,
    /// How long a connection with nothing in flight stays open after its
    /// last response.
    pub idle_timeout: Duration,
    /// Open connections on all listeners together (lowered at start to fit
    /// the open-file limit).
    pub max_connections: usize,
    /// Deprecated spellings used, each a warning to log at start.
    pub deprecated: Vec<String>,
    /// Serve the status page (`/ui`).
    pub ui: bool,
}

/// A configuration problem; the text names the setting.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// The error for one setting, naming its file key, flag and variable.
fn bad(key: &str, flag: &str, problem: impl fmt::Display) -> ConfigError {
    let env = format!("CREST_{}", flag.trim_start_matches("--").replace('-', "_").to_uppercase());
    ConfigError(format!("config key {key} ({flag}, {env}): {problem}"))
}

/// A duration like `10s` or `500ms`, longer than zero.
fn duration(v: &str, key: &str, flag: &str) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(v)
        .map_err(|e| bad(key, flag, format!("{v:?} is not a duration like 10s or 500ms ({e})")))?;
    if d.is_zero() {
        return Err(bad(key, flag, "must be longer than 0s"));
    }
    Ok(d)
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            store: Secret::new("sqlite:./data/crest.db"),
            store_options: StoreOptions::default(),
            mode: Mode::Demo { simulate_failure: false, style: DemoStyle::Steps },
            strict: false,
            defaults: Defaults::default(),
            register: Vec::new(),
            max_dimensions: crate::service::DEFAULT_MAX_DIMENSIONS,
            tls: None,
            acme: None,
            http_api: false,
            metrics_listen: None,
            metrics_max_dimensions: crate::metrics::DEFAULT_MAX_DIMENSIONS,
            rate_limit: None,
            auth: AuthConfig::default(),
            log_format: LogFormat::Text,
            log_level: "info".into(),
            access_log: AccessLog::default(),
            request_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
            shutdown_delay: Duration::ZERO,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            deprecated: Vec::new(),
            ui: true,
        }
    }
}

/// Derived-style output, except the store URL is shown with its password
/// masked (`crate::store::redact_url`). Destructured so a new field cannot
/// be forgotten here.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            listen,
            store,
            store_options,
            mode,
            strict,
            defaults,
            register,
            max_dimensions,
            tls,
            acme,
            http_api,
            metrics_listen,
            metrics_max_dimensions,
            rate_limit,
            auth,
            log_format,
            log_level,
            access_log,
            request_timeout,
            shutdown_timeout,
            shutdown_delay,
            header_read_timeout,
            idle_timeout,
            max_connections,
            deprecated,
            ui,
        } = self;
        f.debug_struct("Config")
            .field("listen", listen)
            .field("store", &crate::store::redact_url(store.expose()))
            .field("store_options", store_options)
            .field("mode", mode)
            .field("strict", strict)
            .field("defaults", defaults)
            .field("register", register)
            .field("max_dimensions", max_dimensions)
            .field("tls", tls)
            .field("acme", acme)
            .field("http_api", http_api)
            .field("metrics_listen", metrics_listen)
            .field("metrics_max_dimensions", metrics_max_dimensions)
            .field("rate_limit", rate_limit)
            .field("auth", auth)
            .field("log_format", log_format)
            .field("log_level", log_level)
            .field("access_log", access_log)
            .field("request_timeout", request_timeout)
            .field("shutdown_timeout", shutdown_timeout)
            .field("shutdown_delay", shutdown_delay)
            .field("header_read_timeout", header_read_timeout)
            .field("idle_timeout", idle_timeout)
            .field("max_connections", max_connections)
            .field("deprecated", deprecated)
            .field("ui", ui)
            .finish()
    }
}

impl Config {
    /// Reads the config file named by `args` (if any) and merges it under
    /// the flags and environment already in `args`.
    ///
    /// # Errors
    /// An unreadable or invalid file, or an invalid value.
    pub fn load(args: &ServeArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => merge::read_file(path)?,
            None => Settings::default(),
        };
        Self::from_settings(args.settings.clone().or(file))
    }

    /// Validates merged settings, filling defaults.
    ///
    /// # Errors
    /// The first invalid value, naming its key, flag and variable.
    pub fn from_settings(s: Settings) -> Result<Self, ConfigError> {
        validate::config(&s)
    }
}

#[cfg(test)]
mod tests;
