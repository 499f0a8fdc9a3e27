//! The HTTPS accept loop. Each handshake runs in its own task with a
//! timeout, so a client that never sends a ClientHello blocks nobody. After
//! the handshake, hyper serves HTTP/1.1 or h2 (by ALPN). Requests without a
//! verified client certificate only reach the public paths (default deny,
//! so no spelling of a path can slip past the check).

use super::{ClientIdentity, TlsState};
use crate::http::error::ApiError;
use crate::metrics::Metrics;
use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How long a rejected request's body may take to arrive.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// What a handler can know about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    /// The verified client certificate, if the client presented one.
    pub client: Option<ClientIdentity>,
}

/// Paths served without a client certificate: health checks and ACME
/// HTTP-01 tokens. Everything else needs one when verification is on.
pub fn is_public(path: &str) -> bool {
    if path == "/healthz" || path == "/readyz" {
        return true;
    }
    path.strip_prefix("/.well-known/acme-challenge/").is_some_and(|token| {
        !token.is_empty() && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Accepts TLS connections until `shutdown`, then lets open connections
/// finish for at most `shutdown_timeout`.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<TlsState>,
    router: Router,
    metrics: Arc<Metrics>,
    tokens: bool,
    shutdown: CancellationToken,
    (header_read_timeout, shutdown_timeout): (Duration, Duration),
) {
    let graceful = GracefulShutdown::new();
    // With bearer tokens configured, a request without a certificate goes on
    // to the router, whose authentication asks for a token (default deny).
    let verifies = tls.settings().verifies_clients() && !tokens;
    while let Some((tcp, peer)) = crate::http::plain::accept(&listener, &shutdown, "https").await {
        let acceptor = tls.acceptor();
        let timeout = tls.handshake_timeout();
        let watcher = graceful.watcher();
        let router = router.clone();
        let metrics = metrics.clone();
        let stopping = shutdown.clone();
        tokio::spawn(async move {
            let handshake = tokio::select! {
                r = tokio::time::timeout(timeout, acceptor.accept(tcp)) => r,
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
                    tracing::info!(%peer, ?timeout, "TLS handshake timed out");
                    return;
                }
            };
            let client =
                stream.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| ClientIdentity::from_der(c));
            let info = Arc::new(ConnInfo { peer, client });
            let service = hyper::service::service_fn(move |req| {
                handle(req, router.clone(), info.clone(), verifies, metrics.clone())
            });
            let builder = crate::http::plain::builder(header_read_timeout);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "TLS connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(shutdown_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!(timeout = ?shutdown_timeout, "TLS connections did not finish in time; closing");
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

async fn handle(
    req: hyper::Request<Incoming>,
    router: Router,
    info: Arc<ConnInfo>,
    verifies: bool,
    metrics: Arc<Metrics>,
) -> Result<Response, Infallible> {
    let mut req = req.map(Body::new);
    if verifies && info.client.is_none() && !is_public(req.uri().path()) {
        let request_id = crate::http::request_id::normalize(&mut req);
        metrics.client_rejected("no_certificate");
        tracing::info!(peer = %info.peer, method = %req.method(), path = %req.uri().path(), status = 403,
            request_id = request_id.to_str().unwrap_or(""), "rejected: client certificate required");
        // Read a small body first: some h2 clients (curl 7.x) treat an answer
        // before the end of their request body as a stream error.
        let body = req.into_body();
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, axum::body::to_bytes(body, crate::http::extract::BODY_LIMIT)).await;
        let mut response = ApiError::Forbidden("client certificate required".into()).into_response();
        response.headers_mut().insert(crate::http::request_id::X_REQUEST_ID.clone(), request_id);
        return Ok(response);
    }
    req.extensions_mut().insert(info);
    router.oneshot(req).await
}

#[cfg(test)]
mod tests {
    use super::is_public;

    #[test]
    fn only_exact_public_paths_skip_the_certificate() {
        for p in ["/healthz", "/readyz", "/.well-known/acme-challenge/abc-DEF_123"] {
            assert!(is_public(p), "{p}");
        }
        for p in [
            "/v1/scalableTargetDimensions/x",
            "//v1/scalableTargetDimensions/x",
            "/healthz/",
            "/healthz/../v1/scalableTargetDimensions/x",
            "/%68ealthz",
            "/HEALTHZ",
            "/.well-known/acme-challenge/",
            "/.well-known/acme-challenge/a/../../v1/scalableTargetDimensions/x",
            "/.well-known/acme-challenge/a%2F..",
            "/",
        ] {
            assert!(!is_public(p), "{p}");
        }
    }
}
