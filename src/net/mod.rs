//! Connections, not HTTP: the accept loop, the per-connection limits
//! (handshake and header-read timeouts, graceful shutdown) and `ConnInfo`,
//! who is on the socket. Both listeners hand every request, with its
//! `Arc<ConnInfo>` in the extensions, to an axum `Router`; what a request
//! may do is decided above, in `http`.

pub mod identity;
mod plain;
mod tls;

pub use identity::ClientIdentity;
pub use plain::serve;
pub use tls::serve_tls;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

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
    /// Until a request head is complete (and, before the first byte, until
    /// the first byte arrives).
    pub header_read_timeout: Duration,
    /// How long open connections may finish after shutdown.
    pub shutdown_timeout: Duration,
}

/// hyper's own head limits, set above the ones crest answers in JSON
/// (`http::head`: 100 fields, 32 KiB): HTTP/1 header fields (hyper's
/// default is 100) and the HTTP/2 header list (hyper's default is 16 KiB).
/// Beyond them hyper answers 431 with an empty body; HTTP/1 heads are also
/// bounded by hyper's read buffer (about 400 KiB) and targets by 64 KiB (414).
const HYPER_MAX_HEADERS: usize = 256;
const HYPER_MAX_HEADER_LIST: u32 = 64 * 1024;

/// A connection builder with crest's limits (both listeners).
fn builder(header_read_timeout: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_read_timeout).max_headers(HYPER_MAX_HEADERS);
    builder.http2().timer(TokioTimer::new()).max_header_list_size(HYPER_MAX_HEADER_LIST);
    builder
}

/// Serves HTTP/1.1 or h2 on `io` with `router`, every request carrying
/// `info`, until the client or the graceful shutdown ends it.
async fn serve_connection<I>(io: I, info: ConnInfo, router: Router, header_read_timeout: Duration, watcher: Watcher)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (peer, info) = (info.peer, Arc::new(info));
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(info.clone());
        router.clone().oneshot(req.map(Body::new))
    });
    let builder = builder(header_read_timeout);
    if let Err(e) = watcher.watch(builder.serve_connection_with_upgrades(TokioIo::new(io), service)).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// After the listener closed: lets open connections finish for at most
/// the shutdown timeout.
async fn drain(graceful: GracefulShutdown, limits: Limits, kind: &'static str) {
    if tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!(timeout = ?limits.shutdown_timeout, listener = kind,
            "in-flight requests did not finish in time; closing");
    }
}

/// The next connection on `listener`, or None once `shutdown` is cancelled.
/// Accept errors (EMFILE and friends) back off instead of spinning.
async fn accept(
    listener: &TcpListener,
    shutdown: &CancellationToken,
    kind: &'static str,
) -> Option<(tokio::net::TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => return Some(a),
                Err(e) => {
                    tracing::warn!(error = %e, listener = kind, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = shutdown.cancelled() => return None,
        }
    }
}
