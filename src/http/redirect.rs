//! The plain-HTTP listener when TLS is on: 308 to the same path on HTTPS,
//! except `/healthz` and `/livez` (answered) and `/.well-known/acme-challenge/` (kept for
//! HTTP-01; 404 until an order is in flight; other methods there are a
//! JSON 405). Every answer carries `X-Request-Id`, as the API's do
//! (`request_id`).

use super::error::ApiError;
use super::{AppState, health, request_id};
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

/// A router that sends everything to `https://{host}:{https_port}`.
pub fn router(https_port: u16, state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz).fallback(health::method_not_allowed))
        .route("/livez", get(health::livez).fallback(health::method_not_allowed))
        .route("/.well-known/acme-challenge/{token}", get(health::acme_http01).fallback(health::method_not_allowed))
        .fallback(redirect)
        .layer(axum::Extension(HttpsPort(https_port)))
        .layer(middleware::from_fn(request_id::layer))
        .with_state(state)
}

#[derive(Clone, Copy)]
struct HttpsPort(u16);

/// The host part of a Host header, without its port; None when it is not
/// a plausible host name or IP literal (no redirect to garbage).
fn host_name(raw: &str) -> Option<&str> {
    let host =
        if raw.starts_with('[') { &raw[..=raw.find(']')?] } else { raw.rsplit_once(':').map_or(raw, |(h, _)| h) };
    let ok = !host.is_empty()
        && host.len() <= 253
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'));
    ok.then_some(host)
}

async fn redirect(
    axum::Extension(HttpsPort(port)): axum::Extension<HttpsPort>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()).and_then(host_name) else {
        return ApiError::BadRequest("this port only redirects to HTTPS and needs a valid Host header".into())
            .into_response();
    };
    let port = if port == 443 { String::new() } else { format!(":{port}") };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let location = format!("https://{host}{port}{path}");
    let Ok(value) = HeaderValue::from_str(&location) else {
        return ApiError::BadRequest("cannot build an HTTPS URL for this request".into()).into_response();
    };
    let body = axum::Json(json!({ "message": format!("use HTTPS: {location}") }));
    (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, value)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::host_name;

    #[test]
    fn host_names() {
        assert_eq!(host_name("api.example.com"), Some("api.example.com"));
        assert_eq!(host_name("api.example.com:80"), Some("api.example.com"));
        assert_eq!(host_name("[::1]:8080"), Some("[::1]"));
        assert_eq!(host_name("127.0.0.1"), Some("127.0.0.1"));
        assert_eq!(host_name("evil.com/x"), None);
        assert_eq!(host_name("a b"), None);
        assert_eq!(host_name(""), None);
    }
}
