//! The access line: one INFO line `request` per answered request (target
//! `crest::access`), the same fields in text and JSON, written with
//! `parent: None` so the request's log fields are not added twice:
//!
//! `method route id status latency_ms bytes request_id client who trace_id xray_trace_id`
//!
//! `id` when the route has one (the raw path segment), `path` instead when
//! no route matched, `bytes` when the body's size is known, `who` when the
//! caller authenticated (`Principal::label`, as history names callers:
//! `token:NAME`, or the certificate's subject and `sha256:` fingerprint),
//! `trace_id` and `xray_trace_id` when the caller sent valid ones
//! (`trace_context`). Refused requests
//! (401, 403, 429) write `request rejected` instead (`gate`). Whether a
//! line is written is `telemetry::access::admit`'s call: the access log may
//! be off, and it has a per-second budget.

use crate::auth::Principal;
use crate::net::ConnInfo;
use crate::telemetry::request;
use axum::body::HttpBody;
use axum::response::Response;
use std::time::Instant;

/// What the access line says of a request besides the request's log fields
/// (method, route, path, request id, trace ids: `telemetry::request`, set by
/// the router for the request being served).
#[derive(Clone, Copy)]
pub struct Request<'a> {
    pub conn: Option<&'a ConnInfo>,
    pub principal: Option<&'a Principal>,
    pub started: Instant,
}

/// Writes the access line of the request being served for `response`,
/// unless the access log is off or over its budget.
pub fn log(request: &Request<'_>, response: &Response) {
    let status = response.status().as_u16();
    if !crate::telemetry::access::admit(status) {
        return;
    }
    let Request { conn, principal, started } = *request;
    let who = principal.and_then(Principal::label);
    request::with_current(|r| {
        let (route, path) = (r.route, r.uri.path());
        let id = route.starts_with("/v1/scalableTargetDimensions/{id}").then(|| path.split('/').nth(3)).flatten();
        tracing::info!(
            target: "crest::access",
            parent: None,
            method = %r.method,
            route = %route,
            id = id.map(tracing::field::display),
            path = (route == "unmatched").then_some(tracing::field::display(path)),
            status,
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            bytes = response.body().size_hint().exact(),
            request_id = %r.request_id(),
            client = conn.map(|c| tracing::field::display(c.peer)),
            who,
            trace_id = r.trace_id(),
            xray_trace_id = r.xray_trace_id(),
            "request"
        );
    });
}
