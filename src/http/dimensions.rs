//! `GET`/`HEAD`/`PATCH /v1/scalableTargetDimensions/{id}`: decode, run the
//! pure transition in the store, encode, and log what changed.

use super::AppState;
use super::error::ApiError;
use super::extract::{Id, IfMatch, PatchBody};
use super::openapi::{ErrorBody, PatchRequest};
use crate::domain::{
    Changes, Dimension, DimensionId, Event, Mode, Outcome, Patch, Policy, Precondition, Source, lifecycle,
};
use crate::store;
use crate::tls::serve::ConnInfo;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use std::sync::Arc;
use tracing::{info, instrument};

/// A dimension as the response body, with its revision as the `ETag`
/// (header only: the JSON stays exactly what AAS expects).
pub struct Versioned(pub Dimension);

impl IntoResponse for Versioned {
    fn into_response(self) -> Response {
        let etag = HeaderValue::from_str(&format!("\"{}\"", self.0.revision));
        let mut response = Json(self.0).into_response();
        if let Ok(etag) = etag {
            response.headers_mut().insert(header::ETAG, etag);
        }
        response
    }
}

/// Reads a dimension. In demo mode each GET advances the simulated scaling
/// (Pending → InProgress → Successful); HEAD never changes state.
#[utoipa::path(
    get,
    operation_id = "getDimension",
    path = "/v1/scalableTargetDimensions/{id}",
    tag = "dimensions",
    params(("id" = String, Path, description = "scalableTargetDimensionId: one path segment, 1-255 bytes")),
    responses(
        (status = 200, description = "The dimension; ETag is its revision", body = Dimension,
            headers(("ETag" = String, description = "The revision, e.g. \"3\""))),
        (status = 400, description = "Invalid id", body = ErrorBody),
        (status = 404, description = "Unknown id in strict mode", body = ErrorBody),
        (status = 429, description = "Over the rate limit (Retry-After)", body = ErrorBody),
        (status = 503, description = "Store unavailable or request timed out", body = ErrorBody),
    )
)]
#[instrument(skip_all, fields(dimension_id = %id))]
pub async fn get(
    State(state): State<AppState>,
    conn: Option<Extension<Arc<ConnInfo>>>,
    headers: HeaderMap,
    method: Method,
    Id(id): Id,
) -> Result<Versioned, ApiError> {
    if method == Method::HEAD {
        let d = peek(&state, &id).await?;
        state.metrics.dimension(&d);
        return Ok(Versioned(d));
    }
    info!(method = "GET", "request");
    let conn = conn.as_deref().map(|c| &**c);
    let outcome = run(&state, source("GET", conn, &headers), conn, id, None, None).await?;
    Ok(Versioned(outcome.dimension))
}

/// Sets desiredCapacity (AAS) or reports progress (the scaler, production
/// mode). `If-Match` makes it a compare-and-swap on the revision.
#[utoipa::path(
    patch,
    operation_id = "patchDimension",
    path = "/v1/scalableTargetDimensions/{id}",
    tag = "dimensions",
    params(
        ("id" = String, Path, description = "scalableTargetDimensionId: one path segment, 1-255 bytes"),
        ("If-Match" = Option<String>, Header, description = "Apply only at this revision (an ETag such as \"3\"), or * if the dimension exists"),
    ),
    request_body(content = PatchRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The dimension after the change (durable)", body = Dimension,
            headers(("ETag" = String, description = "The new revision"))),
        (status = 400, description = "Invalid id, body or If-Match", body = ErrorBody),
        (status = 404, description = "Unknown id in strict mode", body = ErrorBody),
        (status = 412, description = "If-Match does not match the revision", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Body is not application/json", body = ErrorBody),
        (status = 429, description = "Over the rate limit (Retry-After)", body = ErrorBody),
        (status = 503, description = "Store unavailable or request timed out", body = ErrorBody),
    )
)]
#[instrument(skip_all, fields(dimension_id = %id))]
pub async fn patch(
    State(state): State<AppState>,
    conn: Option<Extension<Arc<ConnInfo>>>,
    headers: HeaderMap,
    Id(id): Id,
    IfMatch(precondition): IfMatch,
    PatchBody(patch): PatchBody,
) -> Result<Versioned, ApiError> {
    info!(method = "PATCH", body = %patch.to_json(), if_match = precondition.map(tracing::field::display), "request");
    let conn = conn.as_deref().map(|c| &**c);
    let outcome = run(&state, source("PATCH", conn, &headers), conn, id, Some(patch), precondition).await?;
    Ok(Versioned(outcome.dimension))
}

/// Who is asking, for the history.
fn source(method: &str, conn: Option<&ConnInfo>, headers: &HeaderMap) -> Source {
    let client = conn.and_then(|c| c.client.as_ref()).map(|c| format!("{} (sha256:{})", c.subject, c.sha256));
    let request_id = headers.get(&super::request_id::X_REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_owned);
    Source { method: method.to_owned(), client, request_id }
}

/// Other methods: 405 with `Allow`.
pub async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed { method: method.to_string(), allow: "GET, HEAD, PATCH" }
}

/// The dimension as GET would show it before any demo step, without writing.
async fn peek(state: &AppState, id: &DimensionId) -> Result<Dimension, ApiError> {
    let current = state.store.get(id).await?;
    let read_only = Policy { mode: Mode::Production, ..(*state.policy).clone() };
    Ok(lifecycle::apply(current.as_ref(), id, Event::Get, &read_only)?.dimension)
}

/// Runs one event through the store in its own task, so a client that hangs
/// up cannot cancel a change half-way; logs each changed field.
async fn run(
    state: &AppState,
    source: Source,
    conn: Option<&ConnInfo>,
    id: DimensionId,
    patch: Option<Patch>,
    precondition: Option<Precondition>,
) -> Result<Outcome, ApiError> {
    let policy = state.policy.clone();
    let store = state.store.clone();
    let task_id = id.clone();
    let task_source = source.clone();
    let task = tokio::spawn(async move {
        let transition = |current: Option<&Dimension>| {
            let event = match &patch {
                Some(p) => Event::Patch(p),
                None => Event::Get,
            };
            // Compare-and-swap: checked inside the store's lock or transaction.
            lifecycle::check(current, precondition)?;
            lifecycle::apply(current, &task_id, event, &policy)
        };
        store::change(&*store, &task_id, &transition, &task_source).await
    });
    let outcome = task.await.map_err(|e| ApiError::Internal(format!("store task failed: {e}")))??;
    state.metrics.dimension(&outcome.dimension);
    let client = conn.and_then(|c| c.client.as_ref());
    let (client_sha256, client_subject) = (client.map(|c| c.sha256.as_str()), client.map(|c| c.subject.as_str()));
    let (method, revision) = (source.method.as_str(), outcome.dimension.revision);
    if outcome.created {
        info!(method, client_sha256, client_subject, revision, "dimension created");
    }
    if !outcome.changes.is_empty() {
        info!(method, client_sha256, client_subject, revision, changes = %Changes(&outcome.changes), "dimension changed");
    }
    Ok(outcome)
}
