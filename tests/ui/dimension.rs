//! One dimension's page in production mode: the chart has one step per
//! history entry, shades the scaling activities and marks the failed one
//! with its reason; the AAS form and the scaler's form change the
//! dimension through the API and show the curl line. Also makes the
//! README's two screenshots (`page::screenshot`).

use crate::helpers::{StoreKind, TestApp, spawn_clocked, test_config};
use crate::page::{cell_js, console_errors, open, open_dimension, screenshot, submit};
use crate::webdriver::{Browser, Options, available};
use crest::clock::Clock;
use crest::domain::Mode;
use serde_json::{Value, json};
use std::time::Duration;

/// What AAS and a scaler send over a few scalings of `web` (one fails), and
/// a few other dimensions in other states; `clock` (crest's) moves on by
/// 20 s to a few minutes between two changes, as in real scalings.
pub async fn scalings(app: &TestApp, clock: &Clock) {
    let pause = [95, 40, 20, 300, 60, 30, 240, 50, 20, 45, 600, 30, 60, 35, 25];
    let step = std::cell::Cell::new(0);
    let send = async |id: &str, body: Value| {
        clock.advance(Duration::from_secs(pause[step.get() % pause.len()]));
        step.set(step.get() + 1);
        let (status, answer) = app.patch(id, body).await;
        assert_eq!(status, 200, "{id}: {answer}");
    };
    let report = |actual: f64, status: &str| json!({"actualCapacity": actual, "scalingStatus": status});
    send("web", json!({"desiredCapacity": 4.0})).await;
    send("web", report(2.0, "InProgress")).await;
    send("web", report(4.0, "Successful")).await;
    send("web", json!({"desiredCapacity": 8.0})).await;
    send("web", report(5.0, "InProgress")).await;
    send(
        "web",
        json!({"actualCapacity": 5.0, "scalingStatus": "Failed", "failureReason": "quota: no more vCPU in eu-west-1"}),
    )
    .await;
    send("web", json!({"desiredCapacity": 6.0})).await;
    send("web", report(6.0, "Successful")).await;
    send("api", json!({"desiredCapacity": 3.0})).await;
    send("api", report(3.0, "Successful")).await;
    send("worker", json!({"desiredCapacity": 12.0})).await;
    send("worker", report(7.0, "InProgress")).await;
    send("batch", json!({"desiredCapacity": 2.0})).await;
    send("batch", json!({"actualCapacity": 1.0, "scalingStatus": "Failed", "failureReason": "image pull failed"}))
        .await;
    send("cron", json!({"desiredCapacity": 1.0})).await;
    // Bounds (admin API) on two of them.
    for (id, min, max) in [("api", 2.0, 10.0), ("worker", 4.0, 16.0)] {
        let body = json!({"minCapacity": min, "maxCapacity": max});
        let r = app.client.put(app.dim_url(id)).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200, "PUT {id}");
    }
}

/// The number of history entries of `id`, from the API.
async fn history_len(app: &TestApp, id: &str) -> usize {
    let url = app.url(&format!("/v1/scalableTargetDimensions/{id}/history?limit=1000"));
    let page: Value = app.client.get(url).send().await.unwrap().json().await.unwrap();
    page["entries"].as_array().unwrap().len()
}

fn count(selector: &str) -> String {
    format!("document.querySelectorAll('{selector}').length")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dimensions_chart_has_a_step_per_change_and_its_forms_patch_with_a_curl_line() {
    let Some(chromium) = available("a_dimensions_chart_has_a_step_per_change") else { return };
    // crest's clock starts 30 minutes ago and moves on by hand: the
    // scalings take minutes, as they would, and the test no time.
    let clock = Clock::manual(std::time::SystemTime::now() - Duration::from_secs(1800));
    let dir = tempfile::tempdir().unwrap();
    let config = crest::config::Config { mode: Mode::Production, ..test_config(StoreKind::Sqlite, dir.path()) };
    let app = spawn_clocked(config, dir, clock.clone()).await;
    scalings(&app, &clock).await;
    let browser = Browser::start(chromium, Options::default()).await;
    let base = app.url("");
    open(&browser, &base, 5).await;
    screenshot(&browser, "overview").await;

    let steps = history_len(&app, "web").await;
    assert_eq!(steps, 8);
    open_dimension(&browser, "web", steps).await;
    assert_eq!(
        browser.exec(&format!("return {};", count("#chart svg .step")), json!([])).await,
        steps,
        "one step per history entry"
    );
    // Three scalings: two Successful, one Failed with its reason, each with a duration.
    let activities = browser.exec("return [...document.querySelectorAll('#activities tbody tr')].map(r => [...r.cells].map(c => c.textContent));", json!([])).await;
    let activities = activities.as_array().unwrap();
    assert_eq!(activities.len(), 3, "{activities:?}");
    assert!(
        activities.iter().any(|a| a[2] == "Failed" && a[4] == "quota: no more vCPU in eu-west-1"),
        "{activities:?}"
    );
    assert_eq!(browser.exec(&format!("return {};", count("#chart svg .activities .act-fail")), json!([])).await, 1);
    assert_eq!(browser.exec(&format!("return {};", count("#chart svg .activities .act-ok")), json!([])).await, 2);
    let marked =
        browser.exec("return document.querySelector('#chart svg .fail-mark title').textContent;", json!([])).await;
    assert_eq!(marked, "Failed: quota: no more vCPU in eu-west-1");

    // The AAS form: the dimension changes, the curl line says how.
    clock.advance(Duration::from_secs(120));
    let (result, curl) = submit(&browser, "#aas-form", &[("#aas-desired", "9")]).await;
    assert_eq!(result, "Done: desired 9, actual 6, Pending.");
    let expected = format!(
        "curl -X PATCH '{base}/v1/scalableTargetDimensions/web' -H 'Content-Type: application/json' -d '{{\"desiredCapacity\":9}}'"
    );
    assert_eq!(curl, expected.as_str());
    let list: Value =
        app.client.get(app.url("/v1/scalableTargetDimensions")).send().await.unwrap().json().await.unwrap();
    let web = list["dimensions"].as_array().unwrap().iter().find(|d| d["scalableTargetDimensionId"] == "web").unwrap();
    assert_eq!((web["desiredCapacity"].as_f64(), web["scalingStatus"].as_str()), (Some(9.0), Some("Pending")));

    // The scaler's form (production mode): the scaling ends.
    clock.advance(Duration::from_secs(200));
    browser.exec("document.getElementById('sc-status').value = 'Successful'; return true;", json!([])).await;
    let (result, curl) = submit(&browser, "#scaler-form", &[("#sc-actual", "9")]).await;
    assert_eq!(result, "Done: desired 9, actual 9, Successful.");
    assert!(curl.ends_with(r#"-d '{"actualCapacity":9,"scalingStatus":"Successful"}'"#), "{curl}");
    let steps = history_len(&app, "web").await;
    assert_eq!(steps, 10);
    browser
        .wait_for(Duration::from_secs(5), "the chart follows", &format!("{} === {steps}", count("#chart svg .step")))
        .await;
    browser
        .wait_for(Duration::from_secs(5), "four scalings", &format!("{} === 4", count("#activities tbody tr")))
        .await;
    assert_eq!(console_errors(&browser).await, Vec::<String>::new());
    browser.exec("window.scrollTo(0, 0); return true;", json!([])).await;
    screenshot(&browser, "dimension").await;

    // Back to the overview: the change is there too.
    browser.click("a[href='#/']").await;
    browser.wait_for(Duration::from_secs(5), "the overview", &format!("{} === '9'", cell_js("web", 4))).await;
    browser.quit().await;
}
