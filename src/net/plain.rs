//! The plain-HTTP accept loop (API, redirect or metrics listener): hyper
//! with a header-read timeout, so a client that trickles its request head
//! (slowloris) or connects and says nothing is closed after
//! `header_read_timeout` instead of holding a connection forever. Open
//! connections finish for at most the shutdown timeout after shutdown.

use super::{ConnInfo, Limits, accept, drain, serve_connection};
use axum::Router;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

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
            serve_connection(tcp, ConnInfo { peer, client: None }, router, header_read_timeout, watcher).await;
        });
    }
    drop(listener);
    drain(graceful, limits, "http").await;
}
