//! Integration tests: the real server on a real socket, for every store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access_log;
mod acme;
mod admin;
mod bounds;
#[path = "../support/certs.rs"]
mod certs;
mod cli;
mod concurrency;
mod corrupt;
mod dashboard;
mod demo_mode;
mod drain;
mod errors;
mod fd_limit;
mod handshake_log;
mod head_limits;
mod helpers;
mod hostile;
mod idle;
mod ids;
mod limits;
mod log_fields;
mod log_flood;
mod log_sink;
mod logs;
mod messages;
mod notices;
mod openapi;
mod operations;
mod paging;
#[path = "../support/pebble.rs"]
mod pebble;
#[path = "../support/pg.rs"]
mod pg;
#[path = "../support/pgbouncer.rs"]
mod pgbouncer;
#[path = "../support/ports.rs"]
mod ports;
pub mod process;
mod process_metrics;
mod readme;
mod readme_bench;
mod readme_errors;
mod replicas;
mod restart;
mod retry;
mod revisions;
mod roles;
mod rotation;
mod shutdown;
#[path = "../support/sqlite_damage.rs"]
mod sqlite_damage;
mod tls;
mod tls_trust;
mod trace_ids;
#[path = "../support/wait.rs"]
mod wait;
mod walkthrough;
mod watch;
