//! The HTTPS accept loop. Each handshake runs in its own task with a
//! timeout, so a client that never sends a ClientHello blocks nobody. After
//! the handshake, hyper serves HTTP/1.1 or h2 (by ALPN) with the verified
//! client certificate, if any, in the request's `ConnInfo`. Which requests
//! need a certificate is the router's business (`http::gate`).

use super::{ClientIdentity, ConnInfo, Limits, accept, builder};
use crate::metrics::Metrics;
use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

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
            let client =
                stream.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| ClientIdentity::from_der(c));
            let info = Arc::new(ConnInfo { peer, client });
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(info.clone());
                router.clone().oneshot(req.map(Body::new))
            });
            let builder = builder(limits.header_read_timeout);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "TLS connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!(timeout = ?limits.shutdown_timeout, "TLS connections did not finish in time; closing");
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
