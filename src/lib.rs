//! crest: the backend endpoint AWS Application Auto Scaling calls for a
//! custom resource. See README.md and ../shared/CONTRACT.md.

pub mod acme;
pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod fingerprint;
pub mod health_probe;
pub mod http;
pub mod metrics;
pub mod secret;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod watch;
