//! The client-certificate gate of the HTTPS API, and the log of every
//! refused request.
//!
//! The gate: when the listener verifies client certificates (and no bearer
//! tokens are configured), a request on a connection without a certificate
//! trusted now (`certificate`: one whose pin or CA a reload removed, or
//! past its dates, counts as none) only reaches the public paths (health,
//! ACME tokens); everything else is a JSON 403 saying why. Default deny,
//! judged on the raw path before anything else, so no spelling of a path
//! can slip past.
//!
//! The log: each 401, 403 and 429 — from the gate, authentication, a role
//! that may not, or the rate limit — is one WARN line `request rejected`
//! with the status, a reason word, the peer and the caller's token name,
//! certificate subject and role when known; never a token. At most
//! [`REJECTIONS_LOGGED_PER_SECOND`] such lines are written per second by
//! the process, so a flood cannot fill the disk: the others are counted
//! (`crest_log_rejections_suppressed_total`) and the count is logged as
//! `rejections not logged` before the next line that is written.

use super::AppState;
use super::error::ApiError;
use super::{certificate, extract, request_id};
use crate::auth::Role;
use crate::metrics::Metrics;
use crate::net::ConnInfo;
use crate::telemetry::{self, LogWindow};
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a rejected request's body may take to arrive.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Rejection lines written per second, at most.
pub const REJECTIONS_LOGGED_PER_SECOND: u32 = 10;

/// Paths served without a client certificate: health checks and ACME
/// HTTP-01 tokens. Everything else needs one when verification is on.
pub fn is_public(path: &str) -> bool {
    if matches!(path, "/healthz" | "/livez" | "/readyz") {
        return true;
    }
    path.strip_prefix("/.well-known/acme-challenge/").is_some_and(is_acme_token)
}

/// An ACME token as CAs make them: base64url, no padding, not empty.
pub fn is_acme_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The gate, as an axum middleware in front of the router.
pub async fn require_certificate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let conn = req.extensions().get::<Arc<ConnInfo>>().cloned();
    let presented = certificate::presented(&state, conn.as_deref());
    if presented.is_some_and(|(_, standing)| standing.trusted()) || is_public(req.uri().path()) {
        return next.run(req).await;
    }
    let (reason, message) = match presented {
        None => ("no_certificate", "client certificate required"),
        Some((_, standing)) => (standing.reason(), standing.message()),
    };
    let request_id = request_id::normalize(&req);
    state.metrics.client_rejected(reason);
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
    // The request's log fields, as the front middleware (never reached) would set them.
    let route = super::route_label::intern(route);
    let fields = telemetry::request::Fields::new(req.method().clone(), route, req.uri().clone(), request_id.clone());
    let who = Refused {
        peer: conn.as_ref().map(|c| c.peer),
        client_subject: presented.map(|(c, _)| c.subject.as_str()),
        ..Refused::default()
    };
    telemetry::request::sync_scope(fields, || log_rejection(&state.metrics, StatusCode::FORBIDDEN, reason, &who));
    // Read a small body first: some h2 clients (curl 7.x) treat an answer
    // before the end of their request body as a stream error.
    let body = req.into_body();
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, axum::body::to_bytes(body, extract::BODY_LIMIT)).await;
    let mut response = ApiError::Forbidden(message.into()).into_response();
    response.headers_mut().insert(request_id::X_REQUEST_ID.clone(), request_id);
    response
}

/// A request refused before its handler: a short fixed word saying why
/// (for the log and `crest_http_rejections_total{reason}`), and the answer.
#[derive(Debug)]
pub struct Rejection {
    pub reason: &'static str,
    pub error: ApiError,
}

/// Who was refused, as far as crest knows: names, never secrets.
#[derive(Debug, Default, Clone, Copy)]
pub struct Refused<'a> {
    pub peer: Option<SocketAddr>,
    /// The name of the bearer token the caller authenticated with.
    pub token: Option<&'a str>,
    /// The subject of the connection's client certificate, RFC 4514-escaped.
    pub client_subject: Option<&'a str>,
    pub role: Option<Role>,
}

/// Counts a refused request and logs it (with the request's fields, which
/// carries its id), unless the log limit is reached.
pub fn log_rejection(metrics: &Metrics, status: StatusCode, reason: &'static str, who: &Refused<'_>) {
    metrics.rejected(reason);
    let admitted =
        LOG_WINDOW.lock().unwrap_or_else(PoisonError::into_inner).admit(Instant::now(), REJECTIONS_LOGGED_PER_SECOND);
    let Some(unlogged) = admitted else {
        metrics.rejection_unlogged();
        return;
    };
    if unlogged > 0 {
        // Not the request's line (`parent: None`): the count is not this request's.
        tracing::warn!(parent: None, count = unlogged, limit_per_second = REJECTIONS_LOGGED_PER_SECOND,
            "rejections not logged");
    }
    tracing::warn!(
        status = status.as_u16(),
        reason,
        peer = who.peer.map(tracing::field::display),
        token = who.token,
        client_subject = who.client_subject,
        role = who.role.map(Role::as_str),
        "request rejected"
    );
}

/// The rejection lines of the current second. One per process, as the log
/// it protects is.
static LOG_WINDOW: Mutex<LogWindow> = Mutex::new(LogWindow::new());

#[cfg(test)]
mod tests {
    use super::is_public;

    #[test]
    fn only_exact_public_paths_skip_the_certificate() {
        for p in ["/healthz", "/livez", "/readyz", "/.well-known/acme-challenge/abc-DEF_123"] {
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
