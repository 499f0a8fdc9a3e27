//! `GET`/`HEAD`/`PATCH /v1/scalableTargetDimensions/{id}`, the long-poll
//! (`?wait=`) and the SSE stream: decode, authorize, call the service
//! (`crate::service::Dimensions`), encode.

use super::AppState;
use super::error::ApiError;
use super::extract::{Id, IfMatch, PatchBody, RequestId};
use super::wire::{ChangeEvent, ErrorBody, PatchRequest, Versioned};
use crate::auth::{Principal, Role};
use crate::domain::{Dimension, DimensionId, Source};
use crate::net::ConnInfo;
use crate::service::{Caller, Creating};
use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, Method};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tracing::{debug, info};

/// Reads a dimension. In demo mode each plain GET (what AAS sends) advances
/// the simulated scaling (Pending → InProgress → Successful); HEAD and
/// long-polls (`?wait=`) only watch: they never change or create anything.
#[utoipa::path(
    get,
    operation_id = "getDimension",
    path = "/v1/scalableTargetDimensions/{id}",
    tag = "dimensions",
    params(("id" = String, Path, description = "scalableTargetDimensionId: one path segment, 1-1600 bytes"), WaitParams),
    responses(
        (status = 200, description = "The dimension; ETag is its revision", body = Dimension,
            headers(("ETag" = String, description = "The revision, e.g. \"3\""))),
        (status = 400, description = "Invalid id", body = ErrorBody),
        (status = 401, description = "Authentication on and no valid token or certificate", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this", body = ErrorBody),
        (status = 404, description = "Unknown id in strict mode, or asked by a caller with role read (which never creates)", body = ErrorBody),
        (status = 409, description = "Unknown id and max_dimensions dimensions exist: not created", body = ErrorBody),
        (status = 429, description = "Over the rate limit (Retry-After)", body = ErrorBody),
        (status = 503, description = "Store unavailable or request timed out", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    RequestId(request_id): RequestId,
    method: Method,
    Id(id): Id,
    params: Result<Query<WaitParams>, QueryRejection>,
) -> Result<Versioned, ApiError> {
    log_fields(&id);
    super::auth::allow(&principal, &Role::ALL, "reading a dimension")?;
    let Query(params) = params
        .map_err(|e| ApiError::BadRequest(format!("invalid query: {}; use ?wait=30s&after=REVISION", e.body_text())))?;
    let wait = params.wait(state.max_wait)?;
    // Subscribe before reading, so a change in between is not missed.
    let changes = wait.map(|_| state.dimensions.feed().subscribe());
    let creating = creating(&principal);
    if method == Method::HEAD {
        return Versioned::of(&state.bodies, &state.dimensions.view(&id, creating).await?);
    }
    let Some((wait, changes)) = wait.zip(changes) else {
        return read(&state, &principal, request_id.as_ref(), &id).await;
    };
    // A watcher, like HEAD: it must not advance a demo scaling it waits on.
    let current = state.dimensions.view(&id, creating).await?;
    let after = params.after.unwrap_or(current.revision);
    let poll = Poll { id: &id, creating, after, wait };
    let d = long_poll(&state, poll, current, changes).await?;
    Versioned::of(&state.bodies, &d)
}

/// A plain GET (no query; `log_fields` and `allow` done): the dimension,
/// created if new, advanced in demo mode. `get` above and the hot path
/// (`http::hot`) both answer with it.
pub(super) async fn read(
    state: &AppState,
    principal: &Principal,
    request_id: Option<&HeaderValue>,
    id: &DimensionId,
) -> Result<Versioned, ApiError> {
    match read_cached(state, id) {
        Some(answer) => answer,
        None => read_stored(state, principal, request_id, id).await,
    }
}

/// `read`'s answer when it needs nothing awaited: the store's copy in
/// memory, in production mode (what AAS polls). None: `read_stored`.
pub(super) fn read_cached(state: &AppState, id: &DimensionId) -> Option<Result<Versioned, ApiError>> {
    state.dimensions.get_cached(id).map(|outcome| Versioned::of(&state.bodies, &outcome.dimension))
}

/// `read` through the service's GET (the store, a demo step, a creation).
pub(super) async fn read_stored(
    state: &AppState,
    principal: &Principal,
    request_id: Option<&HeaderValue>,
    id: &DimensionId,
) -> Result<Versioned, ApiError> {
    let outcome = state.dimensions.get(id, creating(principal), || caller("GET", principal, request_id)).await?;
    Versioned::of(&state.bodies, &outcome.dimension)
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

/// Who may create dimensions: every role but `read` (and anyone without
/// authentication). A `read` caller's GET of an unknown id is a 404.
fn creating(principal: &Principal) -> Creating {
    match principal.role() {
        Some(Role::Read) => Creating::ReadOnly,
        _ => Creating::Allowed,
    }
}

/// What a long-poll waits for: `id` past revision `after`, for `wait`.
struct Poll<'a> {
    id: &'a DimensionId,
    creating: Creating,
    after: u64,
    wait: Duration,
}

/// Waits until `id` passes revision `after` (answering with that state), or
/// `wait` passes (answering with the current state).
async fn long_poll(
    state: &AppState,
    Poll { id, creating, after, wait }: Poll<'_>,
    current: Dimension,
    mut changes: broadcast::Receiver<Arc<Dimension>>,
) -> Result<Dimension, ApiError> {
    if current.revision > after {
        return Ok(current);
    }
    let deadline = tokio::time::Instant::now() + wait;
    let closed = state.dimensions.feed().closed();
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
                let d = state.dimensions.view(id, creating).await?;
                if d.revision > after {
                    return Ok(d);
                }
            }
            Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => break,
        }
    }
    Ok(state.dimensions.view(id, creating).await?)
}

/// `?id=` on the SSE stream.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WatchParams {
    /// Only this dimension's changes [default: every dimension].
    pub id: Option<String>,
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
    conn: Option<Extension<Arc<ConnInfo>>>,
    Extension(principal): Extension<Principal>,
    params: Result<Query<WatchParams>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, axum::Error>>>, ApiError> {
    super::auth::allow(&principal, &Role::ALL, "watching dimensions")?;
    let Query(params) = params
        .map_err(|e| ApiError::BadRequest(format!("invalid query: {}; use ?id=DIMENSION or nothing", e.body_text())))?;
    let only = params.id.as_deref().map(DimensionId::parse).transpose()?;
    let feed = state.dimensions.feed();
    // A stream opened with a client certificate is judged again before each
    // event: it ends at the first change after the certificate stops being
    // trusted (a reload removed it, or it expired), without sending it.
    let certified =
        matches!(principal, Principal::Certificate { .. }).then_some(conn).flatten().map(|c| (state.clone(), c.0));
    let start = (feed.subscribe(), feed.closed(), only, certified);
    let events = futures_util::stream::unfold(start, |(mut rx, closed, only, certified)| async move {
        loop {
            let next = tokio::select! {
                r = rx.recv() => r,
                () = closed.cancelled() => return None,
            };
            if let Some((state, conn)) = &certified
                && let Some((_, standing)) =
                    super::certificate::presented(state, Some(conn)).filter(|(_, s)| !s.trusted())
            {
                info!(reason = standing.reason(), "watch stream ended: the client certificate is no longer trusted");
                return None;
            }
            let event = match next {
                Ok(d) if only.as_ref().is_some_and(|o| o != d.id()) => continue,
                Ok(d) => SseEvent::default()
                    .event("change")
                    .id(d.revision.to_string())
                    .json_data(ChangeEvent::of((*d).clone())),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    Ok(SseEvent::default().event("lagged").data(format!("{{\"missed\":{n}}}")))
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            return Some((event, (rx, closed, only, certified)));
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
        ("id" = String, Path, description = "scalableTargetDimensionId: one path segment, 1-1600 bytes"),
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
        (status = 409, description = "Unknown id and max_dimensions dimensions exist: not created", body = ErrorBody),
        (status = 412, description = "If-Match does not match the revision", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Body is not application/json", body = ErrorBody),
        (status = 429, description = "Over the rate limit (Retry-After)", body = ErrorBody),
        (status = 503, description = "Store unavailable or request timed out", body = ErrorBody),
    )
)]
pub async fn patch(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    RequestId(request_id): RequestId,
    Id(id): Id,
    IfMatch(precondition): IfMatch,
    PatchBody(patch): PatchBody,
) -> Result<Versioned, ApiError> {
    log_fields(&id);
    if patch.desired_capacity.is_some() {
        super::auth::allow(&principal, &[Role::Aas], "setting desiredCapacity")?;
    }
    if patch.actual_capacity.is_some() || patch.scaling_status.is_some() || patch.failure_reason.is_some() {
        super::auth::allow(&principal, &[Role::Scaler], "reporting actualCapacity, scalingStatus or failureReason")?;
    }
    debug!(body = %patch.to_json(), if_match = precondition.map(tracing::field::display), "patch body");
    let caller = || caller("PATCH", &principal, request_id.as_ref());
    let outcome = state.dimensions.patch(&id, patch, precondition, caller).await?;
    Versioned::of(&state.bodies, &outcome.dimension)
}

/// Records the dimension's id in the request's log fields (`http{…}`), so
/// the request's lines carry `dimension_id`.
pub(super) fn log_fields(id: &DimensionId) {
    crate::telemetry::request::record_dimension(id.shared());
}

/// Who is asking, for the history and the change log: the token by name or
/// the client certificate (trusted at this request) by RFC 4514 subject and
/// SHA-256.
pub(super) fn caller(method: &str, principal: &Principal, request_id: Option<&HeaderValue>) -> Caller {
    let request_id = request_id.and_then(|v| v.to_str().ok()).map(str::to_owned);
    let certificate = match principal {
        Principal::Certificate { subject, sha256, .. } => Some((subject.clone(), *sha256)),
        Principal::Open | Principal::Token { .. } => None,
    };
    Caller { source: Source { method: method.to_owned(), client: principal.label(), request_id }, certificate }
}

/// Other methods: 405 with `Allow`.
pub async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed { method: method.to_string(), allow: "GET, HEAD, PATCH, PUT, DELETE" }
}
