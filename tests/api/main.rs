//! Integration tests: the real server on a real socket, for every store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod concurrency;
mod errors;
mod helpers;
#[path = "../support/pg.rs"]
mod pg;
pub mod process;
mod replicas;
mod restart;
mod shutdown;
mod walkthrough;
