//! `GET`/`HEAD`/`PATCH /v1/scalableTargetDimensions/{id}`: decode, run the
//! pure transition in the store, encode, and log what changed.

use super::AppState;
use super::error::ApiError;
use super::extract::{Id, IfMatch, PatchBody};
use super::openapi::{ErrorBody, PatchRequest};
use crate::auth::{Principal, Role};
use crate::domain::{
    Changes, Dimension, DimensionId, Event, Mode, Outcome, Patch, Policy, Precondition, Source, lifecycle,
};
use crate::tls::serve::ConnInfo;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
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
    params(("id" = String, Path, description = "scalableTargetDimensionId: one path segment, 1-255 bytes"), WaitParams),
    responses(
        (status = 200, description = "The dimension; ETag is its revision", body = Dimension,
            headers(("ETag" = String, description = "The revision, e.g. \"3\""))),
        (status = 400, description = "Invalid id", body = ErrorBody),
        (status = 401, description = "Authentication on and no valid token or certificate", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this", body = ErrorBody),
        (status = 404, description = "Unknown id in strict mode", body = ErrorBody),
        (status = 429, description = "Over the rate limit (Retry-After)", body = ErrorBody),
        (status = 503, description = "Store unavailable or request timed out", body = ErrorBody),
    )
)]
#[instrument(skip_all, fields(dimension_id = %id))]
pub async fn get(
    State(state): State<AppState>,
    conn: Option<Extension<Arc<ConnInfo>>>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    method: Method,
    Id(id): Id,
    params: Result<Query<WaitParams>, QueryRejection>,
) -> Result<Versioned, ApiError> {
    super::auth::allow(&principal, &Role::ALL, "reading a dimension")?;
    let Query(params) = params
        .map_err(|e| ApiError::BadRequest(format!("invalid query: {}; use ?wait=30s&after=REVISION", e.body_text())))?;
    let wait = params.wait(state.max_wait)?;
    // Subscribe before reading, so a change in between is not missed.
    let changes = wait.map(|_| state.feed.subscribe());
    if method == Method::HEAD {
        let d = peek(&state, &id).await?;
        state.metrics.dimension(&d);
        return Ok(Versioned(d));
    }
    info!(method = "GET", "request");
    let conn = conn.as_deref().map(|c| &**c);
    let outcome = run(&state, || source("GET", &principal, conn, &headers), conn, id.clone(), None, None).await?;
    match (wait, changes) {
        (Some(wait), Some(changes)) => {
            let after = params.after.unwrap_or(outcome.dimension.revision);
            long_poll(&state, &id, outcome.dimension, after, wait, changes).await.map(Versioned)
        }
        _ => Ok(Versioned(outcome.dimension)),
    }
}

/// `?wait=&after=` on GET: a long-poll.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WaitParams {
    /// Long-poll: answer as soon as the revision passes `after`, or with the
    /// current state after this long (e.g. 25s, 500ms; below request_timeout).
    pub wait: Option<String>,
    /// The revision the caller has seen (its ETag) [default: the current one];
    /// without `wait` it changes nothing.
    pub after: Option<u64>,
}

impl WaitParams {
    fn wait(&self, max: Duration) -> Result<Option<Duration>, ApiError> {
        if let Some(after) = self.after.filter(|a| *a > crate::domain::MAX_REVISION) {
            return Err(ApiError::BadRequest(format!(
                "after must be a revision from 0 to {} (an ETag), got {after}",
                crate::domain::MAX_REVISION
            )));
        }
        let Some(raw) = &self.wait else { return Ok(None) };
        let d = humantime::parse_duration(raw).map_err(|e| {
            ApiError::BadRequest(format!("wait must be a duration like 25s or 500ms, got {raw:?} ({e})"))
        })?;
        if d > max {
            return Err(ApiError::BadRequest(format!(
                "wait must be at most {} (just under request_timeout), got {raw}",
                humantime::format_duration(max)
            )));
        }
        Ok(Some(d))
    }
}

/// Waits until `id` passes revision `after` (answering with that state), or
/// `wait` passes (answering with the current state).
async fn long_poll(
    state: &AppState,
    id: &DimensionId,
    current: Dimension,
    after: u64,
    wait: Duration,
    mut changes: broadcast::Receiver<Arc<Dimension>>,
) -> Result<Dimension, ApiError> {
    if current.revision > after {
        return Ok(current);
    }
    let deadline = tokio::time::Instant::now() + wait;
    let closed = state.feed.closed();
    loop {
        let next = tokio::select! {
            r = tokio::time::timeout_at(deadline, changes.recv()) => r,
            () = closed.cancelled() => break,
        };
        match next {
            Ok(Ok(d)) if d.id() == id && d.revision > after => {
                state.metrics.dimension(&d);
                return Ok((*d).clone());
            }
            Ok(Ok(_)) => {}
            // Fell behind: the store knows the truth.
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                let d = peek(state, id).await?;
                if d.revision > after {
                    return Ok(d);
                }
            }
            Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => break,
        }
    }
    peek(state, id).await
}

/// `?id=` on the SSE stream.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WatchParams {
    /// Only this dimension's changes [default: every dimension].
    pub id: Option<String>,
}

/// A change as an SSE event's data: the dimension plus its revision.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeEvent {
    pub revision: u64,
    #[serde(flatten)]
    pub dimension: Dimension,
}

/// Every stored change as Server-Sent Events (`event: change`, `id:` the
/// revision, `data:` the dimension with its `revision`), in order per
/// dimension; `event: lagged` if this client fell too far behind. With
/// Postgres, changes made on other replicas are included.
#[utoipa::path(
    get,
    operation_id = "watchDimensions",
    path = "/v1/scalableTargetDimensions/watch",
    tag = "dimensions",
    params(WatchParams),
    responses(
        (status = 200, description = "An endless text/event-stream of ChangeEvent data", body = ChangeEvent,
            content_type = "text/event-stream"),
        (status = 400, description = "Invalid id", body = ErrorBody),
        (status = 401, description = "Authentication on and no valid token or certificate", body = ErrorBody),
    )
)]
pub async fn watch(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    params: Result<Query<WatchParams>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, axum::Error>>>, ApiError> {
    super::auth::allow(&principal, &Role::ALL, "watching dimensions")?;
    let Query(params) = params
        .map_err(|e| ApiError::BadRequest(format!("invalid query: {}; use ?id=DIMENSION or nothing", e.body_text())))?;
    let only = params.id.as_deref().map(DimensionId::parse).transpose()?;
    let start = (state.feed.subscribe(), state.feed.closed(), only);
    let events = futures_util::stream::unfold(start, |(mut rx, closed, only)| async move {
        loop {
            let next = tokio::select! {
                r = rx.recv() => r,
                () = closed.cancelled() => return None,
            };
            let event = match next {
                Ok(d) if only.as_ref().is_some_and(|o| o != d.id()) => continue,
                Ok(d) => SseEvent::default()
                    .event("change")
                    .id(d.revision.to_string())
                    .json_data(ChangeEvent { revision: d.revision, dimension: (*d).clone() }),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    Ok(SseEvent::default().event("lagged").data(format!("{{\"missed\":{n}}}")))
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            return Some((event, (rx, closed, only)));
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
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
        (status = 401, description = "Authentication on and no valid token or certificate", body = ErrorBody),
        (status = 403, description = "The caller's role may not set these fields", body = ErrorBody),
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
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Id(id): Id,
    IfMatch(precondition): IfMatch,
    PatchBody(patch): PatchBody,
) -> Result<Versioned, ApiError> {
    if patch.desired_capacity.is_some() {
        super::auth::allow(&principal, &[Role::Aas], "setting desiredCapacity")?;
    }
    if patch.actual_capacity.is_some() || patch.scaling_status.is_some() || patch.failure_reason.is_some() {
        super::auth::allow(&principal, &[Role::Scaler], "reporting actualCapacity, scalingStatus or failureReason")?;
    }
    info!(method = "PATCH", body = %patch.to_json(), if_match = precondition.map(tracing::field::display), "request");
    let conn = conn.as_deref().map(|c| &**c);
    let outcome =
        run(&state, || source("PATCH", &principal, conn, &headers), conn, id, Some(patch), precondition).await?;
    Ok(Versioned(outcome.dimension))
}

/// Who is asking, for the history.
fn source(method: &str, principal: &Principal, conn: Option<&ConnInfo>, headers: &HeaderMap) -> Source {
    let certificate = conn.and_then(|c| c.client.as_ref()).map(|c| format!("{} (sha256:{})", c.subject, c.sha256));
    let client = principal.label().or(certificate);
    let request_id = headers.get(&super::request_id::X_REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_owned);
    Source { method: method.to_owned(), client, request_id }
}

/// Other methods: 405 with `Allow`.
pub async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed { method: method.to_string(), allow: "GET, HEAD, PATCH, PUT, DELETE" }
}

/// The dimension as GET would show it before any demo step, without writing.
async fn peek(state: &AppState, id: &DimensionId) -> Result<Dimension, ApiError> {
    let current = state.store.get(id).await?;
    let read_only = Policy { mode: Mode::Production, ..(*state.policy).clone() };
    Ok(lifecycle::apply(current.as_ref(), id, Event::Get, &read_only)?.dimension)
}

/// The pure step of a GET (`patch` None) or PATCH on the stored state.
fn step(
    current: Option<&Dimension>,
    id: &DimensionId,
    patch: Option<&Patch>,
    precondition: Option<Precondition>,
    policy: &Policy,
) -> Result<Outcome, crate::domain::TransitionError> {
    let event = match patch {
        Some(p) => Event::Patch(p),
        None => Event::Get,
    };
    // Compare-and-swap: checked inside the store's lock or transaction.
    lifecycle::check(current, precondition)?;
    lifecycle::apply(current, id, event, policy)
}

/// Runs one event through the store. A step that would change nothing (a
/// GET in production mode, a repeated PATCH) is answered from a read, on this
/// task; one that writes runs in its own task, so a client that hangs up
/// cannot cancel a change half-way. Logs each changed field.
async fn run(
    state: &AppState,
    source: impl FnOnce() -> Source,
    conn: Option<&ConnInfo>,
    id: DimensionId,
    patch: Option<Patch>,
    precondition: Option<Precondition>,
) -> Result<Outcome, ApiError> {
    let current = state.store.get(&id).await?;
    let first = step(current.as_ref(), &id, patch.as_ref(), precondition, &state.policy)?;
    if !first.must_write() {
        state.metrics.dimension(&first.dimension);
        return Ok(first);
    }
    let source = source();
    let policy = state.policy.clone();
    let store = state.store.clone();
    let task_id = id.clone();
    let task_source = source.clone();
    let task = tokio::spawn(async move {
        let transition = |current: Option<&Dimension>| step(current, &task_id, patch.as_ref(), precondition, &policy);
        // The store re-reads and re-applies under its lock or transaction.
        store.update(&task_id, &transition, &task_source).await
    });
    let outcome = task.await.map_err(|e| ApiError::Internal(format!("store task failed: {e}")))??;
    state.metrics.dimension(&outcome.dimension);
    if outcome.must_write() {
        state.feed.publish(&outcome.dimension);
    }
    let client = conn.and_then(|c| c.client.as_ref());
    let client_sha256 = client.map(|c| tracing::field::display(c.sha256));
    let client_subject = client.map(|c| c.subject.as_str());
    let (method, revision) = (source.method.as_str(), outcome.dimension.revision);
    if outcome.created {
        info!(method, client_sha256, client_subject, revision, "dimension created");
    }
    if !outcome.changes.is_empty() {
        info!(method, client_sha256, client_subject, revision, changes = %Changes(&outcome.changes), "dimension changed");
    }
    Ok(outcome)
}
