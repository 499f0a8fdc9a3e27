//! SIGINT/SIGTERM -> one cancellation token; then the drain: `/readyz`
//! fails at once, serving goes on for the shutdown delay, then the token
//! every serving task watches is cancelled.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Returns a token cancelled on the first SIGINT or SIGTERM. The handlers
/// are installed before it returns: a signal that comes at any time after
/// (even before the server runs) stops crest gracefully instead of killing it.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    let signal = listen();
    tokio::spawn(async move {
        signal.await;
        tracing::info!("shutdown signal received");
        trigger.cancel();
    });
    token
}

/// Installs the handlers now; the future ends at the first signal.
#[cfg(unix)]
fn listen() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let install = |kind: SignalKind, name: &'static str| {
        signal(kind).map_err(|e| tracing::error!(error = %e, signal = name, "cannot listen for a signal")).ok()
    };
    let (mut int, mut term) = (install(SignalKind::interrupt(), "SIGINT"), install(SignalKind::terminate(), "SIGTERM"));
    async move {
        let recv = async |s: &mut Option<tokio::signal::unix::Signal>| match s {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        };
        tokio::select! {
            () = recv(&mut int) => {}
            () = recv(&mut term) => {}
        }
    }
}

#[cfg(not(unix))]
fn listen() -> impl Future<Output = ()> {
    async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    }
}

/// The drain: once `shutdown` is cancelled, `draining` (`/readyz` answers
/// 503) at once, and `stop` (the listeners close) `delay` later.
pub async fn drain(shutdown: CancellationToken, draining: CancellationToken, delay: Duration, stop: CancellationToken) {
    shutdown.cancelled().await;
    draining.cancel();
    if !delay.is_zero() {
        tracing::info!(shutdown_delay = %humantime::format_duration(delay),
            "draining: /readyz answers 503; serving goes on until the delay is over, then the listeners close");
        tokio::time::sleep(delay).await;
    }
    tracing::info!("closing the listeners; finishing in-flight requests");
    stop.cancel();
}
