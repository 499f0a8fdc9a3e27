//! Authentication: every request gets a `Principal` — from the bearer
//! token, else the verified client certificate — or, when authentication is
//! on and it has neither, a 401. Only the exact public paths (health, ACME
//! tokens) skip it, so no spelling of a path gets past. Which role an
//! operation needs is checked by its handler (`allow`). Run by the front
//! middleware, before the rate limit, which then counts the caller by who
//! it is.

use super::AppState;
use super::certificate;
use super::error::ApiError;
use super::gate::{Rejection, is_public};
use crate::auth::{Principal, Role};
use crate::net::ConnInfo;
use axum::extract::Request;
use axum::http::header;
use std::sync::Arc;

/// Puts the caller's `Principal` in the request's extensions.
///
/// # Errors
/// The 401, with the reason for the log: `bad_scheme`, `unknown_token`,
/// `no_credentials`, or why the connection's certificate no longer counts
/// (`certificate_expired`, `certificate_untrusted`, …).
pub fn authenticate(state: &AppState, req: &mut Request) -> Result<(), Rejection> {
    let p = principal(state, req)?;
    req.extensions_mut().insert(p);
    Ok(())
}

fn principal(state: &AppState, req: &Request) -> Result<Principal, Rejection> {
    let refuse = |reason, message: &str| Rejection { reason, error: ApiError::Unauthorized(message.into()) };
    if !state.auth_enabled || is_public(req.uri().path()) {
        return Ok(Principal::Open);
    }
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let text = value.to_str().unwrap_or("");
        let Some(token) = text.strip_prefix("Bearer ").or_else(|| text.strip_prefix("bearer ")) else {
            return Err(refuse(
                "bad_scheme",
                "Authorization must be \"Bearer <token>\"; other schemes are not accepted",
            ));
        };
        return match state.auth.token(token.trim()) {
            Some(t) => Ok(Principal::Token { name: t.name.clone(), role: t.role }),
            None => Err(refuse(
                "unknown_token",
                "unknown bearer token; send Authorization: Bearer <token> with a token crest is configured with",
            )),
        };
    }
    let conn = req.extensions().get::<Arc<ConnInfo>>().map(|c| &**c);
    match certificate::presented(state, conn) {
        Some((c, standing)) if standing.trusted() => {
            let role = certificate::role(state, c, standing);
            Ok(Principal::Certificate { subject: c.subject.clone(), sha256: c.sha256, role })
        }
        Some((_, standing)) => Err(Rejection {
            reason: standing.reason(),
            error: ApiError::Unauthorized(format!("{}, or send Authorization: Bearer <token>", standing.message())),
        }),
        None => Err(refuse(
            "no_credentials",
            "authentication required: send Authorization: Bearer <token> or a verified client certificate",
        )),
    }
}

/// 403 unless the caller has one of `roles` (admin always has).
///
/// # Errors
/// `Forbidden` naming the action and the roles that may do it.
pub fn allow(principal: &Principal, roles: &[Role], action: &str) -> Result<(), ApiError> {
    principal.require(roles, action).map_err(ApiError::Forbidden)
}
