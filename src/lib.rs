//! crest: the backend endpoint AWS Application Auto Scaling calls for a
//! custom resource. README.md describes the API (the resource, modes,
//! errors, ids) and how to run it.
//!
//! # Layers
//!
//! Every `use crate::…` points down this list, never up or sideways into a
//! circle (`python3 ../shared/tools/layers.py src --files` checks it in CI):
//!
//! ```text
//!  main, cli    the command line: run the server, or a client command
//!  app          wires everything: store (+ metrics decorator), samplers, listeners, tasks
//!  config       flags > CREST_* env > TOML > defaults, turned into each module's options
//!  http         router, front middleware, certificate gate, handlers, error + wire types;
//!               openapi documents the handlers (only the router, which serves it, names it)
//!  acme         orders and renews certificates; installs them into the tls resolver
//!  tls          rustls config, the resolver (live certificate + ACME challenge table),
//!               client-certificate verification, reload, certificate gauges
//!  net          accept loops, connection timeouts, TLS handshakes, ConnInfo
//!  service      Dimensions: the one write path (read → transition → store → publish →
//!               metric → log)
//!  store        trait Store; memory | file | sqlite | postgres; the metrics decorator
//!  metrics      the registry and counters; scrape-time gauges come from Samplers
//!  leaves       fingerprint (SHA-256), secret, clock, watch (change feed), auth (roles,
//!               distinguished names), telemetry (logs), shutdown (signals), health_probe,
//!               cause (why a connection failed, from an error's source chain)
//!  domain       pure: ids, capacities, patches, lifecycle, registration, history; takes the time
//! ```
//!
//! Why this cut: data enters at the edges and meets a pure core, so the
//! edges sit on top. `net` is below `tls` so that accepting and timing out
//! connections needs no certificate files, and below `http` so that no
//! connection code builds an HTTP answer (the "no certificate → 403" gate is
//! an HTTP layer). `tls` and `acme` meet only at the resolver. `service` is
//! above `store` because a change is more than a write (watchers, metrics,
//! the change log), and below `http` because every handler shares it.
//! `metrics` sits under `store` so the store's decorator can report to it,
//! which is why the registry may not know TLS or ACME: they register
//! `Sampler`s instead.
//!
//! # One PATCH, socket to disk
//!
//! 1. `net/plain.rs` (or `net/tls.rs`, after the handshake) accepts the
//!    connection and puts its `ConnInfo` on every request.
//! 2. `http/router.rs`: on HTTPS `http/gate.rs` first; then the front middleware
//!    (request id, span, rate limit, `http/auth.rs`, timeout, log, metrics).
//! 3. `http/extract.rs` parses the id, `If-Match` and body (`domain/patch.rs`).
//! 4. `http/dimensions.rs::patch` checks the caller's role, calls `service.rs`.
//! 5. `service.rs` reads the store and runs `domain/lifecycle.rs::apply`;
//!    nothing changes → answered at once. Otherwise, in a task of its own:
//! 6. `Store::update` re-reads and re-applies under the store's lock or
//!    transaction (e.g. `store/sqlite/writer.rs`: one fsync per group).
//! 7. `service.rs` publishes to `watch.rs`, updates metrics, logs the change;
//!    the handler answers 200 with the ETag (`http/wire.rs`).

pub mod acme;
pub mod app;
pub mod auth;
pub mod cause;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod fingerprint;
pub mod health_probe;
pub mod http;
pub mod metrics;
pub mod net;
pub mod secret;
pub mod service;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod watch;
