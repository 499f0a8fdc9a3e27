//! The router and its layers: request span and log, timeout, body limit,
//! JSON answers for unknown routes and methods.

pub mod dimensions;
pub mod error;
pub mod extract;
pub mod health;
pub mod redirect;
pub mod request_id;

use crate::acme::challenge::Challenges;
use crate::domain::Policy;
use crate::store::Store;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::Uri;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use error::ApiError;
use std::sync::Arc;
use std::time::Duration;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub policy: Arc<Policy>,
    /// ACME challenge answers, when ACME is on.
    pub challenges: Option<Arc<Challenges>>,
}

/// The API router. `request_timeout` bounds each request (503 JSON after it).
pub fn router(state: AppState, request_timeout: Duration) -> Router {
    let dimension = get(dimensions::get).patch(dimensions::patch).fallback(dimensions::method_not_allowed);
    Router::new()
        .route("/v1/scalableTargetDimensions/{id}", dimension)
        .route("/healthz", get(health::healthz).fallback(health::method_not_allowed))
        .route("/readyz", get(health::readyz).fallback(health::method_not_allowed))
        .route("/.well-known/acme-challenge/{token}", get(health::acme_http01))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(extract::BODY_LIMIT))
        .layer(middleware::from_fn_with_state(request_timeout, timeout))
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

async fn timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout(limit).into_response(),
    }
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!(
        "no route for {:?}; the API is /v1/scalableTargetDimensions/{{id}} (and /healthz, /readyz)",
        uri.path()
    ))
}
