//! Operations: `/healthz` and `/livez` (the process answers), `/readyz`
//! (the store answers and no drain has begun), `/metrics` on the API
//! listener, and ACME HTTP-01 answers.

use super::AppState;
use super::error::ApiError;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use std::time::Duration;

/// How long `/readyz` waits for the store.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: the process answers. Never needs a client certificate.
#[utoipa::path(get, operation_id = "getHealthz", path = "/healthz", tag = "operations",
    responses((status = 200, description = "Up", body = super::wire::HealthBody)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Liveness for orchestrators (Kubernetes, ECS): 200 while the process can
/// serve, also during the drain after SIGTERM (`status` says `draining`
/// then). It never asks the store: a store outage must not get crest
/// restarted. Never needs a client certificate.
#[utoipa::path(get, operation_id = "getLivez", path = "/livez", tag = "operations",
    responses((status = 200, description = "The process serves (status ok, or draining after SIGTERM)",
        body = super::wire::HealthBody)))]
pub async fn livez(State(state): State<AppState>) -> Json<Value> {
    let status = if state.draining.is_cancelled() { "draining" } else { "ok" };
    Json(json!({ "status": status }))
}

/// Readiness: 503 at once when the drain has begun (SIGTERM); else the
/// store answers within 2 s. A store that is not ready yet
/// (Postgres started while its database was down) says why, without its
/// address. Never needs a client certificate.
#[utoipa::path(get, operation_id = "getReadyz", path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = super::wire::HealthBody),
        (status = 503, description = "The store does not answer, or crest is draining (SIGTERM)",
            body = super::wire::ErrorBody),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if state.draining.is_cancelled() {
        return Err(ApiError::Draining);
    }
    if let Some(not) = state.dimensions.store().readiness() {
        return Err(ApiError::NotReady(not.reason));
    }
    match tokio::time::timeout(READY_TIMEOUT, state.dimensions.store().ping()).await {
        Ok(Ok(())) => Ok(Json(json!({ "status": "ready", "store": state.dimensions.store().kind() }))),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(ApiError::Unavailable(format!("store did not answer within {READY_TIMEOUT:?}"))),
    }
}

/// Other methods on the health routes: 405 with `Allow`.
pub async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::MethodNotAllowed { method: method.to_string(), allow: "GET, HEAD" }
}

/// HTTP-01: the key authorization for a token of an order in flight, from
/// this process or (behind a load balancer) from the shared store.
#[utoipa::path(get, operation_id = "getAcmeChallenge", path = "/.well-known/acme-challenge/{token}", tag = "operations",
    params(("token" = String, Path, description = "The ACME HTTP-01 token")),
    responses(
        (status = 200, description = "The key authorization", body = String, content_type = "text/plain"),
        (status = 404, description = "No challenge in flight for this token", body = super::wire::ErrorBody),
        (status = 503, description = "Store unavailable", body = super::wire::ErrorBody),
    ))]
pub async fn acme_http01(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> Result<String, ApiError> {
    let missing = || ApiError::NotFound("no ACME challenge is in flight for this token".into());
    let Some(challenges) = state.challenges.as_ref().filter(|_| super::gate::is_acme_token(&token)) else {
        return Err(missing());
    };
    if let Some(answer) = challenges.http01(&token) {
        return Ok(answer);
    }
    let shared = state.dimensions.store().get_secret(&crate::acme::challenge::http01_secret(&token)).await?;
    shared.filter(|v| !v.is_empty()).and_then(|v| String::from_utf8(v).ok()).ok_or_else(missing)
}

/// Prometheus metrics in the OpenMetrics text format.
#[utoipa::path(
    get,
    operation_id = "getMetrics",
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "OpenMetrics text (absent here when metrics_listen is set)",
        body = String, content_type = "application/openmetrics-text"))
)]
pub async fn metrics_text(
    State(state): State<AppState>,
    axum::Extension(principal): axum::Extension<crate::auth::Principal>,
) -> Result<axum::response::Response, ApiError> {
    super::auth::allow(&principal, &crate::auth::Role::ALL, "reading /metrics")?;
    Ok(metrics_response(state.metrics.clone()).await)
}

/// The OpenMetrics text of `metrics` (both `/metrics` routes).
pub(super) async fn metrics_response(metrics: std::sync::Arc<crate::metrics::Metrics>) -> axum::response::Response {
    use axum::response::IntoResponse;
    ([(axum::http::header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], metrics.render()).into_response()
}
