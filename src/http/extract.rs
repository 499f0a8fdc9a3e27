//! Extractors whose rejections are our own `ApiError`: the dimension id from
//! the path and the PATCH body (content type, size, JSON, fields).

use super::error::ApiError;
use crate::domain::{DimensionId, Patch, Precondition};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};

/// The largest body we read.
pub const BODY_LIMIT: usize = 64 * 1024;

/// `{id}` of `/v1/scalableTargetDimensions/{id}`, parsed once.
pub struct Id(pub DimensionId);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state).await.map_err(|e| {
            ApiError::BadRequest(format!(
                "invalid id in the path: {}; an id is one path segment of printable UTF-8",
                e.body_text()
            ))
        })?;
        Ok(Self(DimensionId::parse(&raw)?))
    }
}

/// The request's id (`X-Request-Id`, the caller's or a new one), from the
/// request's log fields, for the history: all a handler needs to name its
/// caller, without a copy of every header.
pub struct RequestId(pub Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(crate::telemetry::request::with_current(|f| f.request_id.clone())))
    }
}

/// `If-Match` on PATCH: compare-and-swap on the dimension's revision.
pub struct IfMatch(pub Option<Precondition>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else { return Ok(Self(None)) };
        let text = value.to_str().unwrap_or("").trim();
        if text == "*" {
            return Ok(Self(Some(Precondition::Exists)));
        }
        let revision = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).and_then(|n| n.parse::<u64>().ok());
        match revision {
            Some(n) => Ok(Self(Some(Precondition::Revision(n)))),
            None => Err(ApiError::BadRequest(
                "If-Match must be the ETag of a GET, e.g. If-Match: \"3\" (quotes included), or *".into(),
            )),
        }
    }
}

/// A PATCH body: JSON (also sent as form-urlencoded by `curl -d`).
pub struct PatchBody(pub Patch);

const SEND_JSON: &str = "send the body as JSON with the header Content-Type: application/json";

/// Accepts `application/json` (any parameters, also `+json` types), no
/// Content-Type, and `application/x-www-form-urlencoded` (the body must still
/// be JSON).
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or("");
    let essence = text.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let ok = essence == "application/json"
        || essence == "application/x-www-form-urlencoded"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if ok {
        Ok(())
    } else {
        let shown = String::from_utf8_lossy(value.as_bytes()).chars().take(100).collect::<String>();
        Err(ApiError::UnsupportedMediaType(format!("Content-Type {shown:?} is not supported; {SEND_JSON}")))
    }
}

/// A JSON request body (PATCH, PUT): content type, size limit (413), empty
/// and malformed bodies all answer JSON errors.
pub struct JsonBody(pub serde_json::Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        // The body is read before the Content-Type is judged, so that h2
        // clients get the 415 after sending their whole request.
        let content_type = check_content_type(req.headers());
        let bytes = Bytes::from_request(req, state).await.map_err(|e: BytesRejection| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(BODY_LIMIT)
            } else {
                ApiError::BadRequest(format!("cannot read the request body: {}", e.body_text()))
            }
        })?;
        content_type?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::BadRequest(format!(
                "request body is empty; {SEND_JSON}, e.g. {{\"desiredCapacity\": 2.0}}"
            )));
        }
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::BadRequest(format!(
                "request body is not valid JSON ({e}); {SEND_JSON}, e.g. {{\"desiredCapacity\": 2.0}}"
            ))
        })?;
        Ok(Self(value))
    }
}

impl<S: Send + Sync> FromRequest<S> for PatchBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let JsonBody(value) = JsonBody::from_request(req, state).await?;
        Ok(Self(Patch::from_json(&value)?))
    }
}
