//! The overview: it loads with no console error, shows every dimension
//! (more than one page of the list API), shows a change made with curl
//! within a second without a reload, asks no other host for anything,
//! weighs at most 150 KB, and comes back by itself after crest restarts.

use crate::helpers::{StoreKind, spawn_app, spawn_with, test_config};
use crate::page::{
    cell_js, console_errors, create, curl_patch, curl_shows_within_a_second, ids, open, requested, rows, wait_live,
};
use crate::webdriver::{Browser, Options, available};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The page and everything it loads, at most.
const MAX_WEIGHT: usize = 150 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_shows_every_dimension_and_a_curl_patch_within_a_second() {
    let Some(chromium) = available("the_overview_shows_every_dimension") else { return };
    let app = spawn_app(StoreKind::Memory, |_| {}).await;
    // More than one page of the list API (1000 per page), and more than
    // the table shows at first (500 rows).
    let all = ids("svc", 1100);
    create(&app, &all, None).await;
    let browser = Browser::start(chromium, Options::default()).await;
    let base = app.url("");
    open(&browser, &base, all.len()).await;
    assert_eq!(console_errors(&browser).await, Vec::<String>::new(), "the page loads with no console error");

    // Every dimension shows: "Show more" until the table has them all.
    for expected in [1000, 1100] {
        browser.click("#more").await;
        let js = format!("document.querySelectorAll('#dims tbody tr').length === {expected}");
        browser.wait_for(Duration::from_secs(5), "more rows", &js).await;
    }
    assert_eq!(browser.exec("return document.getElementById('more').hidden;", json!([])).await, true);
    let shown: BTreeSet<String> = rows(&browser).await.into_iter().collect();
    assert_eq!(shown, all.iter().cloned().collect::<BTreeSet<_>>(), "every dimension is in the table");

    // A PATCH made with curl shows within a second, without a reload, first.
    browser.exec("window.notReloaded = true; return true;", json!([])).await;
    let id = &all[617];
    let took = curl_shows_within_a_second(&browser, &app.dim_url(id), id, 7, &[]).await;
    eprintln!("the curl PATCH showed after {took:?}");
    assert_eq!(browser.exec("return window.notReloaded === true;", json!([])).await, true, "no reload");
    assert_eq!(rows(&browser).await.first(), Some(id), "most recent change first");

    // Filters: by id and by status.
    browser.type_into("#filter-id", "svc-061").await;
    browser
        .wait_for(Duration::from_secs(5), "the id filter", "document.querySelectorAll('#dims tbody tr').length === 10")
        .await;
    browser.exec("const i = document.getElementById('filter-id'); i.value = ''; i.dispatchEvent(new Event('input')); return true;", json!([])).await;
    // Demo mode: GETs (as AAS sends them) finish one scaling.
    for _ in 0..3 {
        app.get(&all[3]).await;
    }
    browser.exec("const s = document.getElementById('filter-status'); s.value = 'Successful'; s.dispatchEvent(new Event('change')); return true;", json!([])).await;
    browser
        .wait_for(
            Duration::from_secs(5),
            "the status filter",
            "document.querySelectorAll('#dims tbody tr').length === 1",
        )
        .await;

    // No request to any other host.
    let urls = requested(&browser).await;
    assert!(urls.iter().any(|u| u.ends_with("/ui/app.js")), "the network log has the page's requests: {urls:?}");
    // (chrome:// are the browser's own pages, such as the new tab it starts with: not the network.)
    let ours = |u: &&String| u.starts_with(&format!("{base}/")) || u.starts_with("data:") || u.starts_with("chrome://");
    let foreign: Vec<_> = urls.iter().filter(|u| !ours(u)).collect();
    assert!(foreign.is_empty(), "requests to other hosts: {foreign:?}");

    // The page and its assets weigh at most 150 KB.
    let mut weight = 0;
    let assets: BTreeSet<&String> = urls.iter().filter(|u| u.starts_with(&format!("{base}/ui"))).collect();
    for url in &assets {
        weight += app.client.get(*url).send().await.unwrap().bytes().await.unwrap().len();
    }
    eprintln!("page weight: {weight} bytes in {} files", assets.len());
    assert!(assets.len() >= 5 && weight <= MAX_WEIGHT, "{weight} bytes in {assets:?}");
    assert_eq!(console_errors(&browser).await, Vec::<String>::new(), "no console error after all that");
    browser.quit().await;
}

/// crest restarts (same port, same SQLite file): the page says it is
/// reconnecting, comes back by itself, and shows changes made meanwhile
/// and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_reconnects_after_crest_restarts() {
    let Some(chromium) = available("the_page_reconnects_after_crest_restarts") else { return };
    let app = spawn_app(StoreKind::Sqlite, |_| {}).await;
    let all = ids("web", 3);
    create(&app, &all, None).await;
    let browser = Browser::start(chromium, Options::default()).await;
    let base = app.url("");
    let addr = app.addr;
    open(&browser, &base, 3).await;

    let dir = app.stop().await;
    browser
        .wait_for(
            Duration::from_secs(5),
            "the page notices",
            "document.getElementById('live').className.includes('reconnecting')",
        )
        .await;
    let mut config = test_config(StoreKind::Sqlite, dir.path());
    config.listen = addr;
    let app = spawn_with(config, dir).await;
    // Changed while the page was away: shown once it is back.
    curl_patch(&app.dim_url(&all[0]), &json!({"desiredCapacity": 5.0}), &[]).await;
    let down = Instant::now();
    wait_live(&browser).await;
    eprintln!("live again {:?} after crest was back", down.elapsed());
    browser
        .wait_for(Duration::from_secs(2), "the change made meanwhile", &format!("{} === '5'", cell_js(&all[0], 3)))
        .await;
    curl_shows_within_a_second(&browser, &app.dim_url(&all[1]), &all[1], 6, &[]).await;
    browser.quit().await;
    app.stop().await;
}

/// 10,000 dimensions (ten pages of the list API): the page counts them
/// all, finds any by id, and still shows a curl PATCH within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_dimensions_keep_up() {
    let Some(chromium) = available("ten_thousand_dimensions_keep_up") else { return };
    let app = spawn_app(StoreKind::Memory, |_| {}).await;
    let all = ids("d", 10_000);
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in all.chunks(1250) {
        let (client, urls) = (app.client.clone(), chunk.iter().map(|id| app.dim_url(id)).collect::<Vec<_>>());
        tasks.spawn(async move {
            for url in urls {
                let r = client.patch(url).json(&json!({"desiredCapacity": 2.0})).send().await.unwrap();
                assert!(r.status().is_success());
            }
        });
    }
    tasks.join_all().await;
    let browser = Browser::start(chromium, Options::default()).await;
    let started = Instant::now();
    open(&browser, &app.url(""), all.len()).await;
    eprintln!("10,000 dimensions listed and shown in {:?}", started.elapsed());
    assert_eq!(rows(&browser).await.len(), 500, "the table shows the first 500");
    let id = &all[9_876];
    let took = curl_shows_within_a_second(&browser, &app.dim_url(id), id, 9, &[]).await;
    eprintln!("the curl PATCH showed after {took:?} among 10,000");
    assert_eq!(rows(&browser).await.first(), Some(id));
    browser.type_into("#filter-id", &all[4_321]).await;
    let js = format!("{} === '2'", cell_js(&all[4_321], 3));
    browser.wait_for(Duration::from_secs(5), "found by id", &js).await;
    assert_eq!(console_errors(&browser).await, Vec::<String>::new());
    browser.quit().await;
}
