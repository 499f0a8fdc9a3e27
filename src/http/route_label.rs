//! The route template of a request as a `'static` label (metrics, the
//! request's log fields): one of the router's own path strings, which the
//! router registers when it is built. A leaf, so that the router and the
//! gate, which both label requests, do not import each other.

use std::sync::OnceLock;

static PATHS: OnceLock<Vec<&'static str>> = OnceLock::new();

/// Registers the router's path templates (the first registration stays:
/// every router has the same ones).
pub(super) fn register(paths: impl FnOnce() -> Vec<&'static str>) {
    PATHS.get_or_init(paths);
}

/// `route` as one of the registered templates, or `unmatched`.
pub(super) fn intern(route: &str) -> &'static str {
    PATHS.get().and_then(|paths| paths.iter().find(|p| **p == route).copied()).unwrap_or("unmatched")
}
