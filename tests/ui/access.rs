//! Who may do what from the page: with tokens on, it asks for a token,
//! works with a `read` token and shows crest's role message when its form
//! is refused; over HTTPS, the browser's client certificate is the
//! credential. And accessibility: axe-core finds no serious or critical
//! violation on either view.

use crate::dimension::scalings;
use crate::helpers::{StoreKind, spawn_app};
use crate::page::{axe_violations, create, curl_shows_within_a_second, open, open_dimension, submit};
use crate::webdriver::{Browser, Options, available, axe};
use crest::auth::{AuthConfig, Role, Token, hash};
use crest::domain::Mode;
use serde_json::json;
use std::time::Duration;

const READ: &str = "read-token-for-the-page-0123456789";
const AAS: &str = "aas-token-for-curl-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tokens_a_read_token_sees_everything_and_the_form_is_refused_with_the_role_message() {
    let Some(chromium) = available("with_tokens_a_read_token") else { return };
    let app = spawn_app(StoreKind::Memory, |c| {
        c.auth = AuthConfig {
            tokens: vec![
                Token { name: "dashboard".into(), role: Role::Read, sha256: hash(READ) },
                Token { name: "aas-gw".into(), role: Role::Aas, sha256: hash(AAS) },
            ],
            ..AuthConfig::default()
        };
    })
    .await;
    let all = crate::page::ids("web", 3);
    create(&app, &all, Some(AAS)).await;
    let browser = Browser::start(chromium, Options::default()).await;
    let base = app.url("");
    browser.goto(&format!("{base}/ui")).await;
    browser.wait_for(Duration::from_secs(10), "the token form", "!document.getElementById('login').hidden").await;
    browser.type_into("#token", READ).await;
    browser.click("#login-form button").await;
    open_after_login(&browser).await;
    let you = browser.exec("return document.getElementById('strip').textContent;", json!([])).await;
    assert!(you.as_str().unwrap().contains("token:dashboard (read)"), "{you}");
    let kept = browser.exec("return sessionStorage.getItem('crest.token');", json!([])).await;
    assert_eq!(kept, READ, "the token is kept in sessionStorage");

    // Live with the token (fetch streaming, not EventSource).
    let token = format!("Authorization: Bearer {AAS}");
    curl_shows_within_a_second(&browser, &app.dim_url(&all[2]), &all[2], 4, &["-H", &token]).await;

    // The form goes through the API with the read token: refused, with the role message.
    open_dimension(&browser, &all[0], 1).await;
    let (refused, curl) = submit(&browser, "#aas-form", &[("#aas-desired", "5")]).await;
    assert_eq!(refused, "Refused (403): setting desiredCapacity needs role aas or admin; this caller has role read");
    assert!(curl.contains(r#"-H "Authorization: Bearer $CREST_TOKEN""#), "{curl}");
    assert!(!curl.contains(READ), "never the token itself: {curl}");
    browser.quit().await;
}

async fn open_after_login(browser: &Browser) {
    crate::page::wait_live(browser).await;
    browser
        .wait_for(Duration::from_secs(10), "the overview", "document.getElementById('count').textContent === '(3)'")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_finds_no_serious_or_critical_violation() {
    let Some(chromium) = available("axe_finds_no_serious_or_critical_violation") else { return };
    let Some(axe) = axe("axe_finds_no_serious_or_critical_violation") else { return };
    let app = spawn_app(StoreKind::Memory, |c| c.mode = Mode::Production).await;
    scalings(&app, &crest::clock::Clock::system()).await;
    let browser = Browser::start(chromium, Options::default()).await;
    open(&browser, &app.url(""), 5).await;
    let overview = axe_violations(&browser, &axe).await;
    assert!(overview.is_empty(), "overview: {overview:#?}");
    open_dimension(&browser, "web", 8).await;
    let dimension = axe_violations(&browser, &axe).await;
    assert!(dimension.is_empty(), "dimension: {dimension:#?}");
    browser.quit().await;
}
