//! The page's files over plain HTTP (no browser): the hardening headers,
//! revalidation by ETag, public even with tokens on, `/` to `/ui`, and the
//! JSON 404 that says how to turn the page on.

use crate::helpers::{StoreKind, spawn_app};
use crest::auth::{AuthConfig, Role, Token, hash};
use serde_json::Value;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_files_are_public_hardened_and_revalidated() {
    let app = spawn_app(StoreKind::Memory, |c| {
        c.auth = AuthConfig {
            tokens: vec![Token { name: "t".into(), role: Role::Read, sha256: hash("some-token-0123456789abc") }],
            ..AuthConfig::default()
        };
    })
    .await;
    for (path, kind) in [("/ui", "text/html"), ("/ui/app.js", "text/javascript"), ("/ui/app.css", "text/css")] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path} needs no token");
        let h = r.headers();
        assert!(h["content-type"].to_str().unwrap().starts_with(kind), "{path}");
        assert_eq!(h["content-security-policy"], CSP);
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["cache-control"], "no-cache");
        let etag = h["etag"].clone();
        let again = app.client.get(app.url(path)).header("If-None-Match", etag).send().await.unwrap();
        assert_eq!(again.status(), 304, "{path}: unchanged, not sent again");
    }
    // The data is not public: the API still wants the token.
    let r = app.client.get(app.url("/v1/status")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = app.client.get(app.url("/v1/status")).bearer_auth("some-token-0123456789abc").send().await.unwrap();
    let status: Value = r.json().await.unwrap();
    assert_eq!(status["caller"]["role"], "read", "{status}");
    assert_eq!(status["store"], "memory");
    let none = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = none.get(app.url("/")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (302, "/ui"));
    let r = app.client.post(app.url("/ui")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["allow"].to_str().unwrap()), (405, "GET, HEAD"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["message"], "method POST is not allowed here; use GET, HEAD");
    let r = app.client.get(app.url("/ui/nothing.js")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["message"], "no file \"nothing.js\" under /ui/; the status page is /ui");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_ui_off_the_page_is_a_json_404_saying_how_to_turn_it_on() {
    let app = spawn_app(StoreKind::Memory, |c| c.ui = false).await;
    for path in ["/ui", "/ui/app.js"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["message"],
            "the status page is off; start crest with --ui on (CREST_UI=on, or ui = \"on\" in the config file)"
        );
    }
}
