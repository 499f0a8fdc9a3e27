//! Merged `Settings` into a `Config`: addresses, the store and its options,
//! mode and demo style, dimension defaults, history, metrics, rate limit,
//! logging and timeouts. TLS and ACME are checked in `tls.rs`, tokens and
//! certificate roles in `tokens.rs`. The first invalid value is the error.

use super::settings::{DefaultSettings, Settings};
use super::tls::tls;
use super::tokens::auth;
use super::{Config, ConfigError, bad, duration};
use crate::domain::{Capacity, Defaults, DemoStyle, DimensionId, Mode};
use crate::http::rate_limit::RateLimit;
use crate::secret::Secret;
use crate::store::StoreOptions;
use crate::telemetry::LogFormat;

/// Validates merged settings, filling defaults; checks run in a fixed order
/// so the same mistakes always give the same error.
pub(super) fn config(s: &Settings) -> Result<Config, ConfigError> {
    let style = demo_style(s)?;
    let (tls, acme) = tls(s)?;
    let mut c = Config { http_api: s.http_api.unwrap_or(false), tls, acme, ..Config::default() };
    if let Some(v) = &s.listen {
        c.listen = v
            .parse()
            .map_err(|e| bad("listen", "--listen", format!("{v:?} is not an address like 127.0.0.1:8080 ({e})")))?;
    }
    if let Some(v) = &s.store {
        if v.trim().is_empty() {
            return Err(bad("store", "--store", "must not be empty; e.g. sqlite:./data/crest.db"));
        }
        crate::store::check_url(v).map_err(|problem| bad("store", "--store", problem))?;
        c.store = Secret::new(v.as_str());
    }
    store_options(s, &mut c.store_options)?;
    c.mode = mode(s, style)?;
    c.strict = s.strict.unwrap_or(false);
    c.register = s
        .register
        .iter()
        .map(|raw| DimensionId::parse(raw).map_err(|e| bad("register", "--register", format!("{raw:?}: {e}"))))
        .collect::<Result<_, _>>()?;
    c.max_dimensions = max_dimensions(s.max_dimensions)?;
    c.defaults = defaults(&s.defaults)?;
    if c.http_api && c.tls.is_none() {
        return Err(bad(
            "http_api",
            "--http-api",
            "only applies with tls_listen; without TLS the API is on --listen anyway",
        ));
    }
    history(s, &mut c.store_options)?;
    metrics(s, &mut c)?;
    c.rate_limit = rate_limit(s.rate_limit, s.rate_limit_burst)?;
    let specs: Vec<String> = s.token_spec.iter().chain(&s.token).cloned().collect();
    c.auth = auth(&specs, &s.cert_role, s.cert_default_role.as_deref())?;
    if !s.token.is_empty() {
        c.deprecated.push(
            "--token, CREST_TOKEN and the config key token are deprecated for the server's accepted tokens: \
             use --token-spec, CREST_TOKEN_SPEC or token_spec (the same NAME:ROLE:SECRET values); \
             the client's --token is the token itself"
                .to_owned(),
        );
    }
    logging(s, &mut c)?;
    timeouts(s, &mut c)?;
    c.ui = super::ui::ui(s.ui.as_deref(), &c)?;
    Ok(c)
}

/// Pool size and database timeouts.
fn store_options(s: &Settings, o: &mut StoreOptions) -> Result<(), ConfigError> {
    if let Some(n) = s.store_max_connections {
        if n == 0 {
            return Err(bad("store_max_connections", "--store-max-connections", "must be at least 1"));
        }
        o.max_connections = n;
    }
    if let Some(v) = &s.store_acquire_timeout {
        o.acquire_timeout = duration(v, "store_acquire_timeout", "--store-acquire-timeout")?;
    }
    if let Some(v) = &s.store_statement_timeout {
        o.statement_timeout = duration(v, "store_statement_timeout", "--store-statement-timeout")?;
    }
    if let Some(v) = &s.store_poll_interval {
        o.poll_interval = duration(v, "store_poll_interval", "--store-poll-interval")?;
        if o.poll_interval < std::time::Duration::from_millis(10)
            || o.poll_interval > std::time::Duration::from_secs(60)
        {
            return Err(bad("store_poll_interval", "--store-poll-interval", "must be between 10ms and 60s"));
        }
    }
    if let Some(path) = &s.store_password_file {
        if path.is_empty() {
            return Err(bad("store_password_file", "--store-password-file", "must name a file"));
        }
        o.password_file = Some(path.into());
    }
    Ok(())
}

/// Demo (with its style) or production; demo-only settings in production
/// are mistakes.
fn mode(s: &Settings, style: DemoStyle) -> Result<Mode, ConfigError> {
    let styled = s.demo_style.as_deref().is_some_and(|v| v != "steps");
    let simulate_failure = s.simulate_failure.unwrap_or(false);
    let mode = match s.mode.as_deref() {
        None | Some("demo") => Mode::Demo { simulate_failure, style },
        Some("production") => Mode::Production,
        Some(other) => {
            return Err(bad("mode", "--mode", format!("{other:?} is not one of demo, production")));
        }
    };
    if mode == Mode::Production && styled {
        return Err(bad("demo_style", "--demo-style", "only applies in demo mode; remove it or set mode = \"demo\""));
    }
    if mode == Mode::Production && simulate_failure {
        return Err(bad(
            "simulate_failure",
            "--simulate-failure",
            "only applies in demo mode; remove it or set mode = \"demo\"",
        ));
    }
    Ok(mode)
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

fn defaults(s: &DefaultSettings) -> Result<Defaults, ConfigError> {
    let mut d = Defaults::default();
    let text = |v: &Option<String>, key: &str, flag: &str| -> Result<Option<String>, ConfigError> {
        match v {
            Some(t) if t.is_empty() || t.chars().any(char::is_control) => {
                Err(bad(key, flag, "must be non-empty text without control characters"))
            }
            other => Ok(other.clone()),
        }
    };
    let cap = |v: Option<f64>, key: &str, flag: &str| -> Result<Option<Capacity>, ConfigError> {
        v.map(|x| Capacity::new(x).map_err(|x| bad(key, flag, format!("must be a finite number >= 0, got {x}"))))
            .transpose()
    };
    if let Some(v) = text(&s.version, "defaults.version", "--default-version")? {
        d.version = v.into();
    }
    if let Some(v) = text(&s.resource_name, "defaults.resource_name", "--default-resource-name")? {
        d.resource_name = v.into();
    }
    if let Some(v) = text(&s.dimension_name, "defaults.dimension_name", "--default-dimension-name")? {
        d.dimension_name = v.into();
    }
    if let Some(v) = cap(s.desired_capacity, "defaults.desired_capacity", "--default-desired-capacity")? {
        d.desired_capacity = v;
    }
    if let Some(v) = cap(s.actual_capacity, "defaults.actual_capacity", "--default-actual-capacity")? {
        d.actual_capacity = v;
    }
    Ok(d)
}

/// The dimension limit: at least 1 (there is no "unlimited": every per-id
/// structure is bounded; strict mode is the way to create none on first touch).
fn max_dimensions(n: Option<u64>) -> Result<u64, ConfigError> {
    match n {
        None => Ok(crate::service::DEFAULT_MAX_DIMENSIONS),
        Some(0) => Err(bad(
            "max_dimensions",
            "--max-dimensions",
            "must be at least 1; to create no dimensions on first touch, use strict mode (--strict)",
        )),
        Some(n) => Ok(n),
    }
}

/// How many changes, and how old, the history keeps.
fn history(s: &Settings, o: &mut StoreOptions) -> Result<(), ConfigError> {
    if let Some(n) = s.history_limit {
        if n == 0 {
            return Err(bad("history_limit", "--history-limit", "must be at least 1"));
        }
        o.retention.keep = n;
    }
    if let Some(v) = &s.history_max_age {
        o.retention.max_age = duration(v, "history_max_age", "--history-max-age")?;
    }
    Ok(())
}

fn metrics(s: &Settings, c: &mut Config) -> Result<(), ConfigError> {
    if let Some(v) = &s.metrics_listen {
        let addr = v.parse().map_err(|e| {
            bad("metrics_listen", "--metrics-listen", format!("{v:?} is not an address like 127.0.0.1:9464 ({e})"))
        })?;
        c.metrics_listen = Some(addr);
    }
    if let Some(n) = s.metrics_max_dimensions {
        c.metrics_max_dimensions = n;
    }
    Ok(())
}

/// None when off (no rate, or 0); the burst defaults to the rate, at least 1.
fn rate_limit(rate: Option<f64>, burst: Option<u32>) -> Result<Option<RateLimit>, ConfigError> {
    Ok(match (rate, burst) {
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
    })
}

/// The largest access log budget: a million lines a second.
const MAX_ACCESS_BUDGET: u32 = 1_000_000;

fn logging(s: &Settings, c: &mut Config) -> Result<(), ConfigError> {
    c.log_format = match s.log_format.as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            return Err(bad("log_format", "--log-format", format!("{other:?} is not one of text, json")));
        }
    };
    if let Some(v) = &s.log_level {
        tracing_subscriber::EnvFilter::try_new(v)
            .map_err(|e| bad("log_level", "--log-level", format!("{v:?}: {e}")))?;
        c.log_level = v.clone();
    }
    c.access_log.enabled = match s.access_log.as_deref() {
        None | Some("on") => true,
        Some("off") => false,
        Some(other) => return Err(bad("access_log", "--access-log", format!("{other:?} is not one of on, off"))),
    };
    if let Some(n) = s.log_access_budget {
        if !(1..=MAX_ACCESS_BUDGET).contains(&n) {
            return Err(bad(
                "log_access_budget",
                "--log-access-budget",
                format!(
                    "must be from 1 to {MAX_ACCESS_BUDGET} access lines a second, got {n}; use --access-log off for none"
                ),
            ));
        }
        c.access_log.budget = n;
    }
    Ok(())
}

/// The timeouts of requests and connections, and the connection limit.
fn timeouts(s: &Settings, c: &mut Config) -> Result<(), ConfigError> {
    if let Some(v) = &s.request_timeout {
        c.request_timeout = duration(v, "request_timeout", "--request-timeout")?;
    }
    if let Some(v) = &s.shutdown_timeout {
        c.shutdown_timeout = duration(v, "shutdown_timeout", "--shutdown-timeout")?;
    }
    if let Some(v) = &s.shutdown_delay {
        c.shutdown_delay = humantime::parse_duration(v).map_err(|e| {
            bad("shutdown_delay", "--shutdown-delay", format!("{v:?} is not a duration like 0s, 5s or 500ms ({e})"))
        })?;
    }
    if let Some(v) = &s.header_read_timeout {
        c.header_read_timeout = duration(v, "header_read_timeout", "--header-read-timeout")?;
    }
    if let Some(v) = &s.idle_timeout {
        c.idle_timeout = duration(v, "idle_timeout", "--idle-timeout")?;
    }
    if let Some(n) = s.max_connections {
        if n == 0 {
            return Err(bad("max_connections", "--max-connections", "must be at least 1"));
        }
        c.max_connections = n;
    }
    Ok(())
}
