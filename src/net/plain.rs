//! The plain-HTTP accept loop (API, redirect or metrics listener). Each
//! connection is admitted under the shared connection limit and served
//! with crest's timeouts: a client that trickles its request head
//! (slowloris), connects and says nothing, or keeps an idle connection is
//! closed instead of holding it forever. Open connections finish for at
//! most the shutdown timeout after shutdown.

use super::accept::Acceptor;
use super::conn::serve_connection;
use super::{ConnInfo, Handler, Net};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves `router` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, router: impl Handler, net: Net, shutdown: CancellationToken) {
    let mut acceptor = Acceptor::new(listener, "http", net.connections.clone(), shutdown);
    let (stop, limits) = (Arc::new(acceptor.stop()), net.limits);
    while let Some((tcp, peer, slot, task)) = acceptor.next().await {
        let _ = tcp.set_nodelay(true);
        let (router, stop) = (router.clone(), stop.clone());
        tokio::spawn(async move {
            let _task = task;
            serve_connection(tcp, ConnInfo { peer, client: None }, router, limits, &slot, &stop).await;
        });
    }
    acceptor.drain(limits).await;
}
