//! The router and its layers: request id, span and log, metrics, timeout,
//! rate limit, body limit, JSON answers for unknown routes and methods.

pub mod admin;
pub mod auth;
pub mod dimensions;
pub mod error;
pub mod extract;
pub mod health;
pub mod history;
pub mod openapi;
pub mod plain;
pub mod rate_limit;
pub mod redirect;
pub mod request_id;

use crate::acme::challenge::Challenges;
use crate::domain::Policy;
use crate::metrics::{self as crest_metrics, Metrics};
use crate::store::Store;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use error::ApiError;
use rate_limit::RateLimiter;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub policy: Arc<Policy>,
    /// ACME challenge answers, when ACME is on.
    pub challenges: Option<Arc<Challenges>>,
    pub metrics: Arc<Metrics>,
    /// Per-client rate limit, when configured.
    pub limiter: Option<Arc<RateLimiter>>,
    /// Serve `/metrics` on the API listener (false with `metrics_listen`).
    pub metrics_on_api: bool,
    /// Tokens and certificate roles.
    pub auth: Arc<crate::auth::AuthConfig>,
    /// Callers must authenticate (tokens configured or certificates verified).
    pub auth_enabled: bool,
    /// The TLS state (pinned certificates are `aas`), when TLS is on.
    pub tls: Option<Arc<crate::tls::TlsState>>,
    /// Stored changes, for long-polls and the SSE stream.
    pub feed: Arc<crate::watch::Feed>,
    /// The longest `?wait=` a long-poll may ask for (below request_timeout).
    pub max_wait: Duration,
}

/// The API's routes: path template, the methods it documents, handlers.
/// `/openapi.json` must list exactly these (tests/api/openapi.rs checks it).
fn routes(metrics: bool) -> Vec<(&'static str, MethodRouter<AppState>)> {
    let read_only = |r: MethodRouter<AppState>| r.fallback(health::method_not_allowed);
    let mut routes = vec![
        ("/v1/scalableTargetDimensions", read_only(get(admin::list))),
        ("/v1/scalableTargetDimensions/watch", read_only(get(dimensions::watch))),
        (
            "/v1/scalableTargetDimensions/{id}",
            get(dimensions::get)
                .patch(dimensions::patch)
                .put(admin::put)
                .delete(admin::delete)
                .fallback(dimensions::method_not_allowed),
        ),
        ("/v1/scalableTargetDimensions/{id}/history", read_only(get(history::get))),
        ("/healthz", read_only(get(health::healthz))),
        ("/readyz", read_only(get(health::readyz))),
        ("/openapi.json", read_only(get(openapi::openapi_json))),
        ("/.well-known/acme-challenge/{token}", read_only(get(health::acme_http01))),
    ];
    if metrics {
        routes.push(("/metrics", read_only(get(metrics_text))));
    }
    routes
}

/// The path templates the API router serves (for the OpenAPI check).
pub fn route_paths(metrics: bool) -> Vec<&'static str> {
    routes(metrics).into_iter().map(|(p, _)| p).collect()
}

/// The API router. `request_timeout` bounds each request (503 JSON after it).
pub fn router(state: AppState, request_timeout: Duration) -> Router {
    let mut router = Router::new();
    for (path, methods) in routes(state.metrics_on_api) {
        router = router.route(path, methods);
    }
    router
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(extract::BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit::layer))
        .layer(middleware::from_fn_with_state(state.clone(), auth::layer))
        .layer(middleware::from_fn_with_state(request_timeout, timeout))
        .layer(middleware::from_fn_with_state(state.metrics.clone(), track))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str());
                    let request_id = request_id::of(req);
                    tracing::info_span!("http", method = %req.method(), route, path = %req.uri().path(), request_id)
                })
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(middleware::from_fn(request_id::layer))
        .with_state(state)
}

/// A router with only `/metrics`, for `metrics_listen`.
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(move || metrics_response(metrics.clone())).fallback(health::method_not_allowed))
        .fallback(|uri: Uri| async move {
            ApiError::NotFound(format!("no route for {:?}; this listener serves only /metrics", uri.path()))
        })
}

/// Counts every answered request by route template, method and status.
async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = req.method().clone();
    let response = next.run(req).await;
    metrics.http(&route, method.as_str(), response.status().as_u16(), started);
    response
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
async fn metrics_text(
    State(state): State<AppState>,
    axum::Extension(principal): axum::Extension<crate::auth::Principal>,
) -> Result<Response, ApiError> {
    auth::allow(&principal, &crate::auth::Role::ALL, "reading /metrics")?;
    Ok(metrics_response(state.metrics).await)
}

async fn metrics_response(metrics: Arc<Metrics>) -> Response {
    ([(header::CONTENT_TYPE, crest_metrics::CONTENT_TYPE)], metrics.render()).into_response()
}

async fn timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout(limit).into_response(),
    }
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!(
        "no route for {:?}; the API is /v1/scalableTargetDimensions/{{id}} (and /healthz, /readyz, /openapi.json)",
        uri.path()
    ))
}
