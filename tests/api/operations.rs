//! Operations: `/metrics` (parsed by a real Prometheus text parser and by
//! the Python OpenMetrics parser), the history endpoint and the per-client
//! rate limit. (`/openapi.json`: openapi.rs.)

use crate::helpers::{StoreKind, TestApp, spawn_app};
use crest::http::rate_limit::RateLimit;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `script` with python3, `input` on stdin, and returns its stdout.
/// None (skip) when python3 or the module is missing, unless
/// CREST_REQUIRE_SERVICES=1.
pub(crate) fn python(module: &str, script: &str, input: &str) -> Option<String> {
    let required = std::env::var("CREST_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
    let probe = Command::new("python3").args(["-c", &format!("import {module}")]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(!required, "python3 module {module} is missing (pip install it; .ci/run does)");
        eprintln!("skipping the {module} check: python3 module {module} is missing");
        return None;
    }
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{module} refused it:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

/// Sample values by sample name and sorted `k=v` labels.
type Samples = HashMap<(String, String), f64>;

/// The strict OpenMetrics parser of the Python `prometheus_client`, printing
/// every sample as JSON.
const PARSE: &str = "import sys, json\n\
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse\n\
out = [[s.name, s.labels, s.value] for f in parse(sys.stdin.read()) for s in f.samples]\n\
print(json.dumps(out))";

/// GET /metrics, parsed. None when the parser is not installed (skip).
async fn scrape(app: &TestApp) -> Option<(String, Samples)> {
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let text = r.text().await.unwrap();
    let parsed: Vec<(String, HashMap<String, String>, f64)> =
        serde_json::from_str(&python("prometheus_client", PARSE, &text)?).unwrap();
    let mut samples = Samples::new();
    for (name, labels, value) in parsed {
        let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        samples.insert((name, labels.join(",")), value);
    }
    Some((text, samples))
}

fn sample(samples: &Samples, name: &str, labels: &str) -> Option<f64> {
    samples.get(&(name.to_owned(), labels.to_owned())).copied()
}

/// The per-dimension gauges follow a demo walkthrough, and HTTP and store
/// metrics count what happened.
async fn metrics_follow_the_walkthrough(kind: StoreKind) {
    let app = spawn_app(kind, |_| {}).await;
    let store = kind.metrics_label();
    assert_eq!(app.patch("w1", json!({"desiredCapacity": 3.0})).await.0, 200);
    let Some((_, m)) = scrape(&app).await else { return };
    let status =
        |m: &Samples, s: &str| sample(m, "crest_dimension_scaling_status", &format!("dimension=w1,status={s}"));
    assert_eq!(sample(&m, "crest_dimension_desired_capacity", "dimension=w1"), Some(3.0));
    assert_eq!(sample(&m, "crest_dimension_actual_capacity", "dimension=w1"), Some(1.0));
    assert_eq!(status(&m, "Pending"), Some(1.0));
    assert_eq!(status(&m, "Successful"), Some(0.0));
    let age = sample(&m, "crest_dimension_status_age_seconds", "dimension=w1").unwrap();
    assert!((0.0..30.0).contains(&age), "{age}");
    assert_eq!(app.get("w1").await.1["scalingStatus"], "InProgress");
    let (_, m) = scrape(&app).await.unwrap();
    assert_eq!((status(&m, "Pending"), status(&m, "InProgress")), (Some(0.0), Some(1.0)));
    assert_eq!(app.get("w1").await.1["scalingStatus"], "Successful");
    let (text, m) = scrape(&app).await.unwrap();
    assert_eq!(status(&m, "Successful"), Some(1.0));
    assert_eq!(sample(&m, "crest_dimension_actual_capacity", "dimension=w1"), Some(3.0));
    assert_eq!(sample(&m, "crest_dimensions_tracked", ""), Some(1.0));
    let route = "route=/v1/scalableTargetDimensions/{id}";
    assert_eq!(sample(&m, "crest_http_requests_total", &format!("method=PATCH,{route},status=200")), Some(1.0));
    assert_eq!(sample(&m, "crest_http_requests_total", &format!("method=GET,{route},status=200")), Some(2.0));
    let store_update = format!("operation=update,store={store}");
    let writes = sample(&m, "crest_store_operation_duration_seconds_count", &store_update);
    assert_eq!(writes, Some(3.0), "3 writes: the PATCH and 2 demo GETs");
    assert_eq!(sample(&m, "crest_store_errors_total", &format!("operation=update,store={store}")), Some(0.0));
    let patches = sample(&m, "crest_http_request_duration_seconds_count", &format!("method=PATCH,{route}"));
    assert_eq!(patches, Some(1.0));
    let inf = format!("le=+Inf,method=PATCH,{route}");
    assert_eq!(sample(&m, "crest_http_request_duration_seconds_bucket", &inf), Some(1.0));
    assert!(text.trim_end().ends_with("# EOF"), "OpenMetrics ends with # EOF");
    app.stop().await;
}

/// Label cardinality is capped; `/metrics` can move to its own listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_cap_dimensions_and_can_listen_elsewhere() {
    let app = spawn_app(StoreKind::Memory, |c| {
        c.metrics_max_dimensions = 2;
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    for id in ["a", "b", "c", "d"] {
        assert_eq!(app.get(id).await.0, 200);
    }
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 404, "not on the API listener when metrics_listen is set");
    assert!(r.json::<Value>().await.unwrap()["message"].as_str().unwrap().contains("no route"));
    let metrics_url = format!("http://{}/metrics", app.metrics_addr.unwrap());
    let r = app.client.get(&metrics_url).header("x-request-id", "scrape-1").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "scrape-1", "the metrics listener answers with the request id too");
    let text = r.text().await.unwrap();
    let series = text.lines().filter(|l| l.starts_with("crest_dimension_desired_capacity{")).count();
    assert_eq!(series, 2, "{text}");
    assert!(text.contains("crest_dimensions_untracked_total 2"), "{text}");
    let other = app.client.get(format!("http://{}/v1/scalableTargetDimensions/a", app.metrics_addr.unwrap()));
    let other = other.send().await.unwrap();
    assert_eq!(other.status(), 404, "the metrics listener serves only /metrics");
    assert!(other.headers().contains_key("x-request-id"), "a generated request id on every answer");
    app.stop().await;
}

/// The history of a demo walkthrough: newest first, old -> new per field,
/// the request id, paging by nextBefore; bad queries are 400 JSON.
async fn history_of_a_walkthrough(kind: StoreKind) {
    let app = spawn_app(kind, |_| {}).await;
    let r = app.client.patch(app.dim_url("h1")).header("x-request-id", "walk-1").json(&json!({"desiredCapacity": 2.0}));
    assert_eq!(r.send().await.unwrap().status(), 200);
    app.get("h1").await;
    app.get("h1").await;
    app.get("h1").await; // Successful already: no change, no entry.
    let history = |q: &str| {
        let url = app.url(&format!("/v1/scalableTargetDimensions/h1/history{q}"));
        let c = app.client.clone();
        async move {
            let r = c.get(url).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, page) = history("").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["scalableTargetDimensionId"], "h1");
    assert_eq!(page["nextBefore"], Value::Null);
    let entries = page["entries"].as_array().unwrap();
    let revisions: Vec<u64> = entries.iter().map(|e| e["revision"].as_u64().unwrap()).collect();
    assert_eq!(revisions, [3, 2, 1], "{page}");
    let fields = |e: &Value| -> Vec<(String, Value, Value)> {
        e["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["field"].as_str().unwrap().to_owned(), c["old"].clone(), c["new"].clone()))
            .collect()
    };
    assert_eq!(
        fields(&entries[2]),
        [
            ("desiredCapacity".to_owned(), json!(1.0), json!(2.0)),
            ("scalingStatus".to_owned(), json!("Successful"), json!("Pending"))
        ]
    );
    assert_eq!(entries[2]["created"], true);
    assert_eq!(entries[2]["source"], json!({"method": "PATCH", "requestId": "walk-1"}));
    assert_eq!(fields(&entries[1]), [("scalingStatus".to_owned(), json!("Pending"), json!("InProgress"))]);
    assert_eq!(
        fields(&entries[0]),
        [
            ("actualCapacity".to_owned(), json!(1.0), json!(2.0)),
            ("scalingStatus".to_owned(), json!("InProgress"), json!("Successful"))
        ]
    );
    assert_eq!(entries[0]["source"]["method"], "GET");
    assert!(humantime::parse_rfc3339(entries[0]["time"].as_str().unwrap()).is_ok());

    let (_, first) = history("?limit=2").await;
    assert_eq!(first["entries"].as_array().unwrap().len(), 2);
    assert_eq!(first["nextBefore"], 2);
    let (_, rest) = history("?limit=2&before=2").await;
    assert_eq!(rest["entries"][0]["revision"], 1);
    assert_eq!(rest["nextBefore"], Value::Null);

    for (q, needle) in [
        ("?limit=0", "limit must be between 1 and 1000"),
        ("?limit=1001", "limit must be between 1 and 1000"),
        ("?limit=abc", "invalid query"),
        ("?before=0", "before must be a revision from 1 to 9223372036854775807"),
        ("?before=9223372036854775808", "before must be a revision from 1 to"),
        ("?colour=red", "invalid query"),
    ] {
        let (status, body) = history(q).await;
        assert_eq!(status, 400, "{q}: {body}");
        assert!(body["message"].as_str().unwrap().contains(needle), "{q}: {body}");
    }
    let r = app.client.get(app.url("/v1/scalableTargetDimensions/nobody/history")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(app.get("nobody").await.0, 200, "reading history did not create it");
    let r = app.client.delete(app.url("/v1/scalableTargetDimensions/h1/history")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    app.stop().await;
}

/// Retention: at most history_limit entries per dimension.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_retention_trims() {
    let app = spawn_app(StoreKind::Sqlite, |c| c.store_options.retention.keep = 3).await;
    for n in 1..=6 {
        assert_eq!(app.patch("t", json!({"desiredCapacity": f64::from(n) * 10.0})).await.0, 200);
    }
    let page: Value =
        app.client.get(app.url("/v1/scalableTargetDimensions/t/history")).send().await.unwrap().json().await.unwrap();
    let revisions: Vec<u64> =
        page["entries"].as_array().unwrap().iter().map(|e| e["revision"].as_u64().unwrap()).collect();
    assert_eq!(revisions, [6, 5, 4], "{page}");
    app.stop().await;
}

crate::store_tests!(metrics_follow_the_walkthrough, history_of_a_walkthrough);

/// A GET answered from the store's copy in memory (production mode, SQLite
/// and the file store keep one) is a `get` in the store histogram that
/// takes 0 s, as README's metrics table says: the count grows, the sum
/// does not.
async fn gets_from_memory_count_as_zero(kind: StoreKind) {
    let app = spawn_app(kind, |c| c.mode = crest::domain::Mode::Production).await;
    assert_eq!(app.patch("m1", json!({"desiredCapacity": 2.0})).await.0, 200);
    let labels = format!("operation=get,store={}", kind.metrics_label());
    let Some((_, before)) = scrape(&app).await else { return };
    for _ in 0..5 {
        assert_eq!(app.get("m1").await.0, 200);
    }
    let (_, after) = scrape(&app).await.unwrap();
    let count = |m: &Samples| sample(m, "crest_store_operation_duration_seconds_count", &labels).unwrap_or(0.0);
    let sum = |m: &Samples| sample(m, "crest_store_operation_duration_seconds_sum", &labels).unwrap_or(0.0);
    assert_eq!(count(&after) - count(&before), 5.0, "every GET is a get of the store");
    assert_eq!(sum(&after), sum(&before), "a get from memory adds no time");
    app.stop().await;
}

#[tokio::test]
async fn sqlite_gets_from_memory_count_as_zero() {
    gets_from_memory_count_as_zero(StoreKind::Sqlite).await;
}

#[tokio::test]
async fn file_gets_from_memory_count_as_zero() {
    gets_from_memory_count_as_zero(StoreKind::File).await;
}

/// Over the limit: 429 JSON with Retry-After; health is never limited; under
/// the limit nothing is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_429_with_retry_after() {
    let app = spawn_app(StoreKind::Memory, |c| c.rate_limit = Some(RateLimit { rate: 0.5, burst: 5 })).await;
    for n in 0..5 {
        assert_eq!(app.get("rl").await.0, 200, "request {n} is within the burst");
    }
    let r = app.client.get(app.dim_url("rl")).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("rate limit exceeded: 0.5 requests/s with bursts of 5"),
        "{body}"
    );
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("\ncrest_rate_limited_total 1\n"), "{text}");
    app.stop().await;

    let app = spawn_app(StoreKind::Memory, |c| c.rate_limit = Some(RateLimit { rate: 1000.0, burst: 100 })).await;
    let mut refused = 0;
    for _ in 0..60 {
        if app.get("ok").await.0 == 429 {
            refused += 1;
        }
    }
    assert_eq!(refused, 0);
    app.stop().await;
}
