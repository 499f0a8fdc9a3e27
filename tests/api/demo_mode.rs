//! Issue 19, demo mode: crest is the scaler, so a PATCH with a scaler's
//! fields is refused (400, and `crest set` exits 2), and only a plain GET
//! (what AAS sends) advances a simulated scaling: long-polls, the SSE
//! stream and `crest watch` never do.

use crate::helpers::{StoreKind, TestApp, spawn_app};
use serde_json::{Value, json};
use std::process::{Command, Output};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_crest");
const ID: &str = "web";

/// `GET` with `query`: the status, the body and the ETag revision.
async fn revision(app: &TestApp, query: &str) -> (u16, Value, u64) {
    let r = app.client.get(format!("{}{query}", app.dim_url(ID))).send().await.unwrap();
    let status = r.status().as_u16();
    let etag = r.headers()["etag"].to_str().unwrap().trim_matches('"').parse().unwrap();
    (status, r.json().await.unwrap(), etag)
}

/// The revision as HEAD sees it (HEAD never changes state).
async fn head_revision(app: &TestApp) -> u64 {
    let r = app.client.head(app.dim_url(ID)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.headers()["etag"].to_str().unwrap().trim_matches('"').parse().unwrap()
}

/// `PATCH {"desiredCapacity": 2.0}`: the dimension is Pending; its revision.
async fn pending(app: &TestApp) -> u64 {
    let r = app.client.patch(app.dim_url(ID)).json(&json!({"desiredCapacity": 2.0})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().trim_matches('"').parse().unwrap();
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["scalingStatus"], "Pending");
    etag
}

async fn demo_mode_refuses_the_scaler_fields(kind: StoreKind) {
    let app = spawn_app(kind, |_| {}).await;
    let rev = pending(&app).await;
    let bodies = [
        (json!({"actualCapacity": 3.0}), "not actualCapacity;"),
        (json!({"scalingStatus": "Successful"}), "not scalingStatus;"),
        (json!({"failureReason": "quota"}), "not failureReason;"),
        (json!({"actualCapacity": 3.0, "scalingStatus": "Successful"}), "not actualCapacity, scalingStatus;"),
        (json!({"desiredCapacity": 5.0, "actualCapacity": 5.0}), "not actualCapacity;"),
    ];
    for (body, fields) in bodies {
        let (status, b) = app.patch(ID, body.clone()).await;
        assert_eq!(status, 400, "{body}: {b}");
        let message = b["message"].as_str().unwrap();
        assert!(message.starts_with("crest runs in demo mode, where it simulates the scaler itself"), "{message}");
        assert!(message.contains(fields), "{body}: {message}");
        assert!(message.contains("start crest in production mode (--mode production"), "{message}");
    }
    // Nothing was applied, and nothing was created.
    assert_eq!(head_revision(&app).await, rev);
    let (status, _) = app.patch("other", json!({"actualCapacity": 3.0})).await;
    assert_eq!(status, 400);
    let page: Value =
        app.client.get(app.url("/v1/scalableTargetDimensions")).send().await.unwrap().json().await.unwrap();
    assert_eq!(page["dimensions"].as_array().map(Vec::len), Some(1), "{page}");
    app.stop().await;
}

/// A long-poll answers with the state as it is, and the SSE stream only
/// reports; a plain GET (what AAS sends) is what advances the scaling.
async fn watchers_never_advance_demo_state(kind: StoreKind) {
    let app = spawn_app(kind, |_| {}).await;
    let rev = pending(&app).await;
    // A long-poll with nothing to wait for answers after `wait`, still Pending.
    let (status, b, answered) = revision(&app, "?wait=200ms").await;
    assert_eq!((status, b["scalingStatus"].as_str(), answered), (200, Some("Pending"), rev), "{b}");
    // One whose revision is already past `after` answers at once, still Pending.
    let (_, b, answered) = revision(&app, "?wait=5s&after=0").await;
    assert_eq!((b["scalingStatus"].as_str(), answered), (Some("Pending"), rev), "{b}");
    assert_eq!(head_revision(&app).await, rev, "the long-polls stored nothing");
    // The SSE stream is open (its handler has run): it changed nothing.
    let stream = app.client.get(app.url(&format!("/v1/scalableTargetDimensions/watch?id={ID}"))).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(head_revision(&app).await, rev, "the stream stored nothing");
    // A plain GET advances, and the stream reports that change as its first.
    let (_, b, advanced) = revision(&app, "").await;
    assert_eq!((b["scalingStatus"].as_str(), advanced), (Some("InProgress"), rev + 1), "{b}");
    let first = first_change(stream).await;
    assert_eq!((first["scalingStatus"].as_str(), first["revision"].as_u64()), (Some("InProgress"), Some(rev + 1)));
    app.stop().await;
}

/// The `data:` of the first `event: change` on an SSE response.
async fn first_change(mut stream: reqwest::Response) -> Value {
    let mut buffer = String::new();
    loop {
        if let Some(data) = buffer
            .split("\n\n")
            .filter(|block| block.lines().any(|l| l == "event: change"))
            .find_map(|block| block.lines().find_map(|l| l.strip_prefix("data: ")))
        {
            return serde_json::from_str(data).unwrap();
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk()).await;
        let bytes = chunk.expect("a change within 10 s").unwrap().expect("the stream stays open");
        buffer.push_str(&String::from_utf8_lossy(&bytes));
    }
}

crate::store_tests!(demo_mode_refuses_the_scaler_fields, watchers_never_advance_demo_state);

/// Runs `crest ARGS --server URL` without credentials from the environment.
fn crest(app: &TestApp, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).args(["--server", &app.url("")]);
    for var in ["CREST_CLIENT_TOKEN", "CREST_TOKEN_FILE", "CREST_SERVER"] {
        cmd.env_remove(var);
    }
    cmd.output().unwrap()
}

/// `crest set web --actual 3 --status Successful` against a demo server used
/// to answer 200, change nothing and exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crest_set_of_scaler_fields_against_a_demo_server_exits_2() {
    let app = spawn_app(StoreKind::Sqlite, |_| {}).await;
    let rev = pending(&app).await;
    let args = ["set", ID, "--actual", "3", "--status", "Successful"];
    let o = tokio::task::block_in_place(|| crest(&app, &args));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(o.stdout.is_empty(), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(stderr.starts_with("crest: crest answered 400: crest runs in demo mode"), "{stderr}");
    assert!(stderr.contains("not actualCapacity, scalingStatus;"), "{stderr}");
    assert!(stderr.contains("start crest in production mode (--mode production"), "{stderr}");
    assert_eq!(head_revision(&app).await, rev, "nothing changed");
    app.stop().await;
}

/// `crest watch` prints the state as it is: its first request is not a
/// plain GET (it used to advance Pending to InProgress before printing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crest_watch_never_advances_demo_state() {
    let app = spawn_app(StoreKind::Sqlite, |_| {}).await;
    let rev = pending(&app).await;
    let o = tokio::task::block_in_place(|| crest(&app, &["watch", ID, "--json", "--count", "1"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let printed: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((printed["scalingStatus"].as_str(), printed["revision"].as_u64()), (Some("Pending"), Some(rev)));
    assert_eq!(head_revision(&app).await, rev, "the watch stored nothing");
    app.stop().await;
}

/// The demo-mode refusal needs no stored state, so it comes before the
/// If-Match precondition (RFC 9110, 13.2.1): a stale If-Match still gets
/// the 400 that says what to fix, not a 412 (schemathesis found this).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_mode_refuses_scaler_fields_before_judging_if_match() {
    let app = spawn_app(StoreKind::Memory, |_| {}).await;
    let r = app.client.patch(app.dim_url("w")).header("if-match", "\"99\"").json(&json!({"failureReason": "x"}));
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("crest runs in demo mode"), "{body}");
    app.stop().await;
}
