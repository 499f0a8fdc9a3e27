//! The page with each store: it shows every dimension and a change made
//! with curl, live. Postgres skips without a server unless
//! CREST_REQUIRE_SERVICES=1. HTTPS with a client certificate: see
//! `tls.rs`.

use crate::helpers::{StoreKind, spawn_app};
use crate::page::{create, curl_shows_within_a_second, ids, open, rows};
use crate::webdriver::{Browser, Options, available};
use serde_json::json;

async fn every_dimension_and_live(kind: StoreKind) {
    let name = format!("the page with the {} store", kind.metrics_label());
    let Some(chromium) = available(&name) else { return };
    let app = spawn_app(kind, |_| {}).await;
    let all = ids("dim", 12);
    create(&app, &all, None).await;
    let browser = Browser::start(chromium, Options::default()).await;
    open(&browser, &app.url(""), all.len()).await;
    let mut shown = rows(&browser).await;
    shown.sort();
    assert_eq!(shown, all, "{name}");
    let took = curl_shows_within_a_second(&browser, &app.dim_url(&all[5]), &all[5], 3, &[]).await;
    eprintln!("{name}: the curl PATCH showed after {took:?}");
    let strip = browser.exec("return document.getElementById('strip').textContent;", json!([])).await;
    assert!(
        strip.as_str().unwrap().contains(&format!("Store:{}", kind.metrics_label()))
            || strip.as_str().unwrap().contains(kind.metrics_label()),
        "{strip}"
    );
    browser.quit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory() {
    every_dimension_and_live(StoreKind::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file() {
    every_dimension_and_live(StoreKind::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    every_dimension_and_live(StoreKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    if crate::pg::available("the page with the postgres store").await {
        every_dimension_and_live(StoreKind::Postgres).await;
    }
}
