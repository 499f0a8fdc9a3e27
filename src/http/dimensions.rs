//! `GET`/`HEAD`/`PATCH /v1/scalableTargetDimensions/{id}`: decode, run the
//! pure transition in the store, encode, and log what changed.

use super::AppState;
use super::error::ApiError;
use super::extract::{Id, IfMatch, PatchBody};
use crate::domain::{Changes, Dimension, DimensionId, Event, Mode, Outcome, Patch, Policy, Precondition, lifecycle};
use crate::store;
use crate::tls::serve::ConnInfo;
use axum::extract::State;
use axum::http::{HeaderValue, Method, header};
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

/// GET advances demo mode; HEAD mirrors GET's headers without changing state.
#[instrument(skip_all, fields(id = %id))]
pub async fn get(
    State(state): State<AppState>,
    conn: Option<Extension<Arc<ConnInfo>>>,
    method: Method,
    Id(id): Id,
) -> Result<Versioned, ApiError> {
    if method == Method::HEAD {
        return peek(&state, &id).await.map(Versioned);
    }
    info!(method = "GET", "request");
    let outcome = run(&state, conn, "GET", id, None, None).await?;
    Ok(Versioned(outcome.dimension))
}

/// PATCH sets desiredCapacity (AAS) or reports progress (the scaler).
#[instrument(skip_all, fields(id = %id))]
pub async fn patch(
    State(state): State<AppState>,
    conn: Option<Extension<Arc<ConnInfo>>>,
    Id(id): Id,
    IfMatch(precondition): IfMatch,
    PatchBody(patch): PatchBody,
) -> Result<Versioned, ApiError> {
    info!(method = "PATCH", body = %patch.to_json(), if_match = precondition.map(tracing::field::display), "request");
    let outcome = run(&state, conn, "PATCH", id, Some(patch), precondition).await?;
    Ok(Versioned(outcome.dimension))
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
    conn: Option<Extension<Arc<ConnInfo>>>,
    method: &'static str,
    id: DimensionId,
    patch: Option<Patch>,
    precondition: Option<Precondition>,
) -> Result<Outcome, ApiError> {
    let policy = state.policy.clone();
    let store = state.store.clone();
    let task_id = id.clone();
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
        store::change(&*store, &task_id, &transition).await
    });
    let outcome = task.await.map_err(|e| ApiError::Internal(format!("store task failed: {e}")))??;
    let client = conn.as_ref().and_then(|c| c.client.as_ref());
    let (client_sha256, client_subject) = (client.map(|c| c.sha256.as_str()), client.map(|c| c.subject.as_str()));
    if outcome.created {
        info!(method, client_sha256, client_subject, "dimension created");
    }
    if !outcome.changes.is_empty() {
        info!(method, client_sha256, client_subject, changes = %Changes(&outcome.changes), "dimension changed");
    }
    Ok(outcome)
}
