//! The hot path: `GET /v1/scalableTargetDimensions/{id}` without a query
//! string, what AAS polls and most of crest's traffic, is served without
//! axum's router. The router's path match, its URL parameters, matched path
//! and body-limit extensions and the extractors cost about a fifth of such a
//! request (`bench/callgrind.sh`; bench/README.md, "Third round").
//!
//! Nothing else changes for it: the same front middleware (`router::front`:
//! head size, request id, authentication, rate limit, timeout, log line,
//! metrics) runs, then `dimensions::read`, the code of the router's `GET`.
//! Whatever is not plainly such a request goes to the router: another
//! method, a query, an id with `%` (which the router decodes) or any other
//! path, and, on a listener that checks client certificates, a connection
//! without one trusted now (the gate in front of the router refuses it).

use super::AppState;
use super::auth;
use super::certificate;
use super::dimensions;
use super::error::ApiError;
use super::extract::RequestId;
use crate::auth::{Principal, Role};
use crate::domain::DimensionId;
use crate::net::ConnInfo;
use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;
use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::Service;

/// The route template the hot path serves (its label in metrics and logs).
pub(super) const ROUTE: &str = "/v1/scalableTargetDimensions/{id}";
const PREFIX: &str = "/v1/scalableTargetDimensions/";

/// The API as one service: the hot path, or the router.
#[derive(Clone)]
pub struct Api<H> {
    state: AppState,
    hot: H,
    router: Router,
}

impl<H> Api<H> {
    pub(super) fn new(state: AppState, hot: H, router: Router) -> Self {
        Self { state, hot, router }
    }

    /// Whether `req` takes the hot path.
    fn is_hot(&self, req: &Request) -> bool {
        if req.method() != Method::GET || req.uri().query().is_some() || hot_id(req.uri().path()).is_none() {
            return false;
        }
        if !self.state.require_certificate {
            return true;
        }
        let conn = req.extensions().get::<Arc<ConnInfo>>();
        certificate::presented(&self.state, conn.map(Arc::as_ref)).is_some_and(|(_, standing)| standing.trusted())
    }
}

/// The id of a hot path: one path segment after the prefix, without `%`.
fn hot_id(path: &str) -> Option<&str> {
    // `watch` is a route of its own.
    path.strip_prefix(PREFIX)
        .filter(|id| !id.is_empty() && *id != "watch" && !id.bytes().any(|b| b == b'/' || b == b'%'))
}

impl<H> Service<Request> for Api<H>
where
    H: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<H::Future, <Router as Service<Request>>::Future>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Both are always ready (the front service and the router are).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if self.is_hot(&req) {
            Either::Left(self.hot.call(req))
        } else {
            Either::Right(Service::<Request>::call(&mut self.router, req))
        }
    }
}

/// The hot path's handler, behind the front middleware.
#[derive(Clone)]
pub struct HotGet(pub(super) AppState);

impl Service<Request> for HotGet {
    type Response = Response;
    type Error = Infallible;
    type Future =
        Either<Ready<Result<Response, Infallible>>, Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        match at_once(&self.0, req) {
            Answer::Now(response) => Either::Left(ready(Ok(response))),
            Answer::Later(req, id) => Either::Right(Box::pin(serve(self.0.clone(), req, id))),
        }
    }
}

/// What `at_once` found.
enum Answer {
    /// The response, nothing awaited.
    Now(Response),
    /// The request and its id, for `serve`.
    Later(Request, DimensionId),
}

/// `dimensions::get` for a plain GET, with the id read from the path as the
/// router would, as far as it goes without awaiting: an invalid id, a
/// refused role, or a dimension the store has in memory in production mode
/// (what AAS polls: no boxed future, no task-local look-up, no clock).
fn at_once(state: &AppState, req: Request) -> Answer {
    let id = match DimensionId::parse(hot_id(req.uri().path()).unwrap_or_default()) {
        Ok(id) => id,
        Err(e) => return Answer::Now(ApiError::from(e).into_response()),
    };
    // The front middleware authenticated the request (else it would not be here).
    let Some(principal) = req.extensions().get::<Principal>() else {
        return Answer::Now(ApiError::Internal("no principal".into()).into_response());
    };
    dimensions::log_fields(&id);
    if let Err(e) = auth::allow(principal, &Role::ALL, "reading a dimension") {
        return Answer::Now(e.into_response());
    }
    match dimensions::read_cached(state, &id) {
        Some(answer) => Answer::Now(answer.into_response()),
        None => Answer::Later(req, id),
    }
}

/// The rest of `get` (the store, a demo step, a creation); the request goes
/// straight into this future (see `router::FrontService::call`).
async fn serve(state: AppState, req: Request, id: DimensionId) -> Result<Response, Infallible> {
    Ok(read(&state, req, &id).await.into_response())
}

async fn read(state: &AppState, req: Request, id: &DimensionId) -> Result<impl IntoResponse, ApiError> {
    let (mut parts, _body) = req.into_parts();
    let Ok(RequestId(request_id)) = RequestId::from_request_parts(&mut parts, state).await;
    let principal = parts.extensions.get::<Principal>().ok_or_else(|| ApiError::Internal("no principal".into()))?;
    dimensions::read_stored(state, principal, request_id.as_ref(), id).await
}

#[cfg(test)]
mod tests {
    use super::hot_id;

    #[test]
    fn only_plain_single_segments_are_hot() {
        assert_eq!(hot_id("/v1/scalableTargetDimensions/abc-1"), Some("abc-1"));
        for p in [
            "/v1/scalableTargetDimensions/",
            "/v1/scalableTargetDimensions",
            "/v1/scalableTargetDimensions/a/history",
            "/v1/scalableTargetDimensions/a%2Fb",
            "/v1/scalableTargetDimensions/a/",
            "//v1/scalableTargetDimensions/a",
            "/v1/scalabletargetdimensions/a",
            "/v1/scalableTargetDimensions/watch",
        ] {
            assert_eq!(hot_id(p), None, "{p}");
        }
    }
}
