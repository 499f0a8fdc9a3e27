//! The status page (`/ui`) in real headless Chromium, driven over
//! WebDriver (chromedriver), against a real crest on a real socket: what a
//! person sees, live updates, the chart, the forms, tokens, every store,
//! HTTPS with a client certificate, accessibility (axe-core) and the
//! page's weight and hosts. `CREST_UI_SCREENSHOTS=update cargo test --test
//! ui` rewrites the README's screenshots (tests/ui/screenshots/).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
#[path = "../support/certs.rs"]
#[allow(dead_code)]
mod certs;
mod dimension;
mod headers;
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
mod overview;
mod page;
#[path = "../support/pg.rs"]
mod pg;
#[path = "../support/pgbouncer.rs"]
#[allow(dead_code)]
mod pgbouncer;
#[path = "../support/ports.rs"]
mod ports;
mod stores;
mod tls;
#[path = "../support/wait.rs"]
mod wait;
mod webdriver;
