//! `App`: wires everything. Opens the store (timed by the metrics
//! decorator), creates the configured dimensions, registers the scrape-time
//! samplers (TLS, ACME, the log's dropped lines), binds every listener, and serves until the
//! shutdown token is cancelled.

use crate::acme::Acme;
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::{DemoStyle, Mode, Policy};
use crate::http::rate_limit::RateLimiter;
use crate::http::{ApiService, AppState, Shared, metrics_router, redirect, router};
use crate::metrics::{Gauge, GaugeValue, Metrics, Sampler};
use crate::net::{self, ConnectionLimit, Connections, Limits, Net};
use crate::service::Dimensions;
use crate::store::{self, Store};
use crate::tls::{TlsState, reload};
use crate::watch::Feed;
use anyhow::Context;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::util::Either;

/// A crest server, bound and ready to run.
pub struct App {
    listener: TcpListener,
    router: Either<ApiService, Router>,
    tls: Option<(TcpListener, Arc<TlsState>, ApiService)>,
    metrics: Option<TcpListener>,
    metrics_state: Arc<Metrics>,
    feed: Arc<Feed>,
    acme: Option<Arc<Acme>>,
    store: Arc<dyn Store>,
    net: Net,
    /// Cancelled at shutdown: `/readyz` fails from then on.
    draining: CancellationToken,
    shutdown_delay: Duration,
}

impl App {
    /// Opens the store, creates the dimensions of `register`, binds `listen`.
    ///
    /// # Errors
    /// The store cannot be opened, or the address cannot be bound.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, Clock::system()).await
    }

    /// As [`App::build`], with the time from `clock` (tests move it by hand).
    ///
    /// # Errors
    /// As [`App::build`].
    pub async fn build_with(mut config: Config, clock: Clock) -> anyhow::Result<Self> {
        let metrics = Arc::new(Metrics::new(config.metrics_max_dimensions));
        config.store_options.clock = clock.clone();
        let store =
            store::instrument(store::open(config.store.expose(), &config.store_options).await?, metrics.clone());
        let policy = Policy { mode: config.mode, strict: config.strict, defaults: config.defaults.clone() };
        let feed = Arc::new(Feed::default());
        let dimensions = Arc::new(Dimensions::new(
            store.clone(),
            policy,
            config.max_dimensions,
            feed.clone(),
            metrics.clone(),
            clock.clone(),
        ));
        let bound = match create_configured(&dimensions, &config).await {
            Ok(()) => Self::bind(&config, dimensions, feed, metrics, clock).await,
            Err(e) => Err(e),
        };
        match bound {
            Ok(app) => Ok(app),
            Err(e) => {
                store.close().await;
                Err(e)
            }
        }
    }

    async fn bind(
        config: &Config,
        dimensions: Arc<Dimensions>,
        feed: Arc<Feed>,
        metrics: Arc<Metrics>,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        let store = dimensions.store().clone();
        let tls_state = config.tls.as_ref().map(|t| TlsState::load(t.clone())).transpose()?.map(Arc::new);
        let acme = match (&config.tls, &tls_state) {
            (Some(_), Some(state)) => config.acme.clone().map(|a| Arc::new(Acme::new(a, store.clone(), state.clone()))),
            _ => None,
        };
        metrics.sample(Arc::new(LogSampler));
        metrics.sample(Arc::new(FeedSampler(feed.clone())));
        tls_state.iter().for_each(|tls| metrics.sample(tls.clone()));
        acme.iter().for_each(|acme| metrics.sample(acme.clone()));
        let challenges = acme.as_ref().and(tls_state.as_ref()).map(|t| t.challenges());
        let shared = Shared {
            dimensions,
            challenges,
            metrics: metrics.clone(),
            limiter: config.rate_limit.map(|l| Arc::new(RateLimiter::new(l))),
            metrics_on_api: config.metrics_listen.is_none(),
            auth: Arc::new(config.auth.clone()),
            auth_enabled: config.auth.enabled(false),
            require_certificate: false,
            tls: tls_state.clone(),
            max_wait: config.request_timeout.saturating_sub(Duration::from_secs(1)).max(Duration::from_millis(100)),
            clock,
            draining: CancellationToken::new(),
            acme: acme.clone(),
            ui: config.ui,
            bodies: Arc::default(),
        };
        // On HTTPS, verified client certificates identify callers too; the
        // plain listener (behind a trusted proxy with http_api) has only tokens.
        // With bearer tokens configured, a request without a certificate goes
        // on to the authentication, which asks for a token (default deny).
        let verifies = config.tls.as_ref().is_some_and(|t| t.verifies_clients());
        let https_state = AppState::new(Shared {
            auth_enabled: config.auth.enabled(verifies),
            require_certificate: verifies && config.auth.tokens.is_empty(),
            ..shared.clone()
        });
        let draining = shared.draining.clone();
        let state = AppState::new(shared);
        let https_api = router(https_state, config.request_timeout);
        let api = router(state.clone(), config.request_timeout);
        let tls = match (&config.tls, tls_state) {
            (Some(tls), Some(state)) => {
                let listener = net::bind(tls.listen).with_context(|| {
                    format!("tls_listen: cannot bind {} (--tls-listen, CREST_TLS_LISTEN)", tls.listen)
                })?;
                Some((listener, state, https_api))
            }
            _ => None,
        };
        let listener = net::bind(config.listen)
            .with_context(|| format!("listen: cannot bind {} (--listen, CREST_LISTEN)", config.listen))?;
        let metrics_listener = match config.metrics_listen {
            Some(addr) => Some(net::bind(addr).with_context(|| {
                format!("metrics_listen: cannot bind {addr} (--metrics-listen, CREST_METRICS_LISTEN)")
            })?),
            None => None,
        };
        let plain = match &tls {
            Some((l, _, _)) if !config.http_api => Either::Right(redirect::router(l.local_addr()?.port(), state)),
            _ => Either::Left(api),
        };
        // Descriptors for the database pool are kept free too (Postgres).
        let reserved = net::RESERVED_FDS + u64::from(config.store_options.max_connections);
        let limit = ConnectionLimit::new(config.max_connections, reserved);
        let connections = Arc::new(Connections::new(limit, metrics.clone()));
        let tls_listen = tls.as_ref().map(|(l, _, _)| l.local_addr()).transpose()?;
        let metrics_listen = metrics_listener.as_ref().map(TcpListener::local_addr).transpose()?;
        let mode = ModeFields::of(config.mode);
        tracing::info!(
            listen = %listener.local_addr()?, tls_listen = tls_listen.map(tracing::field::display),
            metrics_listen = metrics_listen.map(tracing::field::display),
            store = %crate::store::redact_url(config.store.expose()), mode = %mode.name,
            demo_style = mode.style.map(tracing::field::display), demo_step = mode.step, demo_rate = mode.rate,
            simulate_failure = mode.simulate_failure, strict = config.strict,
            rate_limit = config.rate_limit.map(|l| tracing::field::display(format!("{}/s burst {}", l.rate, l.burst))),
            max_connections = limit.max, nofile = limit.nofile,
            "crest ready"
        );
        if limit.max < limit.configured {
            tracing::info!(
                max_connections = limit.max,
                configured = limit.configured,
                nofile = limit.nofile,
                reserved,
                "connection limit lowered to fit the open-file limit (ulimit -n)"
            );
        }
        warn_if_open(config);
        Ok(Self {
            listener,
            router: plain,
            tls,
            metrics: metrics_listener,
            metrics_state: metrics,
            feed,
            acme,
            store,
            draining,
            shutdown_delay: config.shutdown_delay,
            net: Net {
                limits: Limits {
                    header_read_timeout: config.header_read_timeout,
                    idle_timeout: config.idle_timeout,
                    shutdown_timeout: config.shutdown_timeout,
                },
                connections,
            },
        })
    }

    /// The ACME manager, when certificates come from ACME.
    pub fn acme(&self) -> Option<Arc<Acme>> {
        self.acme.clone()
    }

    /// The bound HTTPS address, when TLS is on.
    ///
    /// # Errors
    /// Only if the OS cannot report it.
    pub fn tls_addr(&self) -> std::io::Result<Option<SocketAddr>> {
        self.tls.as_ref().map(|(l, _, _)| l.local_addr()).transpose()
    }

    /// The bound `/metrics` address, when `metrics_listen` is set.
    ///
    /// # Errors
    /// Only if the OS cannot report it.
    pub fn metrics_addr(&self) -> std::io::Result<Option<SocketAddr>> {
        self.metrics.as_ref().map(TcpListener::local_addr).transpose()
    }

    /// The bound address (port 0 resolved).
    ///
    /// # Errors
    /// Only if the OS cannot report it.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` is cancelled; then drains (`/readyz` fails
    /// at once, serving goes on for the shutdown delay), closes the
    /// listeners, lets in-flight requests finish for at most the shutdown
    /// timeout and closes the store.
    ///
    /// # Errors
    /// The server failed.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        // Everything below stops on `stop`, which the drain cancels.
        let stop = CancellationToken::new();
        let mut tasks = vec![tokio::spawn(crate::shutdown::drain(
            shutdown,
            self.draining.clone(),
            self.shutdown_delay,
            stop.clone(),
        ))];
        let shutdown = stop;
        tasks.push(tokio::spawn({
            let (store, feed, shutdown) = (self.store.clone(), self.feed.clone(), shutdown.clone());
            async move { store.follow(feed, shutdown).await }
        }));
        tasks.push(tokio::spawn({
            // Open event streams end at shutdown instead of holding it up.
            let (feed, shutdown) = (self.feed.clone(), shutdown.clone());
            async move {
                shutdown.cancelled().await;
                feed.close();
            }
        }));
        if let Some(acme) = self.acme.clone() {
            tasks.push(tokio::spawn(acme.run(shutdown.clone())));
        }
        if let Some((listener, state, router)) = self.tls {
            tasks.push(tokio::spawn(reload::run(state.clone(), shutdown.clone())));
            let timeout = state.handshake_timeout();
            let acceptor = move || state.acceptor();
            let serve = net::serve_tls(listener, acceptor, timeout, router, self.net.clone(), shutdown.clone());
            tasks.push(tokio::spawn(serve));
        } else {
            tasks.push(tokio::spawn(reload::ignore_hangup(shutdown.clone())));
        }
        if let Some(listener) = self.metrics {
            let router = metrics_router(self.metrics_state.clone());
            tasks.push(tokio::spawn(net::serve(listener, router, self.net.clone(), shutdown.clone())));
        }
        let server = tokio::spawn(net::serve(self.listener, self.router, self.net, shutdown.clone()));
        let result = server.await;
        for task in tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "background task failed");
            }
        }
        self.store.close().await;
        tracing::info!("crest stopped");
        result.context("server task failed")
    }
}

/// The mode as log fields of plain words and numbers: `mode=demo
/// demo_style=gradual demo_step=0.5 simulate_failure=false`, or
/// `mode=production` alone.
struct ModeFields {
    name: &'static str,
    style: Option<&'static str>,
    step: Option<f64>,
    rate: Option<f64>,
    simulate_failure: Option<bool>,
}

impl ModeFields {
    fn of(mode: Mode) -> Self {
        let Mode::Demo { simulate_failure, style } = mode else {
            return Self { name: "production", style: None, step: None, rate: None, simulate_failure: None };
        };
        let (style, step, rate) = match style {
            DemoStyle::Steps => ("steps", None, None),
            DemoStyle::Gradual { step } => ("gradual", Some(step.get()), None),
            DemoStyle::Timed { rate } => ("timed", None, Some(rate.get())),
        };
        Self { name: "demo", style: Some(style), step, rate, simulate_failure: Some(simulate_failure) }
    }
}

/// Logs a loud warning for each non-loopback address that serves the API
/// without any authentication (no client certificate verification).
fn warn_if_open(config: &Config) {
    let mut open = Vec::new();
    if !config.auth.tokens.is_empty() {
        return;
    }
    match &config.tls {
        None => open.push(config.listen),
        Some(tls) => {
            if config.http_api {
                open.push(config.listen);
            }
            if !tls.verifies_clients() {
                open.push(tls.listen);
            }
        }
    }
    for addr in open.into_iter().filter(|a| !a.ip().is_loopback()) {
        tracing::warn!(
            listen = %addr,
            "SECURITY: the API on {addr} is open to anyone who can reach it: no token or client certificate is required, \
             so anyone can change desiredCapacity; configure --token, --client-cert-pin or --client-ca, \
             or listen on 127.0.0.1 behind an authenticating proxy"
        );
    }
}

/// Creates each configured dimension if it does not exist yet (strict mode's
/// way to know ids up front). Existing dimensions are left alone.
async fn create_configured(dimensions: &Dimensions, config: &Config) -> anyhow::Result<()> {
    for id in &config.register {
        dimensions.create_if_absent(id).await.with_context(|| format!("register: cannot create {id:?}"))?;
    }
    Ok(())
}

/// `crest_log_lines_dropped_total{reason}` and `crest_log_write_failures`:
/// log lines dropped because the log's queue was full or stderr refused
/// them (counted by `telemetry`, which may not know the registry).
struct LogSampler;

impl Sampler for LogSampler {
    fn gauges(&self, _now: SystemTime) -> Vec<Gauge> {
        let failed = crate::telemetry::write_failures() as f64;
        let full = crate::telemetry::queue_full() as f64;
        vec![
            Gauge {
                name: "crest_log_lines_dropped_total",
                help: "Log lines dropped since start: queue_full (the log's queue was full: the sink is too slow), \
                       write_failed (stderr could not be written: a closed pipe, a full disk)",
                value: GaugeValue::Labelled(vec![
                    (vec![("reason", "queue_full".to_owned())], full),
                    (vec![("reason", "write_failed".to_owned())], failed),
                ]),
            },
            Gauge {
                name: "crest_log_write_failures",
                help: "Log lines dropped since start because stderr could not be written (a closed pipe, a full disk)",
                value: GaugeValue::Plain(Some(failed)),
            },
        ]
    }
}

/// `crest_watch_remembered`: the dimensions whose newest revision the
/// change feed remembers; `crest_watchers`: who waits on it now (`watch`
/// may not know the registry).
struct FeedSampler(Arc<Feed>);

impl Sampler for FeedSampler {
    fn gauges(&self, _now: SystemTime) -> Vec<Gauge> {
        vec![
            Gauge {
                name: "crest_watch_remembered",
                help: "Dimensions whose newest published revision the change feed remembers (bounded)",
                value: GaugeValue::Plain(Some(self.0.remembered() as f64)),
            },
            Gauge {
                name: "crest_watchers",
                help: "Long-polls and event streams waiting for changes now",
                value: GaugeValue::Plain(Some(self.0.watchers() as f64)),
            },
        ]
    }
}
