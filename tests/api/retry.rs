//! Issue 19: after a scaling ends `Failed`, AAS retries by sending the same
//! `desiredCapacity` again. On a `Failed` dimension that starts a new
//! activity (`Pending`, reason cleared), in demo and production mode, on
//! every store; in any other state an unchanged value writes nothing.

use crate::helpers::{StoreKind, TestApp, spawn_app};
use crest::domain::{DemoStyle, Mode};
use serde_json::{Value, json};

const ID: &str = "retry-1";

/// A GET of the dimension, or a PATCH of `body`: status, JSON and ETag revision.
async fn call(app: &TestApp, body: Option<Value>) -> (u16, Value, u64) {
    let r = match body {
        Some(b) => app.client.patch(app.dim_url(ID)).json(&b),
        None => app.client.get(app.dim_url(ID)),
    };
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let etag = r.headers().get("etag").map(|v| v.to_str().unwrap().trim_matches('"').parse().unwrap()).unwrap_or(0);
    (status, r.json().await.unwrap(), etag)
}

fn state(b: &Value) -> (&str, Option<&str>) {
    (b["scalingStatus"].as_str().unwrap(), b["failureReason"].as_str())
}

/// The newest history entry: its revision, method and changed fields.
async fn newest_change(app: &TestApp) -> (u64, String, Vec<String>) {
    let url = app.url(&format!("/v1/scalableTargetDimensions/{ID}/history?limit=1"));
    let page: Value = app.client.get(url).send().await.unwrap().json().await.unwrap();
    let e = &page["entries"][0];
    let fields = e["changes"].as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap().to_owned()).collect();
    (e["revision"].as_u64().unwrap(), e["source"]["method"].as_str().unwrap().to_owned(), fields)
}

async fn a_failed_dimension_retries_the_same_capacity_in_demo_mode(kind: StoreKind) {
    let app = spawn_app(kind, |c| c.mode = Mode::Demo { simulate_failure: true, style: DemoStyle::Steps }).await;
    assert_eq!(call(&app, Some(json!({"desiredCapacity": 3.0}))).await.0, 200);
    call(&app, None).await;
    let (_, b, failed_at) = call(&app, None).await;
    assert_eq!(state(&b).0, "Failed", "{b}");
    // AAS retries: the same capacity starts a new activity.
    let (s, b, rev) = call(&app, Some(json!({"desiredCapacity": 3.0}))).await;
    assert_eq!((s, state(&b), b["desiredCapacity"].as_f64()), (200, ("Pending", None), Some(3.0)), "{b}");
    assert_eq!(rev, failed_at + 1, "the retry is a stored change");
    let fields = ["scalingStatus".to_owned(), "failureReason".to_owned()].to_vec();
    assert_eq!(newest_change(&app).await, (rev, "PATCH".to_owned(), fields));
    // Pending and InProgress: the same value again writes nothing.
    let (_, b, again) = call(&app, Some(json!({"desiredCapacity": 3.0}))).await;
    assert_eq!((state(&b).0, again), ("Pending", rev), "no new revision while Pending");
    let (_, b, _) = call(&app, None).await;
    assert_eq!(state(&b).0, "InProgress", "the new activity runs: {b}");
    let (_, b, in_progress) = call(&app, Some(json!({"desiredCapacity": 3.0}))).await;
    assert_eq!((state(&b).0, in_progress), ("InProgress", rev + 1), "no new revision while InProgress");
    let (_, b, _) = call(&app, None).await;
    assert_eq!(state(&b).0, "Failed", "and fails again (simulated): {b}");
    let (_, b, _) = call(&app, Some(json!({"desiredCapacity": 3.0}))).await;
    assert_eq!(state(&b), ("Pending", None), "every retry starts over");
    app.stop().await;

    // Without failure simulation, a Successful dimension stays as it is.
    let app = spawn_app(kind, |_| {}).await;
    let (_, _, created) = call(&app, None).await;
    let (_, b, rev) = call(&app, Some(json!({"desiredCapacity": 1.0}))).await;
    assert_eq!((state(&b).0, rev), ("Successful", created), "no new revision while Successful");
    app.stop().await;
}

async fn a_failed_dimension_retries_the_same_capacity_in_production_mode(kind: StoreKind) {
    let app = spawn_app(kind, |c| c.mode = Mode::Production).await;
    assert_eq!(call(&app, Some(json!({"desiredCapacity": 3.0}))).await.0, 200);
    let (_, b, failed_at) = call(&app, Some(json!({"scalingStatus": "Failed", "failureReason": "quota"}))).await;
    assert_eq!(state(&b), ("Failed", Some("quota")));
    let (s, b, rev) = call(&app, Some(json!({"desiredCapacity": 3.0}))).await;
    assert_eq!((s, state(&b)), (200, ("Pending", None)), "{b}");
    assert_eq!(rev, failed_at + 1);
    // GET never changes state in production; an unchanged PATCH writes nothing.
    let (_, b, read) = call(&app, None).await;
    assert_eq!((state(&b).0, read), ("Pending", rev));
    let (_, b, again) = call(&app, Some(json!({"desiredCapacity": 3.0}))).await;
    assert_eq!((state(&b).0, again), ("Pending", rev), "no new revision while Pending");
    // A scaler that echoes desiredCapacity with its report is not AAS retrying.
    let report = json!({"desiredCapacity": 3.0, "scalingStatus": "Failed", "failureReason": "quota again"});
    let (_, b, _) = call(&app, Some(report.clone())).await;
    assert_eq!(state(&b), ("Failed", Some("quota again")));
    let (_, b, _) = call(&app, Some(report)).await;
    assert_eq!(state(&b), ("Failed", Some("quota again")), "a repeated report stays a report");
    let (_, b, _) = call(&app, Some(json!({"actualCapacity": 3.0, "scalingStatus": "Successful"}))).await;
    assert_eq!(state(&b), ("Successful", None));
    let (_, b, done) = call(&app, None).await;
    let (_, b2, again) = call(&app, Some(json!({"desiredCapacity": 3.0}))).await;
    assert_eq!((state(&b), state(&b2), again), (("Successful", None), ("Successful", None), done));
    app.stop().await;
}

crate::store_tests!(
    a_failed_dimension_retries_the_same_capacity_in_demo_mode,
    a_failed_dimension_retries_the_same_capacity_in_production_mode,
);
