//! The plain-HTTP accept loop (API, redirect or metrics listener): hyper
//! with a header-read timeout, so a client that trickles its request head
//! (slowloris) or connects and says nothing is closed after
//! `header_read_timeout` instead of holding a connection forever. Open
//! connections finish for at most the shutdown timeout after shutdown.

use super::{ConnInfo, Limits, accept, builder};
use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Serves `router` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, shutdown: CancellationToken) {
    let graceful = GracefulShutdown::new();
    let header_read_timeout = limits.header_read_timeout;
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
            let info = Arc::new(ConnInfo { peer, client: None });
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(info.clone());
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
    if tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!(timeout = ?limits.shutdown_timeout, "in-flight requests did not finish in time; closing");
    }
}
