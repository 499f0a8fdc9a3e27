//! Integration tests: the real server on a real socket, for every store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod concurrency;
mod errors;
mod helpers;
mod process;
mod restart;
mod shutdown;
mod walkthrough;
