//! The plain-HTTP accept loop (API, redirect or metrics listener): hyper
//! with a header-read timeout, so a client that trickles its request head
//! (slowloris) or connects and says nothing is closed after
//! `header_read_timeout` instead of holding a connection forever. Open
//! connections finish for at most the shutdown timeout after shutdown.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// A connection builder with crest's limits (shared with the TLS listener).
pub fn builder(header_read_timeout: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    builder
}

/// The next connection on `listener`, or None once `shutdown` is cancelled.
/// Accept errors (EMFILE and friends) back off instead of spinning.
pub async fn accept(
    listener: &TcpListener,
    shutdown: &CancellationToken,
    kind: &'static str,
) -> Option<(tokio::net::TcpStream, std::net::SocketAddr)> {
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

/// Serves `router` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    shutdown: CancellationToken,
    shutdown_timeout: Duration,
) {
    let graceful = GracefulShutdown::new();
    while let Some((tcp, peer)) = accept(&listener, &shutdown, "http").await {
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let watcher = graceful.watcher();
        let stopping = shutdown.clone();
        tokio::spawn(async move {
            // hyper's header timer starts at the first byte: a client that
            // connects and sends nothing (or hangs up) is closed here, and at
            // once at shutdown (an idle pooled connection must not hold it up).
            let mut first = [0u8; 1];
            let sent = tokio::select! {
                r = tokio::time::timeout(header_read_timeout, tcp.peek(&mut first)) => matches!(r, Ok(Ok(1..))),
                () = stopping.cancelled() => false,
            };
            if !sent {
                tracing::debug!(%peer, "closed a connection that sent nothing");
                return;
            }
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                router.clone().oneshot(req.map(Body::new))
            });
            let builder = builder(header_read_timeout);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(shutdown_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!(timeout = ?shutdown_timeout, "in-flight requests did not finish in time; closing");
    }
}
