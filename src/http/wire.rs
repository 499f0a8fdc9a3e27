//! What crest sends and receives that is not a domain type: the error body,
//! the PATCH body's schema, health answers, a dimension with its ETag, a
//! change event and the admin view. The handlers use these; `openapi`
//! documents them.

use super::bodies::Bodies;
use super::error::ApiError;
use crate::domain::{Capacity, Dimension, ScalingStatus};
use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Every error answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong and what to change.
    pub message: String,
}

/// A PATCH body (`domain::Patch`): one field or more of these, none null;
/// unknown fields are ignored. AAS sends `desiredCapacity`; the scaler
/// reports the others (production mode: a demo server's document says it
/// takes `desiredCapacity` only). `failureReason` comes with
/// `scalingStatus: Failed`. (Alone, crest also takes it with a new
/// desiredCapacity, which starts a new activity and drops it, or on a
/// dimension that has already failed: rules of the stored dimension, which
/// no schema can say.)
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
// minProperties, anyOf and if/then: `openapi::rules::schemas` (utoipa
// 5.5 writes `min_properties` out as maxProperties).
pub struct PatchRequest {
    /// A finite number >= 0: the capacity AAS asks for.
    #[schema(minimum = 0, nullable = false)]
    pub desired_capacity: Option<f64>,
    /// A finite number >= 0: the capacity the scaler has reached.
    #[schema(minimum = 0, nullable = false)]
    pub actual_capacity: Option<f64>,
    #[schema(nullable = false)]
    pub scaling_status: Option<ScalingStatus>,
    /// Why the scaling failed: with `scalingStatus: Failed`; at most 4096
    /// bytes of UTF-8 (maxLength counts characters), no NUL.
    #[schema(max_length = 4096, pattern = r"^[^\u0000]*$", nullable = false)]
    pub failure_reason: Option<String>,
}

/// `/healthz`, `/livez` and `/readyz` answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthBody {
    pub status: String,
    /// `/readyz` only: the store kind.
    pub store: Option<String>,
}

/// `status` with `body` as JSON and the revision as the `ETag`.
fn with_etag(status: StatusCode, revision: u64, body: impl Serialize) -> Response {
    match serde_json::to_vec(&body) {
        Ok(json) => json_with_etag(status, revision, Bytes::from(json)),
        Err(e) => ApiError::Internal(format!("cannot encode the answer: {e}")).into_response(),
    }
}

/// `status` with the JSON `json` and the revision as the `ETag` (its
/// digits written by hand: `write_fmt` took about 370 instructions of a
/// cached GET in `bench/callgrind.sh`'s profile).
fn json_with_etag(status: StatusCode, revision: u64, json: Bytes) -> Response {
    let mut response = (status, json).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(etag) = HeaderValue::from_bytes(quoted(revision, &mut [0u8; 22])) {
        headers.insert(header::ETAG, etag);
    }
    response
}

/// `"revision"`, written at the end of `buf` (20 digits at most, and the quotes).
fn quoted(revision: u64, buf: &mut [u8; 22]) -> &[u8] {
    let (mut n, mut at) = (revision, buf.len() - 1);
    buf[at] = b'"';
    loop {
        at -= 1;
        // A remainder below 10: one digit.
        buf[at] = b'0' + u8::try_from(n % 10).unwrap_or(0);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    at -= 1;
    buf[at] = b'"';
    &buf[at..]
}

/// A dimension as the response body, with its revision as the `ETag`
/// (header only: the JSON stays exactly what AAS expects). The JSON comes
/// from `Bodies`: the same bytes again while the dimension is unchanged.
pub struct Versioned {
    revision: u64,
    json: Bytes,
}

impl Versioned {
    /// # Errors
    /// `Internal` if the dimension cannot be encoded.
    pub fn of(bodies: &Bodies, d: &Dimension) -> Result<Self, ApiError> {
        let json = bodies.json(d).map_err(|e| ApiError::Internal(format!("cannot encode the answer: {e}")))?;
        Ok(Self { revision: d.revision, json })
    }
}

impl IntoResponse for Versioned {
    fn into_response(self) -> Response {
        json_with_etag(StatusCode::OK, self.revision, self.json)
    }
}

/// A change as an SSE event's data: the dimension plus its revision.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeEvent {
    pub revision: u64,
    /// When the dimension was last stored (RFC 3339, UTC, milliseconds),
    /// when the store knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub changed_at: Option<String>,
    #[serde(flatten)]
    pub dimension: Dimension,
}

impl ChangeEvent {
    pub fn of(dimension: Dimension) -> Self {
        let changed_at = dimension.changed_at.map(|t| humantime::format_rfc3339_millis(t).to_string());
        Self { revision: dimension.revision, changed_at, dimension }
    }
}

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
        Self { change: ChangeEvent::of(d), min_capacity, max_capacity }
    }
}

impl AdminView {
    /// `201 Created` or `200 OK` with the ETag.
    pub fn response(d: Dimension, created: bool) -> Response {
        let status = if created { StatusCode::CREATED } else { StatusCode::OK };
        with_etag(status, d.revision, Self::from(d))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn etags_are_the_quoted_revision() {
        for n in [0, 1, 9, 10, 99, 100, 12_345, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(super::quoted(n, &mut [0u8; 22]), format!("\"{n}\"").as_bytes(), "{n}");
        }
    }
}
