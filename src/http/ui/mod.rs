//! The status page: `/ui` and its files (`/ui/*.js`, `/ui/app.css`),
//! embedded in the binary, and `/` redirecting to it. The files carry no
//! data, so they are served outside the API's authentication and
//! certificate gate; every data call the page makes goes through the API
//! and its roles. Each answer carries a strict Content-Security-Policy
//! (only this origin; no inline script or style) and the usual hardening
//! headers, an `ETag` and `Cache-Control: no-cache` (revalidated, so a new
//! crest is seen at once). With `--ui off`, `/ui` is a JSON 404 that says
//! how to turn it on.

use super::error::ApiError;
use super::request_id;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use std::sync::OnceLock;

/// The page's Content-Security-Policy.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The embedded files: name under `/ui/`, content type, text.
const FILES: &[(&str, &str, &str)] = &[
    ("", "text/html; charset=utf-8", include_str!("index.html")),
    ("app.css", "text/css; charset=utf-8", include_str!("app.css")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_str!("api.js")),
    ("live.js", "text/javascript; charset=utf-8", include_str!("live.js")),
    ("overview.js", "text/javascript; charset=utf-8", include_str!("overview.js")),
    ("dimension.js", "text/javascript; charset=utf-8", include_str!("dimension.js")),
    ("timeline.js", "text/javascript; charset=utf-8", include_str!("timeline.js")),
    ("chart.js", "text/javascript; charset=utf-8", include_str!("chart.js")),
    ("forms.js", "text/javascript; charset=utf-8", include_str!("forms.js")),
];

/// The routes of the page: served when `on`, else a 404 saying how to turn it on.
pub fn router(on: bool) -> Router {
    // Other methods: a JSON 405 with `Allow`.
    let only_get = |r: MethodRouter| r.fallback(method_not_allowed);
    let router = if on {
        Router::new()
            .route("/", only_get(get(to_ui)))
            .route("/ui", only_get(get(|headers: HeaderMap| async move { file("", &headers) })))
            .route("/ui/", only_get(get(to_ui)))
            .route(
                "/ui/{name}",
                only_get(get(|Path(name): Path<String>, headers: HeaderMap| async move { file(&name, &headers) })),
            )
    } else {
        Router::new().route("/ui", only_get(get(off))).route("/ui/{*rest}", only_get(get(off)))
    };
    router.layer(middleware::from_fn(request_id::layer))
}

/// `/` and `/ui/`: to the page.
async fn to_ui() -> Response {
    (StatusCode::FOUND, [(header::LOCATION, HeaderValue::from_static("/ui"))]).into_response()
}

async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::MethodNotAllowed { method: method.to_string(), allow: "GET, HEAD" }
}

async fn off() -> ApiError {
    ApiError::NotFound(
        "the status page is off; start crest with --ui on (CREST_UI=on, or ui = \"on\" in the config file)".into(),
    )
}

/// One embedded file, or 304 when the browser's copy is current.
fn file(name: &str, headers: &HeaderMap) -> Response {
    let Some((index, (_, content_type, text))) = FILES.iter().enumerate().find(|(_, (n, _, _))| *n == name) else {
        return ApiError::NotFound(format!("no file {name:?} under /ui/; the status page is /ui")).into_response();
    };
    let etag = etags().get(index).cloned().unwrap_or_else(|| HeaderValue::from_static("\"0\""));
    let fresh = headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, *content_type)], *text).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, etag);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Each file's ETag: the first 16 hex digits of its SHA-256, computed once.
fn etags() -> &'static [HeaderValue] {
    static ETAGS: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        FILES
            .iter()
            .map(|(_, _, text)| {
                let hash = crate::fingerprint::Fingerprint::of(text.as_bytes()).to_string();
                let tag = format!("\"{}\"", hash.get(..16).unwrap_or(&hash));
                HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::FILES;

    /// No inline script or style: the CSP would block it, and it is the rule.
    #[test]
    fn the_page_has_no_inline_script_or_style() {
        let (_, _, html) = FILES[0];
        assert!(!html.contains("<style"), "no <style> in index.html");
        assert!(!html.contains(" style="), "no style attribute in index.html");
        for (i, _) in html.match_indices("<script") {
            let tag = &html[i..i + html[i..].find('>').unwrap_or(0)];
            assert!(tag.contains("src="), "inline script: {tag}");
        }
        let handler = html.split(" on").skip(1).find(|rest| {
            let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
            !name.is_empty() && rest[name.len()..].starts_with('=')
        });
        assert!(handler.is_none(), "no inline event handler (onclick=…) in index.html: on{handler:?}");
    }

    /// Every module the page imports is served.
    #[test]
    fn every_imported_module_is_served() {
        for (_, _, text) in FILES {
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let name = line.rsplit("'./").next().and_then(|r| r.split('\'').next()).unwrap_or("");
                assert!(FILES.iter().any(|(n, _, _)| *n == name), "{name} is imported but not served");
            }
        }
    }
}
