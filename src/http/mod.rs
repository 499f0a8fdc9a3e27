//! The HTTP edge: the router (`router`), its front middleware (with the
//! caller's trace ids, `trace_context`) and the client-certificate gate, the handlers (dimensions, admin, history,
//! health and operations, `/v1/status`), the status page (`ui`), the one error type (`error`) and the wire types
//! (`wire`). `openapi` documents the handlers; only the router, which serves
//! `/openapi.json`, refers to it.

pub mod access;
pub mod admin;
pub mod auth;
pub mod bodies;
pub mod certificate;
pub mod dimensions;
pub mod error;
pub mod extract;
pub mod gate;
pub mod head;
pub mod health;
pub mod history;
mod hot;
pub mod openapi;
pub mod rate_limit;
pub mod redirect;
pub mod request_id;
mod route_label;
pub mod router;
pub mod state;
pub mod status;
pub mod trace_context;
pub mod ui;
pub mod wire;

pub use router::{ApiService, metrics_router, route_paths, router};
pub use state::{AppState, Shared};
