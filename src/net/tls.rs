//! The HTTPS accept loop. Each connection is admitted under the shared
//! connection limit, and its handshake runs in its own task with a
//! timeout, so a client that never sends a ClientHello blocks nobody. After
//! the handshake, hyper serves HTTP/1.1 or h2 (by ALPN) with crest's
//! timeouts and the verified client certificate, if any, in the request's
//! `ConnInfo`. Which requests need a certificate is the router's business
//! (`http::gate`).

use super::accept::Acceptor;
use super::conn::serve_connection;
use super::{ClientIdentity, ConnInfo, Handler, Net};
use crate::telemetry::LogWindow;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// Accepts TLS connections until `shutdown`, each with the acceptor that
/// `acceptor` gives at that moment (the certificates in force), then lets
/// open connections finish for at most the shutdown timeout.
pub async fn serve_tls(
    listener: TcpListener,
    acceptor: impl Fn() -> TlsAcceptor,
    handshake_timeout: Duration,
    router: impl Handler,
    net: Net,
    shutdown: CancellationToken,
) {
    let mut accepting = Acceptor::new(listener, "https", net.connections.clone(), shutdown);
    let (stop, limits) = (Arc::new(accepting.stop()), net.limits);
    while let Some((tcp, peer, slot, task)) = accepting.next().await {
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor();
        let (router, stop) = (router.clone(), stop.clone());
        tokio::spawn(async move {
            let _task = task;
            let handshake = tokio::select! {
                r = tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)) => r,
                // A half-open handshake must not hold up the shutdown, nor a
                // newcomer when the table is full.
                () = stop.shutdown.cancelled() => return,
                () = slot.activity.shed.cancelled() => return,
            };
            let stream = match handshake {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    stop.metrics.handshake_failed(failure_reason(&e));
                    log_failure(|| tracing::info!(%peer, error = %e, "TLS handshake failed"));
                    return;
                }
                Err(_) => {
                    stop.metrics.handshake_failed("timeout");
                    let timeout = humantime::format_duration(handshake_timeout);
                    log_failure(|| tracing::info!(%peer, %timeout, "TLS handshake timed out"));
                    return;
                }
            };
            let client = stream.get_ref().1.peer_certificates().and_then(ClientIdentity::from_chain);
            serve_connection(stream, ConnInfo { peer, client }, router, limits, &slot, &stop).await;
        });
    }
    accepting.drain(limits).await;
}

/// Failed handshakes logged per second at most: anyone who can connect can
/// fail one, as fast as they like. The others are counted in
/// `crest_tls_handshake_failures_total` and, in the log, by the next line.
pub const HANDSHAKE_FAILURES_LOGGED_PER_SECOND: u32 = 10;

/// Writes a failed handshake's line with `log`, within
/// [`HANDSHAKE_FAILURES_LOGGED_PER_SECOND`].
fn log_failure(log: impl FnOnce()) {
    static WINDOW: Mutex<LogWindow> = Mutex::new(LogWindow::new());
    let admitted = WINDOW
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .admit(Instant::now(), HANDSHAKE_FAILURES_LOGGED_PER_SECOND);
    match admitted {
        Some(0) => log(),
        Some(unlogged) => {
            tracing::info!(
                count = unlogged,
                limit_per_second = HANDSHAKE_FAILURES_LOGGED_PER_SECOND,
                "TLS handshake failures not logged"
            );
            log();
        }
        None => {}
    }
}

/// A short, fixed word for why a handshake failed (a metric label).
fn failure_reason(e: &std::io::Error) -> &'static str {
    use rustls::{AlertDescription, CertificateError, Error as TlsError};
    let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<TlsError>()) else {
        return if e.kind() == std::io::ErrorKind::UnexpectedEof { "eof" } else { "io" };
    };
    match tls {
        TlsError::NoCertificatesPresented => "no_certificate",
        TlsError::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            "certificate_expired"
        }
        TlsError::InvalidCertificate(CertificateError::UnknownIssuer) => "unknown_issuer",
        TlsError::InvalidCertificate(_) => "bad_certificate",
        TlsError::AlertReceived(AlertDescription::UnknownCA | AlertDescription::BadCertificate) => {
            "client_distrusts_server"
        }
        TlsError::AlertReceived(_) => "alert_received",
        TlsError::PeerIncompatible(_) | TlsError::NoApplicationProtocol => "incompatible",
        _ => "protocol",
    }
}
