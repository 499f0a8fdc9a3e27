//! The router and its front middleware: request id, trace ids, the request's log fields and access line, metrics,
//! the size of the request head, timeout, authentication, then the rate limit, body limit, JSON answers
//! for unknown routes and methods; the client-certificate gate in front of
//! it all on HTTPS. Each request writes at most one log line: the access
//! line `request` (`access`: within the access log's budget), or `request
//! rejected` for a 401, 403 or 429 (`gate::log_rejection`, limited to a few
//! lines per second).

use super::error::ApiError;
use super::gate::{Refused, Rejection};
use super::hot::{self, Api, HotGet};
use super::rate_limit::ClientKey;
use super::{
    AppState, access, admin, auth, certificate, dimensions, extract, gate, head, health, history, openapi, rate_limit,
    request_id, route_label, status, trace_context, ui,
};
use crate::auth::Principal;
use crate::metrics::Metrics;
use crate::net::ConnInfo;
use crate::telemetry;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{StatusCode, Uri};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::{Layer, Service, ServiceBuilder};

/// The API's routes: path template, the methods it documents, handlers.
/// `/openapi.json` must list exactly these (tests/api/openapi.rs checks it).
fn routes(metrics: bool) -> Vec<(&'static str, MethodRouter<AppState>)> {
    let read_only = |r: MethodRouter<AppState>| r.fallback(health::method_not_allowed);
    let mut routes = vec![
        ("/v1/scalableTargetDimensions", read_only(get(admin::list))),
        ("/v1/scalableTargetDimensions/watch", read_only(get(dimensions::watch))),
        (
            "/v1/scalableTargetDimensions/{id}",
            get(dimensions::get)
                .patch(dimensions::patch)
                .put(admin::put)
                .delete(admin::delete)
                .fallback(dimensions::method_not_allowed),
        ),
        ("/v1/scalableTargetDimensions/{id}/history", read_only(get(history::get))),
        ("/v1/status", read_only(get(status::status))),
        ("/healthz", read_only(get(health::healthz))),
        ("/livez", read_only(get(health::livez))),
        ("/readyz", read_only(get(health::readyz))),
        ("/openapi.json", read_only(get(openapi::openapi_json))),
        ("/.well-known/acme-challenge/{token}", read_only(get(health::acme_http01))),
    ];
    if metrics {
        routes.push(("/metrics", read_only(get(health::metrics_text))));
    }
    routes
}

/// The path templates the API router serves (for the OpenAPI check).
pub fn route_paths(metrics: bool) -> Vec<&'static str> {
    routes(metrics).into_iter().map(|(p, _)| p).collect()
}

/// The API: the hot path (`hot`) beside the router.
pub type ApiService = Api<FrontService<HotGet>>;

/// The API. `request_timeout` bounds each request (503 JSON after it).
pub fn router(state: AppState, request_timeout: Duration) -> ApiService {
    route_label::register(|| route_paths(true));
    // The hot path passes the same front middleware, under the router's label.
    let front = Front { state: state.clone(), request_timeout, route: Some(route_label::intern(hot::ROUTE)) };
    let hot = FrontLayer(front).layer(HotGet(state.clone()));
    Api::new(state.clone(), hot, api_router(state, request_timeout))
}

/// The router of every API route.
fn api_router(state: AppState, request_timeout: Duration) -> Router {
    let mut router = Router::new();
    for (path, methods) in routes(state.metrics_on_api) {
        router = router.route(path, methods);
    }
    let mut router = router
        .fallback(not_found)
        // One layer (axum boxes each route once per layer, and clones that
        // box per request): the front middleware, then the body limit.
        .layer(
            ServiceBuilder::new()
                .layer(FrontLayer(Front { state: state.clone(), request_timeout, route: None }))
                .layer(DefaultBodyLimit::max(extract::BODY_LIMIT)),
        );
    if state.require_certificate {
        // Outermost: judged before anything else.
        router = router.layer(middleware::from_fn_with_state(state.clone(), gate::require_certificate));
    }
    // The status page's files carry no data: outside authentication and the gate.
    ui::router(state.ui).merge(router.with_state(state))
}

/// What the front middleware needs.
#[derive(Clone)]
struct Front {
    state: AppState,
    request_timeout: Duration,
    /// The route's label when known without the router (the hot path).
    route: Option<&'static str>,
}

/// `front` as a tower layer: one boxed future per request (axum's
/// `from_fn` adds a boxed copy of the inner service and a second future).
#[derive(Clone)]
struct FrontLayer(Front);

impl<S> Layer<S> for FrontLayer {
    type Service = FrontService<S>;

    fn layer(&self, inner: S) -> FrontService<S> {
        FrontService { inner, front: self.0.clone() }
    }
}

#[derive(Clone)]
pub struct FrontService<S> {
    inner: S,
    front: Front,
}

impl<S> Service<Request> for FrontService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The ready service goes with this request; a clone stays for the next.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        // The request goes straight into `front_call`'s future (an `async`
        // block around it would hold it and move it in again at the first poll).
        Box::pin(front_call(self.front.clone(), req, ready))
    }
}

/// Every API request passes here once (one middleware instead of a stack,
/// which axum would clone per request): request id, the request's log
/// fields (`telemetry::request`: on every line written for it),
/// authentication, then the rate limit (per token, certificate or
/// address), timeout, the log line, metrics.
async fn front_call<S>(front: Front, mut req: Request, mut next: S) -> Result<Response, Infallible>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let started = Instant::now();
    let too_big = head::check(&req).err();
    let request_id = request_id::normalize(&req);
    let route = front.route.unwrap_or_else(|| {
        route_label::intern(req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str))
    });
    let method = req.method().clone();
    let conn = req.extensions().get::<Arc<ConnInfo>>().cloned();
    let trace = trace_context::TraceIds::from_headers(req.headers());
    let line = access::Request { conn: conn.as_deref(), principal: None, started };
    let mut fields = telemetry::request::Fields::new(method.clone(), route, req.uri().clone(), request_id);
    if let Some(trace) = &trace {
        fields.set_trace(&trace.trace_id, trace.xray_trace_id.as_deref());
    }
    let state = &front.state;
    let serve = async {
        if let Some(too_big) = too_big {
            // Judged first: a head this size is refused whoever sends it.
            let response = too_big.into_response();
            access::log(&line, &response);
            return response;
        }
        let unauthenticated = auth::authenticate(state, &mut req).err();
        let principal = req.extensions().get::<Principal>().cloned();
        let key = rate_limit::client_key(&state.auth, req.extensions().get::<Principal>(), conn.as_deref());
        // Over the limit wins over a failed authentication: guessing is limited too.
        let refused = rate_limit::check(state, req.uri().path(), key).err().or(unauthenticated);
        let (response, reason) = match refused {
            Some(Rejection { reason, error }) => (error.into_response(), Some(reason)),
            // `next` was found ready by `poll_ready` (`FrontService::call`
            // hands over that very service) or is always ready (the hot
            // path's handler), so it is called as it is: tower's `oneshot`
            // would ask again and move the request once more.
            None => match tokio::time::timeout(front.request_timeout, next.call(req)).await {
                Ok(Ok(response)) => (response, None),
                Ok(Err(never)) => match never {},
                Err(_) => (ApiError::Timeout(front.request_timeout).into_response(), None),
            },
        };
        let status = response.status();
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS) {
            // A handler's 403 is `auth::allow`: the caller's role may not.
            let reason = reason.unwrap_or(if status == StatusCode::FORBIDDEN { "role" } else { "handler" });
            gate::log_rejection(&state.metrics, status, reason, &refused_by(state, key, conn.as_deref()));
        } else {
            access::log(&access::Request { principal: principal.as_ref(), ..line }, &response);
        }
        response
    };
    let scoped = telemetry::request::scope(fields, serve);
    tokio::pin!(scoped);
    let mut response = scoped.as_mut().await;
    state.metrics.http(route, &method, response.status().as_u16(), started);
    // The request id goes back from the log fields to the answer.
    if let Some(fields) = telemetry::request::take_fields(scoped) {
        response.headers_mut().insert(request_id::X_REQUEST_ID.clone(), fields.request_id);
    }
    if let Some(traceparent) = trace.and_then(|t| t.traceparent) {
        response.headers_mut().insert(trace_context::TRACEPARENT.clone(), traceparent);
    }
    Ok(response)
}

/// Who was refused, for the log: the token by name, the certificate by
/// subject (also one no longer trusted), and the role.
fn refused_by<'a>(state: &'a AppState, key: ClientKey, conn: Option<&'a ConnInfo>) -> Refused<'a> {
    let token = match key {
        ClientKey::Token(i) => state.auth.tokens.get(i),
        ClientKey::Certificate(_) | ClientKey::Address(_) | ClientKey::Unknown => None,
    };
    let client = certificate::presented(state, conn);
    let trusted = client.filter(|(_, standing)| standing.trusted() && state.auth_enabled);
    Refused {
        peer: conn.map(|c| c.peer),
        token: token.map(|t| t.name.as_str()),
        client_subject: client.map(|(c, _)| c.subject.as_str()),
        role: token.map(|t| t.role).or_else(|| trusted.map(|(c, standing)| certificate::role(state, c, standing))),
    }
}

/// A router with only `/metrics`, for `metrics_listen`.
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(move || health::metrics_response(metrics.clone())).fallback(health::method_not_allowed))
        .fallback(|uri: Uri| async move {
            ApiError::NotFound(format!("no route for {:?}; this listener serves only /metrics", uri.path()))
        })
        .layer(middleware::from_fn(request_id::layer))
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!(
        "no route for {:?}; the API is /v1/scalableTargetDimensions/{{id}} (and /healthz, /readyz, /openapi.json)",
        uri.path()
    ))
}
