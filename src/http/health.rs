//! `/healthz` (the process answers) and `/readyz` (the store answers).

use super::AppState;
use super::error::ApiError;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use std::time::Duration;

/// How long `/readyz` waits for the store.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => Ok(Json(json!({ "status": "ready", "store": state.store.kind() }))),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(ApiError::Unavailable(format!("store did not answer within {READY_TIMEOUT:?}"))),
    }
}

/// Other methods on the health routes: 405 with `Allow`.
pub async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::MethodNotAllowed { method: method.to_string(), allow: "GET, HEAD" }
}
