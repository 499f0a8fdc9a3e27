//! `GET /v1/scalableTargetDimensions/{id}/history?limit=&before=`: the
//! dimension's stored changes, newest first, one page at a time.

use super::AppState;
use super::error::ApiError;
use super::extract::Id;
use crate::domain::{HistoryEntry, HistoryQuery};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};

/// Entries per page unless `limit` says otherwise, and the most it may say.
pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 1000;

/// The query string.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Entries per page, 1 to 1000 [default: 100].
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// Only revisions below this one: the `nextBefore` of the previous page.
    #[param(minimum = 1)]
    pub before: Option<u64>,
}

/// One page of history.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    pub scalable_target_dimension_id: String,
    /// Newest first.
    pub entries: Vec<HistoryEntry>,
    /// Pass as `before` for the next (older) page; null when no older entry follows.
    pub next_before: Option<u64>,
}

/// The history of one dimension.
#[utoipa::path(
    get,
    operation_id = "getDimensionHistory",
    path = "/v1/scalableTargetDimensions/{id}/history",
    tag = "dimensions",
    params(("id" = String, Path, description = "scalableTargetDimensionId"), Params),
    responses(
        (status = 200, description = "A page of changes, newest first", body = HistoryPage),
        (status = 400, description = "Bad id or query", body = super::wire::ErrorBody),
        (status = 404, description = "No such dimension", body = super::wire::ErrorBody),
        (status = 429, description = "Over the rate limit", body = super::wire::ErrorBody),
        (status = 503, description = "Store unavailable", body = super::wire::ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    axum::Extension(principal): axum::Extension<crate::auth::Principal>,
    Id(id): Id,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Json<HistoryPage>, ApiError> {
    super::auth::allow(&principal, &crate::auth::Role::ALL, "reading history")?;
    let Query(params) = params.map_err(|e| {
        ApiError::BadRequest(format!(
            "invalid query: {}; use ?limit=N (1-{MAX_LIMIT}) and ?before=REVISION",
            e.body_text()
        ))
    })?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}, got {limit}")));
    }
    if params.before.is_some_and(|b| b == 0 || b > crate::domain::MAX_REVISION) {
        return Err(ApiError::BadRequest(format!(
            "before must be a revision from 1 to {} (the nextBefore of a page)",
            crate::domain::MAX_REVISION
        )));
    }
    if state.dimensions.store().get(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no scalable target dimension {:?}", id.as_str())));
    }
    // One entry past the page: a cursor only when an older one follows.
    let mut entries =
        state.dimensions.store().history(&id, HistoryQuery { before: params.before, limit: limit + 1 }).await?;
    let more = entries.len() as u64 > limit;
    entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_before = more.then(|| entries.last().map(|e| e.revision)).flatten();
    Ok(Json(HistoryPage { scalable_target_dimension_id: id.as_str().to_owned(), entries, next_before }))
}
