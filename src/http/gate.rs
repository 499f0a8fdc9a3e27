//! The client-certificate gate of the HTTPS API: when the listener verifies
//! client certificates (and no bearer tokens are configured), a request on
//! a connection without a verified certificate only reaches the public
//! paths (health, ACME tokens); everything else is a JSON 403. Default deny,
//! judged on the raw path before anything else, so no spelling of a path
//! can slip past.

use super::AppState;
use super::error::ApiError;
use super::{extract, request_id};
use crate::net::ConnInfo;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;

/// How long a rejected request's body may take to arrive.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

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

/// The gate, as an axum middleware in front of the router.
pub async fn require_certificate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let conn = req.extensions().get::<Arc<ConnInfo>>().cloned();
    let verified = conn.as_ref().is_some_and(|c| c.client.is_some());
    if verified || is_public(req.uri().path()) {
        return next.run(req).await;
    }
    let request_id = request_id::normalize(&mut req);
    state.metrics.client_rejected("no_certificate");
    tracing::info!(peer = conn.map(|c| tracing::field::display(c.peer)), method = %req.method(),
        path = %req.uri().path(), status = 403, request_id = request_id.to_str().unwrap_or(""),
        "rejected: client certificate required");
    // Read a small body first: some h2 clients (curl 7.x) treat an answer
    // before the end of their request body as a stream error.
    let body = req.into_body();
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, axum::body::to_bytes(body, extract::BODY_LIMIT)).await;
    let mut response = ApiError::Forbidden("client certificate required".into()).into_response();
    response.headers_mut().insert(request_id::X_REQUEST_ID.clone(), request_id);
    response
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
