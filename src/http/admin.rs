//! The admin API: list dimensions (paged, by status), register one with its
//! metadata and capacity bounds (`PUT`), remove one and its history
//! (`DELETE`). Listing needs role admin or read; changes need admin.

use super::AppState;
use super::auth::allow;
use super::dimensions::ChangeEvent;
use super::error::ApiError;
use super::extract::{Id, IfMatch, JsonBody};
use super::openapi::ErrorBody;
use crate::auth::{Principal, Role};
use crate::domain::{Capacity, Dimension, Registration, ScalingStatus, Source, lifecycle};
use crate::store::{self, ListQuery};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 1000;

/// A dimension as the admin API shows it: the AAS fields plus revision and bounds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminView {
    #[serde(flatten)]
    pub change: ChangeEvent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_capacity: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_capacity: Option<f64>,
}

impl From<Dimension> for AdminView {
    fn from(d: Dimension) -> Self {
        let (min_capacity, max_capacity) = (d.min_capacity.map(Capacity::get), d.max_capacity.map(Capacity::get));
        Self { change: ChangeEvent { revision: d.revision, dimension: d }, min_capacity, max_capacity }
    }
}

/// `GET /v1/scalableTargetDimensions` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only dimensions in this status.
    pub status: Option<ScalingStatus>,
    /// Dimensions per page, 1 to 1000 [default: 100].
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// Only ids after this one: the `nextAfter` of the previous page.
    pub after: Option<String>,
}

/// One page of dimensions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListPage {
    pub dimensions: Vec<AdminView>,
    /// Pass as `after` for the next page; null on the last page.
    pub next_after: Option<String>,
}

/// Lists dimensions in id order.
#[utoipa::path(
    get,
    operation_id = "listDimensions",
    path = "/v1/scalableTargetDimensions",
    tag = "admin",
    params(ListParams),
    responses(
        (status = 200, description = "A page of dimensions", body = ListPage),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "Authentication on and no valid token or certificate", body = ErrorBody),
        (status = 403, description = "Needs role admin or read", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<ListPage>, ApiError> {
    allow(&principal, &[Role::Read], "listing dimensions")?;
    let Query(params) = params.map_err(|e| {
        ApiError::BadRequest(format!(
            "invalid query: {}; use ?status=Pending|InProgress|Successful|Failed&limit=N&after=ID",
            e.body_text()
        ))
    })?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}, got {limit}")));
    }
    let after = params.after.as_deref().map(crate::domain::DimensionId::parse).transpose()?;
    let page = state.store.list(&ListQuery { after, limit, status: params.status }).await?;
    let next_after = (page.len() as u64 == limit).then(|| page.last().map(|d| d.id().as_str().to_owned())).flatten();
    Ok(Json(ListPage { dimensions: page.into_iter().map(AdminView::from).collect(), next_after }))
}

/// `PUT` body: metadata, bounds, capacities. Unknown fields are an error.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterRequest {
    pub version: Option<String>,
    pub resource_name: Option<String>,
    pub dimension_name: Option<String>,
    #[schema(value_type = Option<f64>, minimum = 0)]
    pub desired_capacity: Option<Capacity>,
    #[schema(value_type = Option<f64>, minimum = 0)]
    pub actual_capacity: Option<Capacity>,
    /// desiredCapacity may not go below this (absent: no bound).
    #[schema(value_type = Option<f64>, minimum = 0)]
    pub min_capacity: Option<Capacity>,
    /// desiredCapacity may not go above this (absent: no bound).
    #[schema(value_type = Option<f64>, minimum = 0)]
    pub max_capacity: Option<Capacity>,
}

fn text(v: Option<String>, field: &str) -> Result<Option<String>, ApiError> {
    match v {
        Some(t) if t.is_empty() || t.len() > 1024 || t.chars().any(char::is_control) => {
            Err(ApiError::BadRequest(format!("{field} must be 1-1024 bytes of text without control characters")))
        }
        other => Ok(other),
    }
}

/// Registers a dimension, or updates its metadata and bounds.
#[utoipa::path(
    put,
    operation_id = "registerDimension",
    path = "/v1/scalableTargetDimensions/{id}",
    tag = "admin",
    params(
        ("id" = String, Path, description = "scalableTargetDimensionId"),
        ("If-Match" = Option<String>, Header, description = "Apply only at this revision, or * if it exists"),
    ),
    request_body(content = RegisterRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Updated", body = AdminView),
        (status = 201, description = "Created", body = AdminView),
        (status = 400, description = "Bad id or body, or desiredCapacity outside the bounds", body = ErrorBody),
        (status = 401, description = "Authentication on and no valid token or certificate", body = ErrorBody),
        (status = 403, description = "Needs role admin", body = ErrorBody),
        (status = 412, description = "If-Match does not match", body = ErrorBody),
        (status = 415, description = "Body is not application/json", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    )
)]
pub async fn put(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Id(id): Id,
    IfMatch(precondition): IfMatch,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    allow(&principal, &[], "registering a dimension")?;
    let body: RegisterRequest = serde_json::from_value(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "invalid registration: {e}; fields: version, resourceName, dimensionName, desiredCapacity, \
             actualCapacity, minCapacity, maxCapacity"
        ))
    })?;
    let reg = Registration {
        version: text(body.version, "version")?,
        resource_name: text(body.resource_name, "resourceName")?,
        dimension_name: text(body.dimension_name, "dimensionName")?,
        desired_capacity: body.desired_capacity,
        actual_capacity: body.actual_capacity,
        min_capacity: body.min_capacity,
        max_capacity: body.max_capacity,
    };
    let source = Source {
        method: "PUT".into(),
        client: principal.label(),
        request_id: headers.get(&super::request_id::X_REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_owned),
    };
    let (store_, defaults, task_id) = (state.store.clone(), state.policy.defaults.clone(), id.clone());
    let task = tokio::spawn(async move {
        let transition = |current: Option<&Dimension>| {
            lifecycle::check(current, precondition)?;
            lifecycle::register(current, &task_id, &reg, &defaults)
        };
        store::change(&*store_, &task_id, &transition, &source).await
    });
    let outcome = task.await.map_err(|e| ApiError::Internal(format!("store task failed: {e}")))??;
    if outcome.must_write() {
        state.feed.publish(&outcome.dimension);
        tracing::info!(method = "PUT", revision = outcome.dimension.revision,
            changes = %crate::domain::Changes(&outcome.changes), created = outcome.created, "dimension registered");
    }
    state.metrics.dimension(&outcome.dimension);
    let status = if outcome.created { StatusCode::CREATED } else { StatusCode::OK };
    let etag = HeaderValue::from_str(&format!("\"{}\"", outcome.dimension.revision));
    let mut response = (status, Json(AdminView::from(outcome.dimension))).into_response();
    if let Ok(etag) = etag {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

/// Removes a dimension and its history.
#[utoipa::path(
    delete,
    operation_id = "deleteDimension",
    path = "/v1/scalableTargetDimensions/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "scalableTargetDimensionId")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Bad id", body = ErrorBody),
        (status = 401, description = "Authentication on and no valid token or certificate", body = ErrorBody),
        (status = 403, description = "Needs role admin", body = ErrorBody),
        (status = 404, description = "No such dimension", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Id(id): Id,
) -> Result<StatusCode, ApiError> {
    allow(&principal, &[], "deleting a dimension")?;
    let (store_, task_id) = (state.store.clone(), id.clone());
    let gone = tokio::spawn(async move { store_.delete(&task_id).await })
        .await
        .map_err(|e| ApiError::Internal(format!("store task failed: {e}")))??;
    if !gone {
        return Err(ApiError::NotFound(format!("no scalable target dimension {:?}", id.as_str())));
    }
    state.feed.forget(&id);
    tracing::info!(method = "DELETE", client = principal.label().as_deref(), "dimension deleted");
    Ok(StatusCode::NO_CONTENT)
}
