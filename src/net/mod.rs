//! Connections, not HTTP: the accept loops, the per-connection limits
//! (handshake, header-read and idle timeouts, graceful shutdown), the
//! connection limit shared by every listener, and `ConnInfo`, who is on the
//! socket. Every listener hands each request, with its `Arc<ConnInfo>` in
//! the extensions, to a `Handler` (an axum `Router`, or the API service of
//! `http`); what a request may do is decided above, in `http`.

mod accept;
mod conn;
pub mod identity;
mod limit;
mod plain;
mod tls;

pub use accept::bind;
pub use identity::ClientIdentity;
pub use limit::{ConnectionLimit, Connections, RESERVED_FDS};
pub use plain::serve;
pub use tls::serve_tls;

use crate::metrics::Metrics;
use axum::extract::Request;
use axum::response::Response;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What a listener serves: each request, in its connection's task.
pub trait Handler:
    tower::Service<Request, Response = Response, Error = Infallible, Future: Send + 'static> + Clone + Send + Sync + 'static
{
}

impl<T> Handler for T where
    T: tower::Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// What a handler can know about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    /// The client certificate verified at the handshake, if the client
    /// presented one (TLS). Whether it is still trusted is judged per request.
    pub client: Option<ClientIdentity>,
}

/// The time limits of every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Until a request head is complete; and, before the first request,
    /// how long a connection may stay silent (after the handshake on TLS).
    pub header_read_timeout: Duration,
    /// How long a connection with nothing in flight stays open after its
    /// last response (HTTP/1 keep-alive, h2 with no open stream).
    pub idle_timeout: Duration,
    /// How long open connections may finish after shutdown.
    pub shutdown_timeout: Duration,
}

/// What every listener shares: the limits and the connection table.
#[derive(Debug, Clone)]
pub struct Net {
    pub limits: Limits,
    pub connections: Arc<Connections>,
}

/// How one listener's connections are told to stop: `shutdown` asks them
/// to finish what is in flight, `force` (once the shutdown timeout passed)
/// ends them.
struct Stop {
    shutdown: CancellationToken,
    force: CancellationToken,
    metrics: Arc<Metrics>,
}
