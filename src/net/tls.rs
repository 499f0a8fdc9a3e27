//! The HTTPS accept loop. Each handshake runs in its own task with a
//! timeout, so a client that never sends a ClientHello blocks nobody. After
//! the handshake, hyper serves HTTP/1.1 or h2 (by ALPN) with the verified
//! client certificate, if any, in the request's `ConnInfo`. Which requests
//! need a certificate is the router's business (`http::gate`).

use super::{ClientIdentity, ConnInfo, Limits, accept, drain, serve_connection};
use crate::metrics::Metrics;
use axum::Router;
use hyper_util::server::graceful::GracefulShutdown;
use std::sync::Arc;
use std::time::Duration;
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
    router: Router,
    metrics: Arc<Metrics>,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    while let Some((tcp, peer)) = accept(&listener, &shutdown, "https").await {
        let acceptor = acceptor();
        let watcher = graceful.watcher();
        let router = router.clone();
        let metrics = metrics.clone();
        let stopping = shutdown.clone();
        tokio::spawn(async move {
            let handshake = tokio::select! {
                r = tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)) => r,
                // A half-open handshake must not hold up the shutdown.
                () = stopping.cancelled() => return,
            };
            let stream = match handshake {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    metrics.handshake_failed(failure_reason(&e));
                    tracing::info!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    metrics.handshake_failed("timeout");
                    tracing::info!(%peer, timeout = ?handshake_timeout, "TLS handshake timed out");
                    return;
                }
            };
            let client = stream.get_ref().1.peer_certificates().and_then(ClientIdentity::from_chain);
            serve_connection(stream, ConnInfo { peer, client }, router, limits.header_read_timeout, watcher).await;
        });
    }
    drop(listener);
    drain(graceful, limits, "https").await;
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
