//! What the UI tests share: dimensions made through the API, the page
//! opened in a browser, a PATCH sent with the real `curl`, the checks on
//! the browser's console and network logs, and the screenshots.

use crate::helpers::TestApp;
use crate::webdriver::Browser;
use serde_json::{Value, json};
use std::time::Duration;

/// Creates `ids` with a PATCH of desiredCapacity each (as AAS would).
pub async fn create(app: &TestApp, ids: &[String], token: Option<&str>) {
    for id in ids {
        let mut r = app.client.patch(app.dim_url(id)).json(&json!({"desiredCapacity": 2.0}));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let status = r.send().await.unwrap().status();
        assert!(status.is_success(), "PATCH {id}: {status}");
    }
}

pub fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:04}")).collect()
}

/// Opens the overview and waits until it shows `count` dimensions and is live.
pub async fn open(browser: &Browser, base: &str, count: usize) {
    browser.goto(&format!("{base}/ui")).await;
    wait_live(browser).await;
    let js = format!("document.getElementById('count').textContent === '({count})'");
    browser.wait_for(Duration::from_secs(20), &format!("the overview counts {count} dimensions"), &js).await;
}

pub async fn wait_live(browser: &Browser) {
    browser
        .wait_for(Duration::from_secs(20), "the page is live", "document.getElementById('live').textContent === 'live'")
        .await;
}

/// The text of cell `column` (0: id … 3: desired, 4: actual, 5: status) of `id`'s row.
pub fn cell_js(id: &str, column: usize) -> String {
    format!(
        "(() => {{ const r = [...document.querySelectorAll('#dims tbody tr')].find(r => r.dataset.id === {id:?}); \
         return r ? r.cells[{column}].textContent : null; }})()"
    )
}

/// The ids in the overview's table, in order.
pub async fn rows(browser: &Browser) -> Vec<String> {
    let v = browser
        .exec("return [...document.querySelectorAll('#dims tbody tr')].map(r => r.dataset.id);", json!([]))
        .await;
    serde_json::from_value(v).unwrap()
}

/// Runs the real curl: a PATCH of `body` to `url` (with `-k` and `extra`).
pub async fn curl_patch(url: &str, body: &Value, extra: &[&str]) -> String {
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "-X", "PATCH", url, "-H", "Content-Type: application/json"])
        .args(["-d", &body.to_string()])
        .args(extra)
        .output()
        .await
        .expect("curl runs");
    assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The console's errors since the last read (SEVERE entries).
pub async fn console_errors(browser: &Browser) -> Vec<String> {
    let log = browser.log("browser").await;
    log.iter().filter(|e| e["level"] == "SEVERE").map(|e| e["message"].as_str().unwrap_or("").to_owned()).collect()
}

/// Every URL the page requested since the last read (the network log).
pub async fn requested(browser: &Browser) -> Vec<String> {
    let mut urls = Vec::new();
    for entry in browser.log("performance").await {
        let message: Value = serde_json::from_str(entry["message"].as_str().unwrap_or("{}")).unwrap_or_default();
        if message["message"]["method"] == "Network.requestWillBeSent" {
            urls.push(message["message"]["params"]["request"]["url"].as_str().unwrap_or("").to_owned());
        }
    }
    urls
}

/// Saves a screenshot: into tests/ui/screenshots/NAME.png (what the README
/// shows) with CREST_UI_SCREENSHOTS=update, else into a temporary file.
pub async fn screenshot(browser: &Browser, name: &str) {
    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{name}: a PNG with something on it");
    if std::env::var("CREST_UI_SCREENSHOTS").is_ok_and(|v| v == "update") {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
    }
}

/// axe-core's serious and critical violations on the page as it is now.
pub async fn axe_violations(browser: &Browser, axe: &str) -> Vec<Value> {
    browser.exec(&format!("{axe}\nreturn true;"), json!([])).await;
    let script = "const done = arguments[arguments.length - 1];
        axe.run(document, {resultTypes: ['violations']})
           .then(r => done(r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
               .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.html).slice(0, 3)}))))
           .catch(e => done([{id: 'axe failed', help: String(e)}]));";
    let v = browser.exec_async(script, json!([])).await;
    v.as_array().cloned().unwrap_or_default()
}

/// Clicks `id` in the overview and waits for its history table to have `entries` rows.
pub async fn open_dimension(browser: &Browser, id: &str, entries: usize) {
    browser.click(&format!("#dims a[href='#/d/{id}']")).await;
    let js = format!("document.querySelectorAll('#history tbody tr').length === {entries}");
    browser.wait_for(Duration::from_secs(5), &format!("the history of {id}"), &js).await;
}

/// Submits `form` (after `fill`ing fields: selector and text typed) and
/// waits for crest's answer; returns the result line and the curl line.
pub async fn submit(browser: &Browser, form: &str, fill: &[(&str, &str)]) -> (String, String) {
    for (field, text) in fill {
        browser.type_into(field, text).await;
    }
    browser.exec("document.getElementById('result-text').textContent = ''; return true;", json!([])).await;
    browser.click(&format!("{form} button")).await;
    let js = "(t => (t.startsWith('Done') || t.startsWith('Refused')) && t)(document.getElementById('result-text').textContent)";
    let result = browser.wait_for(Duration::from_secs(5), &format!("the answer to {form}"), js).await;
    let curl = browser.exec("return document.getElementById('curl').textContent;", json!([])).await;
    (result.as_str().unwrap().to_owned(), curl.as_str().unwrap().to_owned())
}

/// Sets `id`'s desiredCapacity to `desired` with the real curl (with
/// `extra` arguments) and waits at most a second for the overview to show
/// it, without a reload; returns how long that took.
pub async fn curl_shows_within_a_second(
    browser: &Browser,
    url: &str,
    id: &str,
    desired: u32,
    extra: &[&str],
) -> Duration {
    curl_patch(url, &json!({"desiredCapacity": desired}), extra).await;
    let sent = std::time::Instant::now();
    let js = format!("{} === '{desired}'", cell_js(id, 3));
    browser.wait_for(Duration::from_secs(1), &format!("the curl PATCH of {id} on the page"), &js).await;
    sent.elapsed()
}
