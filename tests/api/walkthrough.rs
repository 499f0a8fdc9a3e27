//! The seed's walkthrough, failure simulation, production mode, strict mode, on
//! every store. (The README's own walkthrough, its `curl` answers and log
//! lines, is run by `readme.rs` against the real binary.)

use crate::helpers::{StoreKind, spawn_app};
use crest::domain::{Capacity, Mode};
use serde_json::json;

const ID: &str = "1-23456789";

/// The reference README's sequence: PATCH 2.0 -> Pending -> InProgress -> Successful.
async fn seed_walkthrough(kind: StoreKind) {
    let app = spawn_app(kind, |_| {}).await;
    let (status, body) = app.get(ID).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"scalableTargetDimensionId": ID, "scalingStatus": "Successful", "resourceName": "MyService",
               "desiredCapacity": 1.0, "actualCapacity": 1.0, "dimensionName": "MyDimension", "version": "MyVersion"})
    );
    // curl -d sends application/x-www-form-urlencoded: accepted when the body is JSON.
    let r = app
        .client
        .patch(app.dim_url(ID))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(r#"{"desiredCapacity":2.0}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let text = r.text().await.unwrap();
    assert!(text.contains(r#""desiredCapacity":2.0"#) && text.contains(r#""actualCapacity":1.0"#), "{text}");
    assert!(text.contains(r#""scalingStatus":"Pending""#), "{text}");
    let (_, b) = app.get(ID).await;
    assert_eq!((b["scalingStatus"].as_str(), b["actualCapacity"].as_f64()), (Some("InProgress"), Some(1.0)));
    let (_, b) = app.get(ID).await;
    assert_eq!((b["scalingStatus"].as_str(), b["actualCapacity"].as_f64()), (Some("Successful"), Some(2.0)));
    assert!(b.get("failureReason").is_none());
    // Same desired again: nothing changes.
    let (_, b) = app.patch(ID, json!({"desiredCapacity": 2})).await;
    assert_eq!(b["scalingStatus"], "Successful");
    app.stop().await;
}

async fn demo_failure_simulation(kind: StoreKind) {
    let app =
        spawn_app(kind, |c| c.mode = Mode::Demo { simulate_failure: true, style: crest::domain::DemoStyle::Steps })
            .await;
    app.patch(ID, json!({"desiredCapacity": 4.0})).await;
    let (_, b) = app.get(ID).await;
    assert_eq!(b["scalingStatus"], "InProgress");
    for _ in 0..2 {
        let (_, b) = app.get(ID).await;
        assert_eq!(b["scalingStatus"], "Failed");
        assert!(b["failureReason"].as_str().is_some_and(|r| r.contains("simulated")), "{b}");
        assert_eq!(b["actualCapacity"], 1.0);
    }
    // A new desired capacity starts over and drops the reason.
    let (_, b) = app.patch(ID, json!({"desiredCapacity": 5.0})).await;
    assert_eq!(b["scalingStatus"], "Pending");
    assert!(b.get("failureReason").is_none());
    app.stop().await;
}

async fn production_mode(kind: StoreKind) {
    let app = spawn_app(kind, |c| c.mode = Mode::Production).await;
    let (_, b) = app.patch(ID, json!({"desiredCapacity": 3.0, "scalingStatus": "Successful"})).await;
    assert_eq!(b["scalingStatus"], "Pending", "a new desired forces Pending whatever the body says");
    for _ in 0..3 {
        let (_, b) = app.get(ID).await;
        assert_eq!((b["scalingStatus"].as_str(), b["actualCapacity"].as_f64()), (Some("Pending"), Some(1.0)));
    }
    let (_, b) = app.patch(ID, json!({"scalingStatus": "InProgress"})).await;
    assert_eq!(b["scalingStatus"], "InProgress");
    let (s, b) = app.patch(ID, json!({"failureReason": "no quota"})).await;
    assert_eq!(s, 400, "{b}");
    assert!(b["message"].as_str().unwrap().contains("failureReason is only kept with scalingStatus Failed"), "{b}");
    let (_, b) = app.patch(ID, json!({"scalingStatus": "Failed", "failureReason": "no quota"})).await;
    assert_eq!((b["scalingStatus"].as_str(), b["failureReason"].as_str()), (Some("Failed"), Some("no quota")));
    let (_, b) = app.patch(ID, json!({"actualCapacity": 3.0, "scalingStatus": "Successful"})).await;
    assert_eq!((b["scalingStatus"].as_str(), b["actualCapacity"].as_f64()), (Some("Successful"), Some(3.0)));
    assert!(b.get("failureReason").is_none(), "{b}");
    let (_, b) = app.get(ID).await;
    assert_eq!(b["scalingStatus"], "Successful");
    app.stop().await;
}

async fn strict_mode(kind: StoreKind) {
    let app = spawn_app(kind, |c| {
        c.strict = true;
        c.register = vec![crest::domain::DimensionId::parse("known").unwrap()];
        c.defaults.version = "v7".into();
        c.defaults.desired_capacity = Capacity::new(5.0).unwrap();
        c.defaults.actual_capacity = Capacity::new(5.0).unwrap();
    })
    .await;
    for (status, body) in [app.get("unknown").await, app.patch("unknown", json!({"desiredCapacity": 1})).await] {
        assert_eq!(status, 404);
        assert!(body["message"].as_str().unwrap().contains("strict mode"), "{body}");
    }
    let (s, b) = app.get("known").await;
    assert_eq!((s, b["version"].as_str(), b["desiredCapacity"].as_f64()), (200, Some("v7"), Some(5.0)));
    // Still unknown afterwards: a 404 created nothing.
    assert_eq!(app.get("unknown").await.0, 404);
    app.stop().await;
}

/// HEAD mirrors GET's headers but never advances demo state.
async fn head_does_not_change_state(kind: StoreKind) {
    let app = spawn_app(kind, |_| {}).await;
    app.patch(ID, json!({"desiredCapacity": 2.0})).await;
    for _ in 0..3 {
        let r = app.client.head(app.dim_url(ID)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
    }
    let (_, b) = app.get(ID).await;
    assert_eq!(b["scalingStatus"], "InProgress", "HEADs did not advance Pending");
    app.stop().await;
}

async fn health_and_readiness(kind: StoreKind) {
    let app = spawn_app(kind, |_| {}).await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(b["status"], "ready");
    app.stop().await;
}

crate::store_tests!(
    seed_walkthrough,
    demo_failure_simulation,
    production_mode,
    strict_mode,
    head_does_not_change_state,
    health_and_readiness,
);

/// The gradual and timed demo styles, through the HTTP API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_styles_gradual_and_timed() {
    use crest::domain::{Capacity, DemoStyle};
    let step = Capacity::new(2.0).unwrap();
    let app = spawn_app(StoreKind::Sqlite, |c| {
        c.mode = Mode::Demo { simulate_failure: false, style: DemoStyle::Gradual { step } }
    })
    .await;
    assert_eq!(app.patch("g", json!({"desiredCapacity": 6.0})).await.0, 200);
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (_, b) = app.get("g").await;
        seen.push((b["actualCapacity"].as_f64().unwrap(), b["scalingStatus"].as_str().unwrap().to_owned()));
    }
    let expect = [(3.0, "InProgress"), (5.0, "InProgress"), (6.0, "Successful"), (6.0, "Successful")];
    assert_eq!(seen, expect.map(|(a, s)| (a, s.to_owned())));
    app.stop().await;

    // timed: 2 units per second of the server's time, however often it is
    // polled. The server's clock is moved by hand.
    let rate = Capacity::new(2.0).unwrap();
    // A whole millisecond: stores keep times to the millisecond.
    let clock = crest::clock::Clock::manual(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000));
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::helpers::test_config(StoreKind::Memory, dir.path());
    config.mode = Mode::Demo { simulate_failure: false, style: DemoStyle::Timed { rate } };
    let app = crate::helpers::spawn_clocked(config, dir, clock.clone()).await;
    assert_eq!(app.patch("t", json!({"desiredCapacity": 5.0})).await.0, 200);
    let (_, b) = app.get("t").await;
    assert_eq!(
        (b["actualCapacity"].as_f64(), b["scalingStatus"].as_str()),
        (Some(1.0), Some("InProgress")),
        "no time passed"
    );
    clock.advance(std::time::Duration::from_millis(1000));
    let (_, b) = app.get("t").await;
    assert_eq!(b["scalingStatus"], "InProgress");
    assert_eq!(b["actualCapacity"].as_f64(), Some(3.0), "1 s at 2/s from 1.0");
    assert_eq!(app.patch("u", json!({"desiredCapacity": 4.0})).await.0, 200);
    clock.advance(std::time::Duration::from_millis(1700));
    let (_, b) = app.get("u").await;
    assert_eq!(
        (b["actualCapacity"].as_f64(), b["scalingStatus"].as_str()),
        (Some(4.0), Some("Successful")),
        "one poll after 1.7 s: 3 units done"
    );
    app.stop().await;
}
