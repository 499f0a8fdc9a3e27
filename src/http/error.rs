//! `ApiError`: the one error type at the HTTP edge. Every error answers JSON
//! `{"message": ...}`; the causes of 500/503 are logged, never sent.

use crate::domain::{IdError, PatchError, TransitionError};
use crate::service::ServiceError;
use crate::store::StoreError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What a request did wrong, or what went wrong serving it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// No or unknown credentials; answered with `WWW-Authenticate: Bearer`.
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method {method} is not allowed here; use {allow}")]
    MethodNotAllowed { method: String, allow: &'static str },
    /// The request conflicts with crest's state (the dimension limit).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request target is longer than crest reads (`head`).
    #[error("{0}")]
    UriTooLong(String),
    /// Too many or too large header fields (`head`).
    #[error("{0}")]
    HeadersTooLarge(String),
    /// Over the rate limit; `Retry-After` says when to come back (seconds).
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: u64 },
    #[error("request took longer than {0:?}; try again")]
    Timeout(std::time::Duration),
    /// The store cannot answer; the detail is logged only.
    #[error("state store unavailable; try again shortly")]
    Unavailable(String),
    /// The store cannot serve yet (`/readyz`); the reason has no address.
    #[error("not ready: {0}; crest keeps trying by itself")]
    NotReady(String),
    /// SIGTERM came: `/readyz` fails while the API is still served.
    #[error(
        "shutting down (draining): this crest still answers requests but will close its listeners soon; \
         send new requests to another replica"
    )]
    Draining,
    /// A bug or corrupt data; the detail is logged only.
    #[error("internal error; see crest's log")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout(_) | Self::Unavailable(_) | Self::NotReady(_) | Self::Draining => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Unavailable(detail) => tracing::warn!(error = %detail, "store unavailable"),
            Self::Internal(detail) => tracing::error!(error = %detail, "internal error"),
            _ => {}
        }
        let mut response = (self.status(), Json(json!({ "message": self.to_string() }))).into_response();
        match self {
            Self::MethodNotAllowed { allow, .. } => {
                response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            Self::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"crest\""));
            }
            Self::TooManyRequests { retry_after, .. } => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            _ => {}
        }
        response
    }
}

impl From<IdError> for ApiError {
    fn from(e: IdError) -> Self {
        Self::BadRequest(format!("invalid id in the path: {e}"))
    }
}

impl From<PatchError> for ApiError {
    fn from(e: PatchError) -> Self {
        Self::BadRequest(e.to_string())
    }
}

impl From<TransitionError> for ApiError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::NotFound(_) | TransitionError::NotCreated(_) => Self::NotFound(e.to_string()),
            TransitionError::ReasonWithoutFailed(_)
            | TransitionError::OutOfBounds(_)
            | TransitionError::BadBounds(_)
            | TransitionError::ScalerFieldsInDemo(_) => Self::BadRequest(e.to_string()),
            TransitionError::Stale { .. } => Self::PreconditionFailed(e.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => Self::Unavailable(e.to_string()),
            StoreError::Corrupt(_) | StoreError::Open(_) => Self::Internal(e.to_string()),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Rejected(t) => t.into(),
            ServiceError::Store(s) => s.into(),
            ServiceError::Task(_) => Self::Internal(e.to_string()),
            ServiceError::TooManyDimensions { .. } => Self::Conflict(e.to_string()),
        }
    }
}
