//! The admin API: list dimensions (paged, by status), register one with its
//! metadata and capacity bounds (`PUT`), remove one and its history
//! (`DELETE`). Listing needs role admin or read; changes need admin.

use super::AppState;
use super::auth::allow;
use super::dimensions::caller;
use super::error::ApiError;
use super::extract::{Id, IfMatch, JsonBody, RequestId};
use super::wire::{AdminView, ErrorBody};
use crate::auth::{Principal, Role};
use crate::domain::{Capacity, Registration, ScalingStatus};
use crate::store::ListQuery;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use serde::{Deserialize, Deserializer, Serialize};

pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 1000;

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
    /// Pass as `after` for the next page; null when no dimension follows.
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
    // One row past the page: a cursor only when something follows it.
    let mut page = state.dimensions.store().list(&ListQuery { after, limit: limit + 1, status: params.status }).await?;
    let more = page.len() as u64 > limit;
    page.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_after = more.then(|| page.last().map(|d| d.id().as_str().to_owned())).flatten();
    Ok(Json(ListPage { dimensions: page.into_iter().map(AdminView::from).collect(), next_after }))
}

/// `PUT` body: metadata, bounds, capacities, every field optional (`{}`
/// registers a dimension with the defaults). Absent fields keep their
/// value (or the default for a new dimension), and so does `null` except
/// for the bounds; unknown fields are an error. The bounds must hold
/// together with desiredCapacity (given or kept): minCapacity <=
/// desiredCapacity <= maxCapacity, else 400.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterRequest {
    /// 1-1024 bytes of UTF-8 (maxLength counts characters), no control characters.
    #[schema(min_length = 1, max_length = 1024, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub version: Option<String>,
    /// As `version`.
    #[schema(min_length = 1, max_length = 1024, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub resource_name: Option<String>,
    /// As `version`.
    #[schema(min_length = 1, max_length = 1024, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub dimension_name: Option<String>,
    /// A finite number >= 0, within the bounds.
    #[schema(value_type = Option<f64>, minimum = 0)]
    pub desired_capacity: Option<Capacity>,
    /// A finite number >= 0.
    #[schema(value_type = Option<f64>, minimum = 0)]
    pub actual_capacity: Option<Capacity>,
    /// desiredCapacity may not go below this. Absent: the bound is kept as
    /// it is (none for a new dimension); null: the bound is removed.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>, minimum = 0)]
    pub min_capacity: Option<Option<Capacity>>,
    /// desiredCapacity may not go above this. Absent: the bound is kept as
    /// it is (none for a new dimension); null: the bound is removed.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>, minimum = 0)]
    pub max_capacity: Option<Option<Capacity>>,
}

/// A field that is present, `null` or not: `Some(None)` for `null`. An
/// absent field never gets here and is `None` (`#[serde(default)]`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Capacity>>, D::Error> {
    Option::<Capacity>::deserialize(d).map(Some)
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
        (status = 409, description = "New id and max_dimensions dimensions exist: not created", body = ErrorBody),
        (status = 412, description = "If-Match does not match", body = ErrorBody),
        (status = 415, description = "Body is not application/json", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    )
)]
pub async fn put(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    RequestId(request_id): RequestId,
    Id(id): Id,
    IfMatch(precondition): IfMatch,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    super::dimensions::log_fields(&id);
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
        min_capacity: body.min_capacity.into(),
        max_capacity: body.max_capacity.into(),
    };
    let caller = || caller("PUT", &principal, request_id.as_ref());
    let outcome = state.dimensions.register(&id, reg, precondition, caller).await?;
    Ok(AdminView::response(outcome.dimension, outcome.created))
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
    RequestId(request_id): RequestId,
    Id(id): Id,
) -> Result<StatusCode, ApiError> {
    super::dimensions::log_fields(&id);
    allow(&principal, &[], "deleting a dimension")?;
    let deleted = state.dimensions.delete(&id, || caller("DELETE", &principal, request_id.as_ref())).await?;
    state.bodies.forget(&id);
    if !deleted {
        return Err(ApiError::NotFound(format!("no scalable target dimension {:?}", id.as_str())));
    }
    Ok(StatusCode::NO_CONTENT)
}
