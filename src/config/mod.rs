//! One `Config` for `crest serve`: defaults < config file (`--config`,
//! `CREST_CONFIG`) < `CREST_*` environment < flags. Every value is validated
//! here, and an error names the flag, variable and file key to fix. Loading
//! has no side effects.

use crate::auth::{AuthConfig, CertMatch, Role, Token};
use crate::domain::{Capacity, Defaults, DemoStyle, DimensionId, Mode};
use crate::fingerprint::Fingerprint;
use crate::http::rate_limit::RateLimit;
use crate::store::StoreOptions;

mod tls;

use clap::Args;
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tls::tls;
pub use tls::{AcmeChallenge, AcmeConfig, ClientAuth, LETSENCRYPT, LETSENCRYPT_STAGING, Secret, TlsConfig};

/// Flags of `crest serve`. Each is also `CREST_<NAME>` and a config file key.
#[derive(Debug, Default, Clone, Args)]
pub struct ServeArgs {
    /// TOML config file (every key documented in config/crest.toml).
    #[arg(long, env = "CREST_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub settings: Settings,
}

/// Settings that can come from flags, environment or the config file.
#[derive(Debug, Default, Clone, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address for the HTTP API [default: 127.0.0.1:8080].
    #[arg(long, env = "CREST_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// State store: memory:, file:DIR or sqlite:PATH [default: sqlite:./data/crest.db].
    #[arg(long, env = "CREST_STORE", value_name = "URL", hide_env_values = true)]
    pub store: Option<String>,
    /// Database pool size (postgres) [default: 10].
    #[arg(long, env = "CREST_STORE_MAX_CONNECTIONS", value_name = "N")]
    pub store_max_connections: Option<u32>,
    /// How long a request waits for a database connection before 503 [default: 5s].
    #[arg(long, env = "CREST_STORE_ACQUIRE_TIMEOUT", value_name = "DURATION")]
    pub store_acquire_timeout: Option<String>,
    /// The longest one SQL statement or lock wait may take (postgres) [default: 5s].
    #[arg(long, env = "CREST_STORE_STATEMENT_TIMEOUT", value_name = "DURATION")]
    pub store_statement_timeout: Option<String>,
    /// demo (GETs advance a simulated scaling) or production (the scaler reports by PATCH) [default: demo].
    #[arg(long, env = "CREST_MODE", value_name = "MODE")]
    pub mode: Option<String>,
    /// Demo mode: end simulated scalings in Failed instead of Successful.
    #[arg(long, env = "CREST_SIMULATE_FAILURE", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new(), value_name = "BOOL")]
    pub simulate_failure: Option<bool>,
    /// Demo mode: steps (Pending -> InProgress -> Successful), gradual (actual moves by --demo-step per GET) or timed (by --demo-rate per second) [default: steps].
    #[arg(long, env = "CREST_DEMO_STYLE", value_name = "STYLE")]
    pub demo_style: Option<String>,
    /// gradual style: units actualCapacity moves per GET [default: 1].
    #[arg(long, env = "CREST_DEMO_STEP", value_name = "NUMBER")]
    pub demo_step: Option<f64>,
    /// timed style: units actualCapacity moves per second [default: 1].
    #[arg(long, env = "CREST_DEMO_RATE", value_name = "NUMBER")]
    pub demo_rate: Option<f64>,
    /// Unknown ids answer 404 instead of being created on first touch.
    #[arg(long, env = "CREST_STRICT", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new(), value_name = "BOOL")]
    pub strict: Option<bool>,
    /// Dimensions to create at start if missing (repeatable; env: comma-separated).
    #[arg(long = "register", env = "CREST_REGISTER", value_name = "ID", value_delimiter = ',')]
    #[serde(default)]
    pub register: Vec<String>,
    #[command(flatten)]
    #[serde(default)]
    pub defaults: DefaultSettings,
    /// HTTPS listener address, e.g. 0.0.0.0:443 (needs --tls-cert and --tls-key).
    #[arg(long, env = "CREST_TLS_LISTEN", value_name = "ADDR")]
    pub tls_listen: Option<String>,
    /// Server certificate chain (PEM, leaf first).
    #[arg(long, env = "CREST_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<String>,
    /// Server private key (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC).
    #[arg(long, env = "CREST_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<String>,
    /// Accept client certificates that chain to the CAs in FILE (repeatable; env: comma-separated).
    #[arg(long = "client-ca", env = "CREST_CLIENT_CA", value_name = "FILE", value_delimiter = ',')]
    #[serde(default)]
    pub client_ca: Vec<String>,
    /// Accept exactly the certificates in FILE, e.g. API Gateway's (repeatable; env: comma-separated).
    #[arg(long = "client-cert-pin", env = "CREST_CLIENT_CERT_PIN", value_name = "FILE", value_delimiter = ',')]
    #[serde(default)]
    pub client_cert_pin: Vec<String>,
    /// optional: the API needs a verified certificate, /healthz does not; required: reject at the handshake [default: optional].
    #[arg(long, env = "CREST_CLIENT_AUTH", value_name = "MODE")]
    pub client_auth: Option<String>,
    /// With TLS on, keep serving the API on the plain --listen port too (behind a trusted proxy).
    #[arg(long, env = "CREST_HTTP_API", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new(), value_name = "BOOL")]
    pub http_api: Option<bool>,
    /// Longest time a TLS handshake may take [default: 10s].
    #[arg(long, env = "CREST_TLS_HANDSHAKE_TIMEOUT", value_name = "DURATION")]
    pub tls_handshake_timeout: Option<String>,
    /// How often certificate files are checked for changes (SIGHUP reloads at once) [default: 10s].
    #[arg(long, env = "CREST_TLS_RELOAD_INTERVAL", value_name = "DURATION")]
    pub tls_reload_interval: Option<String>,
    /// Get the HTTPS certificate from ACME for this domain (repeatable; env: comma-separated).
    #[arg(long = "acme-domain", env = "CREST_ACME_DOMAIN", value_name = "NAME", value_delimiter = ',')]
    #[serde(default)]
    pub acme_domain: Vec<String>,
    /// Contact e-mail for the ACME account (expiry notices).
    #[arg(long, env = "CREST_ACME_EMAIL", value_name = "EMAIL")]
    pub acme_email: Option<String>,
    /// ACME directory URL, or letsencrypt / letsencrypt-staging [default: letsencrypt].
    #[arg(long, env = "CREST_ACME_DIRECTORY", value_name = "URL")]
    pub acme_directory: Option<String>,
    /// Trust this root (PEM) for the ACME directory's own HTTPS (private CA, Pebble).
    #[arg(long, env = "CREST_ACME_CA_ROOT", value_name = "FILE")]
    pub acme_ca_root: Option<String>,
    /// http-01 or tls-alpn-01 [default: tls-alpn-01 when tls_listen is on port 443, else http-01].
    #[arg(long, env = "CREST_ACME_CHALLENGE", value_name = "TYPE")]
    pub acme_challenge: Option<String>,
    /// External account binding key id (for CAs that need EAB).
    #[arg(long, env = "CREST_ACME_EAB_KID", value_name = "KID")]
    pub acme_eab_kid: Option<String>,
    /// External account binding HMAC key, base64url (secret; prefer the environment).
    #[arg(long, env = "CREST_ACME_EAB_HMAC", value_name = "KEY", hide_env_values = true)]
    pub acme_eab_hmac: Option<String>,
    /// First retry delay after a failed ACME attempt; doubles up to 6h [default: 1m].
    #[arg(long, env = "CREST_ACME_RETRY_MIN", value_name = "DURATION")]
    pub acme_retry_min: Option<String>,
    /// How often the store is checked for a certificate renewed by another replica [default: 1m].
    #[arg(long, env = "CREST_ACME_POLL_INTERVAL", value_name = "DURATION")]
    pub acme_poll_interval: Option<String>,
    /// A bearer token NAME:ROLE:SECRET, SECRET being sha256:HEX, file:PATH or env:VAR (repeatable; env: comma-separated). Roles: aas, scaler, admin, read.
    #[arg(
        long = "token",
        env = "CREST_TOKEN",
        value_name = "NAME:ROLE:SECRET",
        value_delimiter = ',',
        hide_env_values = true
    )]
    #[serde(default)]
    pub token: Vec<String>,
    /// Give verified client certificates matching MATCH (sha256:HEX or a subject like CN=scaler) a role: MATCH=ROLE (repeatable).
    #[arg(long = "cert-role", env = "CREST_CERT_ROLE", value_name = "MATCH=ROLE", value_delimiter = ';')]
    #[serde(default)]
    pub cert_role: Vec<String>,
    /// Role of verified client certificates no --cert-role names [default: aas].
    #[arg(long, env = "CREST_CERT_DEFAULT_ROLE", value_name = "ROLE")]
    pub cert_default_role: Option<String>,
    /// Changes kept per dimension in its history [default: 1000].
    #[arg(long, env = "CREST_HISTORY_LIMIT", value_name = "N")]
    pub history_limit: Option<u64>,
    /// History older than this is not shown and is deleted on the next change [default: 30days].
    #[arg(long, env = "CREST_HISTORY_MAX_AGE", value_name = "DURATION")]
    pub history_max_age: Option<String>,
    /// Serve /metrics on this address only (not on the API listener), e.g. 127.0.0.1:9464.
    #[arg(long, env = "CREST_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Dimensions with their own metric series; more are counted, not shown [default: 1000].
    #[arg(long, env = "CREST_METRICS_MAX_DIMENSIONS", value_name = "N")]
    pub metrics_max_dimensions: Option<usize>,
    /// Requests per second per client (certificate or IP); 0 turns limiting off [default: 0].
    #[arg(long, env = "CREST_RATE_LIMIT", value_name = "PER_SECOND")]
    pub rate_limit: Option<f64>,
    /// Requests a client may send at once before the rate applies [default: the rate, at least 1].
    #[arg(long, env = "CREST_RATE_LIMIT_BURST", value_name = "N")]
    pub rate_limit_burst: Option<u32>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "CREST_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Log filter, e.g. info or crest=debug,sqlx=warn [default: info].
    #[arg(long, env = "CREST_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Longest time one request may take, e.g. 30s [default: 30s].
    #[arg(long, env = "CREST_REQUEST_TIMEOUT", value_name = "DURATION")]
    pub request_timeout: Option<String>,
    /// A client must send a request's head within this (slowloris, idle connections) [default: 10s].
    #[arg(long, env = "CREST_HEADER_READ_TIMEOUT", value_name = "DURATION")]
    pub header_read_timeout: Option<String>,
    /// On SIGTERM/SIGINT, how long in-flight requests may finish [default: 10s].
    #[arg(long, env = "CREST_SHUTDOWN_TIMEOUT", value_name = "DURATION")]
    pub shutdown_timeout: Option<String>,
}

/// Values for dimensions created on first touch (`[defaults]` in the file).
#[derive(Debug, Default, Clone, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultSettings {
    /// version of new dimensions [default: MyVersion].
    #[arg(long = "default-version", env = "CREST_DEFAULT_VERSION", value_name = "TEXT")]
    pub version: Option<String>,
    /// resourceName of new dimensions [default: MyService].
    #[arg(long = "default-resource-name", env = "CREST_DEFAULT_RESOURCE_NAME", value_name = "TEXT")]
    pub resource_name: Option<String>,
    /// dimensionName of new dimensions [default: MyDimension].
    #[arg(long = "default-dimension-name", env = "CREST_DEFAULT_DIMENSION_NAME", value_name = "TEXT")]
    pub dimension_name: Option<String>,
    /// desiredCapacity of new dimensions [default: 1.0].
    #[arg(long = "default-desired-capacity", env = "CREST_DEFAULT_DESIRED_CAPACITY", value_name = "NUMBER")]
    pub desired_capacity: Option<f64>,
    /// actualCapacity of new dimensions [default: 1.0].
    #[arg(long = "default-actual-capacity", env = "CREST_DEFAULT_ACTUAL_CAPACITY", value_name = "NUMBER")]
    pub actual_capacity: Option<f64>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A store URL whose credentials never reach `Debug` or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl(String);

impl StoreUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with credentials: only for opening the store.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", crate::store::redact_url(&self.0))
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::store::redact_url(&self.0))
    }
}

/// The validated configuration of `crest serve`.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub store: StoreUrl,
    pub store_options: StoreOptions,
    pub mode: Mode,
    pub strict: bool,
    pub defaults: Defaults,
    pub register: Vec<DimensionId>,
    /// The HTTPS listener, when configured.
    pub tls: Option<TlsConfig>,
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
    pub request_timeout: Duration,
    pub shutdown_timeout: Duration,
    /// How long a client may take to send a request head.
    pub header_read_timeout: Duration,
}

/// A configuration problem; the text names the setting.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

pub(crate) fn bad(key: &str, flag: &str, problem: impl fmt::Display) -> ConfigError {
    let env = format!("CREST_{}", flag.trim_start_matches("--").replace('-', "_").to_uppercase());
    ConfigError(format!("config key {key} ({flag}, {env}): {problem}"))
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            store: StoreUrl::new("sqlite:./data/crest.db"),
            store_options: StoreOptions::default(),
            mode: Mode::Demo { simulate_failure: false, style: DemoStyle::Steps },
            strict: false,
            defaults: Defaults::default(),
            register: Vec::new(),
            tls: None,
            http_api: false,
            metrics_listen: None,
            metrics_max_dimensions: crate::metrics::DEFAULT_MAX_DIMENSIONS,
            rate_limit: None,
            auth: AuthConfig::default(),
            log_format: LogFormat::Text,
            log_level: "info".into(),
            request_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
        }
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
            Some(path) => Self::read_file(path)?,
            None => Settings::default(),
        };
        Self::from_settings(args.settings.clone().or(file))
    }

    fn read_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("config file {} (--config, CREST_CONFIG): {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))
    }

    /// Validates merged settings, filling defaults.
    ///
    /// # Errors
    /// The first invalid value, naming its key, flag and variable.
    pub fn from_settings(s: Settings) -> Result<Self, ConfigError> {
        let style = demo_style(&s)?;
        let styled = s.demo_style.as_deref().is_some_and(|v| v != "steps");
        let mut c = Self { http_api: s.http_api.unwrap_or(false), tls: tls(&s)?, ..Self::default() };
        if let Some(v) = s.listen {
            c.listen = v
                .parse()
                .map_err(|e| bad("listen", "--listen", format!("{v:?} is not an address like 127.0.0.1:8080 ({e})")))?;
        }
        if let Some(v) = s.store {
            if v.trim().is_empty() {
                return Err(bad("store", "--store", "must not be empty; e.g. sqlite:./data/crest.db"));
            }
            c.store = StoreUrl::new(v);
        }
        if let Some(n) = s.store_max_connections {
            if n == 0 {
                return Err(bad("store_max_connections", "--store-max-connections", "must be at least 1"));
            }
            c.store_options.max_connections = n;
        }
        if let Some(v) = s.store_acquire_timeout {
            c.store_options.acquire_timeout = duration(&v, "store_acquire_timeout", "--store-acquire-timeout")?;
        }
        if let Some(v) = s.store_statement_timeout {
            c.store_options.statement_timeout = duration(&v, "store_statement_timeout", "--store-statement-timeout")?;
        }
        let simulate_failure = s.simulate_failure.unwrap_or(false);
        c.mode = match s.mode.as_deref() {
            None | Some("demo") => Mode::Demo { simulate_failure, style },
            Some("production") => Mode::Production,
            Some(other) => {
                return Err(bad("mode", "--mode", format!("{other:?} is not one of demo, production")));
            }
        };
        if c.mode == Mode::Production && styled {
            return Err(bad(
                "demo_style",
                "--demo-style",
                "only applies in demo mode; remove it or set mode = \"demo\"",
            ));
        }
        if c.mode == Mode::Production && simulate_failure {
            return Err(bad(
                "simulate_failure",
                "--simulate-failure",
                "only applies in demo mode; remove it or set mode = \"demo\"",
            ));
        }
        c.strict = s.strict.unwrap_or(false);
        c.register = s
            .register
            .iter()
            .map(|raw| DimensionId::parse(raw).map_err(|e| bad("register", "--register", format!("{raw:?}: {e}"))))
            .collect::<Result<_, _>>()?;
        c.defaults = defaults(s.defaults)?;

        if c.http_api && c.tls.is_none() {
            return Err(bad(
                "http_api",
                "--http-api",
                "only applies with tls_listen; without TLS the API is on --listen anyway",
            ));
        }
        if let Some(n) = s.history_limit {
            if n == 0 {
                return Err(bad("history_limit", "--history-limit", "must be at least 1"));
            }
            c.store_options.retention.keep = n;
        }
        if let Some(v) = s.history_max_age {
            c.store_options.retention.max_age = duration(&v, "history_max_age", "--history-max-age")?;
        }
        if let Some(v) = s.metrics_listen {
            let addr = v.parse().map_err(|e| {
                bad("metrics_listen", "--metrics-listen", format!("{v:?} is not an address like 127.0.0.1:9464 ({e})"))
            })?;
            c.metrics_listen = Some(addr);
        }
        if let Some(n) = s.metrics_max_dimensions {
            c.metrics_max_dimensions = n;
        }
        c.rate_limit = match (s.rate_limit, s.rate_limit_burst) {
            (Some(rate), _) if !rate.is_finite() || rate < 0.0 => {
                return Err(bad("rate_limit", "--rate-limit", format!("must be a number >= 0 (0 = off), got {rate}")));
            }
            (Some(rate), burst) if rate > 0.0 => {
                if burst == Some(0) {
                    return Err(bad("rate_limit_burst", "--rate-limit-burst", "must be at least 1"));
                }
                Some(RateLimit { rate, burst: burst.unwrap_or_else(|| (rate.ceil() as u32).max(1)) })
            }
            (_, Some(_)) => {
                return Err(bad(
                    "rate_limit_burst",
                    "--rate-limit-burst",
                    "only applies with rate_limit > 0; set --rate-limit too",
                ));
            }
            _ => None,
        };
        c.auth = auth(&s.token, &s.cert_role, s.cert_default_role.as_deref())?;
        c.log_format = match s.log_format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(bad("log_format", "--log-format", format!("{other:?} is not one of text, json")));
            }
        };
        if let Some(v) = s.log_level {
            tracing_subscriber::EnvFilter::try_new(&v)
                .map_err(|e| bad("log_level", "--log-level", format!("{v:?}: {e}")))?;
            c.log_level = v;
        }
        if let Some(v) = s.request_timeout {
            c.request_timeout = duration(&v, "request_timeout", "--request-timeout")?;
        }
        if let Some(v) = s.shutdown_timeout {
            c.shutdown_timeout = duration(&v, "shutdown_timeout", "--shutdown-timeout")?;
        }
        if let Some(v) = s.header_read_timeout {
            c.header_read_timeout = duration(&v, "header_read_timeout", "--header-read-timeout")?;
        }
        Ok(c)
    }
}

pub(crate) fn duration(v: &str, key: &str, flag: &str) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(v)
        .map_err(|e| bad(key, flag, format!("{v:?} is not a duration like 10s or 500ms ({e})")))?;
    if d.is_zero() {
        return Err(bad(key, flag, "must be longer than 0s"));
    }
    Ok(d)
}

fn demo_style(s: &Settings) -> Result<DemoStyle, ConfigError> {
    let amount = |v: Option<f64>, key: &str, flag: &str| -> Result<Capacity, ConfigError> {
        let x = v.unwrap_or(1.0);
        if !(x.is_finite() && x > 0.0) {
            return Err(bad(key, flag, format!("must be a number > 0, got {x}")));
        }
        Capacity::new(x).map_err(|x| bad(key, flag, format!("must be a number > 0, got {x}")))
    };
    let style = match s.demo_style.as_deref() {
        None | Some("steps") => DemoStyle::Steps,
        Some("gradual") => DemoStyle::Gradual { step: amount(s.demo_step, "demo_step", "--demo-step")? },
        Some("timed") => DemoStyle::Timed { rate: amount(s.demo_rate, "demo_rate", "--demo-rate")? },
        Some(other) => {
            return Err(bad("demo_style", "--demo-style", format!("{other:?} is not one of steps, gradual, timed")));
        }
    };
    if s.demo_step.is_some() && !matches!(style, DemoStyle::Gradual { .. }) {
        return Err(bad("demo_step", "--demo-step", "only applies with demo_style = \"gradual\""));
    }
    if s.demo_rate.is_some() && !matches!(style, DemoStyle::Timed { .. }) {
        return Err(bad("demo_rate", "--demo-rate", "only applies with demo_style = \"timed\""));
    }
    Ok(style)
}

fn role(raw: &str, key: &str, flag: &str) -> Result<Role, ConfigError> {
    Role::parse(raw).ok_or_else(|| bad(key, flag, format!("{raw:?} is not a role; use aas, scaler, admin or read")))
}

/// Tokens (`NAME:ROLE:sha256:HEX | file:PATH | env:VAR`) and certificate
/// roles (`MATCH=ROLE`). A token's secret is hashed at once and never kept.
fn auth(tokens: &[String], cert_roles: &[String], default_role: Option<&str>) -> Result<AuthConfig, ConfigError> {
    let mut out = AuthConfig::default();
    for spec in tokens {
        let err = |problem: String| bad("token", "--token", problem);
        let mut parts = spec.splitn(3, ':');
        let (name, role_text, secret) = match (parts.next(), parts.next(), parts.next()) {
            (Some(n), Some(r), Some(s)) => (n, r, s),
            _ => return Err(err("must be NAME:ROLE:SECRET, e.g. scaler:scaler:file:/run/secrets/scaler-token".into())),
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
            return Err(err(format!("token name {name:?} must be 1 or more of A-Z a-z 0-9 . _ -")));
        }
        let role = role(role_text, "token", "--token")?;
        let sha256 = if let Some(hex) = secret.strip_prefix("sha256:") {
            Fingerprint::parse(hex)
                .map_err(|_| err(format!("token {name}: sha256: needs 64 hex digits (crest token prints them)")))?
        } else {
            let value = if let Some(path) = secret.strip_prefix("file:") {
                std::fs::read_to_string(path).map_err(|e| err(format!("token {name}: cannot read {path}: {e}")))?
            } else if let Some(var) = secret.strip_prefix("env:") {
                std::env::var(var).map_err(|_| err(format!("token {name}: environment variable {var} is not set")))?
            } else {
                return Err(err(format!(
                    "token {name}: the secret must be sha256:HEX, file:PATH or env:VAR (never the token itself on a command line)"
                )));
            };
            let value = value.trim();
            if value.len() < 16 {
                return Err(err(format!(
                    "token {name}: the token must be at least 16 characters (crest token makes one)"
                )));
            }
            crate::auth::hash(value)
        };
        if out.tokens.iter().any(|t| t.name == name) {
            return Err(err(format!("token name {name:?} is used twice")));
        }
        out.tokens.push(Token { name: name.to_owned(), role, sha256 });
    }
    for spec in cert_roles {
        let (matcher, role_text) = spec.rsplit_once('=').ok_or_else(|| {
            bad("cert_role", "--cert-role", format!("{spec:?} must be MATCH=ROLE, e.g. CN=scaler=scaler"))
        })?;
        let role = role(role_text, "cert_role", "--cert-role")?;
        let matcher = match matcher.strip_prefix("sha256:") {
            Some(hex) => CertMatch::Sha256(
                Fingerprint::parse(hex).map_err(|_| bad("cert_role", "--cert-role", "sha256: needs 64 hex digits"))?,
            ),
            None if matcher.is_empty() => return Err(bad("cert_role", "--cert-role", "the match must not be empty")),
            None => CertMatch::Subject(matcher.to_owned()),
        };
        out.cert_roles.push((matcher, role));
    }
    out.cert_default_role = default_role.map(|r| role(r, "cert_default_role", "--cert-default-role")).transpose()?;
    Ok(out)
}

fn defaults(s: DefaultSettings) -> Result<Defaults, ConfigError> {
    let mut d = Defaults::default();
    let text = |v: Option<String>, key: &str, flag: &str| -> Result<Option<String>, ConfigError> {
        match v {
            Some(t) if t.is_empty() || t.chars().any(char::is_control) => {
                Err(bad(key, flag, "must be non-empty text without control characters"))
            }
            other => Ok(other),
        }
    };
    let cap = |v: Option<f64>, key: &str, flag: &str| -> Result<Option<Capacity>, ConfigError> {
        v.map(|x| Capacity::new(x).map_err(|x| bad(key, flag, format!("must be a finite number >= 0, got {x}"))))
            .transpose()
    };
    if let Some(v) = text(s.version, "defaults.version", "--default-version")? {
        d.version = v;
    }
    if let Some(v) = text(s.resource_name, "defaults.resource_name", "--default-resource-name")? {
        d.resource_name = v;
    }
    if let Some(v) = text(s.dimension_name, "defaults.dimension_name", "--default-dimension-name")? {
        d.dimension_name = v;
    }
    if let Some(v) = cap(s.desired_capacity, "defaults.desired_capacity", "--default-desired-capacity")? {
        d.desired_capacity = v;
    }
    if let Some(v) = cap(s.actual_capacity, "defaults.actual_capacity", "--default-actual-capacity")? {
        d.actual_capacity = v;
    }
    Ok(d)
}

impl Settings {
    /// Field by field: `self` where set, else `lower`.
    fn or(self, lower: Settings) -> Settings {
        Settings {
            listen: self.listen.or(lower.listen),
            store: self.store.or(lower.store),
            store_max_connections: self.store_max_connections.or(lower.store_max_connections),
            store_acquire_timeout: self.store_acquire_timeout.or(lower.store_acquire_timeout),
            store_statement_timeout: self.store_statement_timeout.or(lower.store_statement_timeout),
            mode: self.mode.or(lower.mode),
            simulate_failure: self.simulate_failure.or(lower.simulate_failure),
            demo_style: self.demo_style.or(lower.demo_style),
            demo_step: self.demo_step.or(lower.demo_step),
            demo_rate: self.demo_rate.or(lower.demo_rate),
            strict: self.strict.or(lower.strict),
            register: if self.register.is_empty() { lower.register } else { self.register },
            defaults: DefaultSettings {
                version: self.defaults.version.or(lower.defaults.version),
                resource_name: self.defaults.resource_name.or(lower.defaults.resource_name),
                dimension_name: self.defaults.dimension_name.or(lower.defaults.dimension_name),
                desired_capacity: self.defaults.desired_capacity.or(lower.defaults.desired_capacity),
                actual_capacity: self.defaults.actual_capacity.or(lower.defaults.actual_capacity),
            },
            tls_listen: self.tls_listen.or(lower.tls_listen),
            tls_cert: self.tls_cert.or(lower.tls_cert),
            tls_key: self.tls_key.or(lower.tls_key),
            client_ca: if self.client_ca.is_empty() { lower.client_ca } else { self.client_ca },
            client_cert_pin: if self.client_cert_pin.is_empty() { lower.client_cert_pin } else { self.client_cert_pin },
            client_auth: self.client_auth.or(lower.client_auth),
            http_api: self.http_api.or(lower.http_api),
            tls_handshake_timeout: self.tls_handshake_timeout.or(lower.tls_handshake_timeout),
            acme_domain: if self.acme_domain.is_empty() { lower.acme_domain } else { self.acme_domain },
            acme_email: self.acme_email.or(lower.acme_email),
            acme_directory: self.acme_directory.or(lower.acme_directory),
            acme_ca_root: self.acme_ca_root.or(lower.acme_ca_root),
            acme_challenge: self.acme_challenge.or(lower.acme_challenge),
            acme_eab_kid: self.acme_eab_kid.or(lower.acme_eab_kid),
            acme_eab_hmac: self.acme_eab_hmac.or(lower.acme_eab_hmac),
            acme_retry_min: self.acme_retry_min.or(lower.acme_retry_min),
            acme_poll_interval: self.acme_poll_interval.or(lower.acme_poll_interval),
            tls_reload_interval: self.tls_reload_interval.or(lower.tls_reload_interval),
            token: if self.token.is_empty() { lower.token } else { self.token },
            cert_role: if self.cert_role.is_empty() { lower.cert_role } else { self.cert_role },
            cert_default_role: self.cert_default_role.or(lower.cert_default_role),
            history_limit: self.history_limit.or(lower.history_limit),
            history_max_age: self.history_max_age.or(lower.history_max_age),
            metrics_listen: self.metrics_listen.or(lower.metrics_listen),
            metrics_max_dimensions: self.metrics_max_dimensions.or(lower.metrics_max_dimensions),
            rate_limit: self.rate_limit.or(lower.rate_limit),
            rate_limit_burst: self.rate_limit_burst.or(lower.rate_limit_burst),
            log_format: self.log_format.or(lower.log_format),
            log_level: self.log_level.or(lower.log_level),
            request_timeout: self.request_timeout.or(lower.request_timeout),
            shutdown_timeout: self.shutdown_timeout.or(lower.shutdown_timeout),
            header_read_timeout: self.header_read_timeout.or(lower.header_read_timeout),
        }
    }
}

#[cfg(test)]
mod tests;
