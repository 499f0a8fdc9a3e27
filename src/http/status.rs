//! `GET /v1/status`: the facts the status page's operations strip shows —
//! mode and demo style, the store's kind (never its URL), the server
//! certificate's and the client-certificate pins' and CAs' expiry, the ACME
//! state, and who the caller is. Role read (any role).

use super::AppState;
use super::error::ApiError;
use crate::auth::{Principal, Role};
use crate::domain::{DemoStyle, Mode};
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use std::time::{Duration, UNIX_EPOCH};

/// What the operations strip shows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusBody {
    /// `demo` or `production`.
    pub mode: &'static str,
    /// Demo mode: `steps`, `gradual` or `timed`; null in production.
    pub demo_style: Option<&'static str>,
    /// Demo mode: simulated scalings end in Failed.
    pub simulate_failure: bool,
    /// `memory`, `file`, `sqlite` or `postgres` (never the URL).
    pub store: &'static str,
    /// Callers must authenticate (tokens or verified client certificates).
    pub auth: bool,
    /// The caller: its role and name (`token:NAME` or the certificate);
    /// both null when authentication is off.
    pub caller: Caller,
    /// The certificates, when HTTPS is on.
    pub certificates: Vec<Certificate>,
    /// Certificates from ACME, when on.
    pub acme: Option<AcmeState>,
}

/// Who asked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Caller {
    pub role: Option<&'static str>,
    pub name: Option<String>,
}

/// One configured certificate and how long it is valid.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    /// `server certificate`, `client CA` or `pinned client certificate`.
    pub role: &'static str,
    pub subject: String,
    pub sha256: String,
    /// RFC 3339, UTC.
    pub not_after: String,
    /// Days until `notAfter`, one decimal (negative once expired).
    pub days_left: f64,
}

/// The ACME manager's state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcmeState {
    /// The live ACME certificate's end of validity (RFC 3339), when one is installed.
    pub not_after: Option<String>,
    /// When crest renews next (RFC 3339).
    pub renew_at: Option<String>,
    /// The last failure, cleared by the next success.
    pub last_error: Option<String>,
    /// Failed attempts in a row.
    pub failures: u32,
}

/// The operations facts for the status page.
#[utoipa::path(
    get,
    operation_id = "getStatus",
    path = "/v1/status",
    tag = "operations",
    responses(
        (status = 200, description = "Mode, store kind, certificates and ACME state", body = StatusBody),
        (status = 401, description = "Authentication on and no valid token or certificate", body = super::wire::ErrorBody),
        (status = 429, description = "Over the rate limit", body = super::wire::ErrorBody),
    )
)]
pub async fn status(
    State(state): State<AppState>,
    axum::Extension(principal): axum::Extension<Principal>,
) -> Result<Json<StatusBody>, ApiError> {
    principal.require(&Role::ALL, "reading /v1/status").map_err(ApiError::Forbidden)?;
    let now = state.clock.now();
    let (mode, demo_style, simulate_failure) = match state.dimensions.mode() {
        Mode::Production => ("production", None, false),
        Mode::Demo { simulate_failure, style } => {
            let style = match style {
                DemoStyle::Steps => "steps",
                DemoStyle::Gradual { .. } => "gradual",
                DemoStyle::Timed { .. } => "timed",
            };
            ("demo", Some(style), simulate_failure)
        }
    };
    let certificates = state.tls.as_ref().map_or_else(Vec::new, |tls| {
        tls.certificates()
            .into_iter()
            .map(|c| Certificate {
                role: c.role,
                days_left: c.days_left_shown(now),
                not_after: rfc3339(c.not_after).unwrap_or_default(),
                subject: c.subject,
                sha256: c.sha256.to_string(),
            })
            .collect()
    });
    let acme = state.acme.as_ref().map(|acme| {
        let s = acme.status();
        AcmeState {
            not_after: s.not_after.and_then(rfc3339),
            renew_at: s.renew_at.and_then(rfc3339),
            last_error: s.last_error,
            failures: s.failures,
        }
    });
    Ok(Json(StatusBody {
        mode,
        demo_style,
        simulate_failure,
        store: state.dimensions.store().kind(),
        auth: state.auth_enabled,
        caller: Caller { role: principal.role().map(Role::as_str), name: principal.label() },
        certificates,
        acme,
    }))
}

/// Unix seconds as RFC 3339 (None before 1970).
fn rfc3339(seconds: i64) -> Option<String> {
    let t = UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(seconds).ok()?))?;
    Some(humantime::format_rfc3339_seconds(t).to_string())
}
