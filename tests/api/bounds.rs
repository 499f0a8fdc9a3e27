//! Bounds on what unknown ids can make crest keep (issue 15.4): the
//! dimension limit (`max_dimensions`: a 409 that names the setting, existing
//! dimensions unaffected, a delete frees a slot, across replicas on
//! Postgres), a `read` caller never creates, and the change feed remembers a
//! bounded number of ids however many pass through it.

use crate::helpers::{StoreKind, TestApp, spawn_app, spawn_with, test_config};
use crate::pg::{TestDb, available};
use crest::auth::{AuthConfig, Role, Token, hash};
use crest::secret::Secret;
use futures_util::StreamExt;
use serde_json::{Value, json};

const BASE: &str = "/v1/scalableTargetDimensions";

/// `method path` with `body` (JSON) and an optional bearer token: status and JSON body.
async fn send(app: &TestApp, method: &str, id: &str, body: Option<Value>, token: Option<&str>) -> (u16, Value) {
    let mut r = app.client.request(method.parse().unwrap(), app.dim_url(id));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn listed(app: &TestApp, token: Option<&str>) -> Vec<String> {
    let mut r = app.client.get(app.url(&format!("{BASE}?limit=1000")));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let page: Value = r.send().await.unwrap().json().await.unwrap();
    let ids = page["dimensions"].as_array().unwrap_or_else(|| panic!("{page}"));
    ids.iter().map(|d| d["scalableTargetDimensionId"].as_str().unwrap().to_owned()).collect()
}

/// The limit's 409: JSON whose message names the limit, its value and every
/// spelling of the setting, and says what to do.
fn assert_limit(status: u16, body: &Value, what: &str, max: u64) {
    assert_eq!(status, 409, "{what}: {body}");
    let m = body["message"].as_str().unwrap_or_else(|| panic!("{what}: no message: {body}"));
    for needle in [
        format!("limit of {max} dimensions"),
        "max_dimensions".into(),
        "--max-dimensions".into(),
        "CREST_MAX_DIMENSIONS".into(),
        "delete unused dimensions".into(),
    ] {
        assert!(m.contains(&needle), "{what}: {needle:?} missing in {m}");
    }
}

async fn the_dimension_limit_answers_409_and_a_delete_frees_a_slot(kind: StoreKind) {
    let app = spawn_app(kind, |c| c.max_dimensions = 3).await;
    for id in ["a", "b"] {
        assert_eq!(send(&app, "GET", id, None, None).await.0, 200, "GET {id} creates it");
    }
    assert_eq!(send(&app, "PATCH", "c", Some(json!({"desiredCapacity": 2.0})), None).await.0, 200);
    // Full: every way of creating a fourth is refused, and nothing is written.
    let (status, body) = send(&app, "GET", "d", None, None).await;
    assert_limit(status, &body, "GET d", 3);
    let (status, body) = send(&app, "PATCH", "d", Some(json!({"desiredCapacity": 2.0})), None).await;
    assert_limit(status, &body, "PATCH d", 3);
    let (status, body) = send(&app, "PUT", "d", Some(json!({"maxCapacity": 9.0})), None).await;
    assert_limit(status, &body, "PUT d", 3);
    assert_eq!(send(&app, "HEAD", "d", None, None).await.0, 409, "HEAD answers as GET would");
    assert_eq!(listed(&app, None).await, ["a", "b", "c"]);
    // Existing dimensions keep working.
    let (status, body) = send(&app, "PATCH", "a", Some(json!({"desiredCapacity": 5.0})), None).await;
    assert_eq!((status, body["desiredCapacity"].as_f64()), (200, Some(5.0)), "{body}");
    assert_eq!(send(&app, "GET", "a", None, None).await.0, 200);
    assert_eq!(send(&app, "PUT", "b", Some(json!({"maxCapacity": 9.0})), None).await.0, 200);
    // A delete frees a slot for one more, and only one.
    assert_eq!(send(&app, "DELETE", "b", None, None).await.0, 204);
    assert_eq!(send(&app, "GET", "d", None, None).await.0, 200, "the slot b left");
    let (status, body) = send(&app, "GET", "e", None, None).await;
    assert_limit(status, &body, "GET e", 3);
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let refused = metrics.lines().find(|l| l.starts_with("crest_dimensions_refused_total ")).unwrap_or("none");
    assert!(refused.ends_with(" 4"), "four creations refused (GET, PATCH, PUT of d, GET of e): {refused}");
    app.stop().await;
}

/// Tokens of each role, the secret being the role's name plus a suffix.
fn tokens() -> AuthConfig {
    AuthConfig {
        tokens: Role::ALL
            .iter()
            .map(|r| Token { name: format!("{r}-token"), role: *r, sha256: hash(&secret(*r)) })
            .collect(),
        ..AuthConfig::default()
    }
}

fn secret(role: Role) -> String {
    format!("{role}-bounds-secret-0123456789")
}

async fn a_read_caller_never_creates(kind: StoreKind) {
    let app = spawn_app(kind, |c| c.auth = tokens()).await;
    let read = secret(Role::Read);
    let (status, body) = send(&app, "GET", "new", None, Some(&read)).await;
    assert_eq!(status, 404, "{body}");
    let m = body["message"].as_str().unwrap();
    assert!(m.contains("no scalable target dimension \"new\"") && m.contains("role read cannot create"), "{m}");
    assert_eq!(send(&app, "GET", "new", None, Some(&read)).await.0, 404, "still nothing there");
    let (status, _) = send(&app, "HEAD", "new", None, Some(&read)).await;
    assert_eq!(status, 404, "HEAD answers as GET would");
    let waited = app.client.get(format!("{}?wait=1s", app.dim_url("new"))).bearer_auth(&read).send().await.unwrap();
    assert_eq!(waited.status(), 404, "a long-poll does not create either");
    assert!(listed(&app, Some(&read)).await.is_empty(), "nothing was written");
    // The roles that write may create; then `read` sees it.
    for role in [Role::Aas, Role::Scaler, Role::Admin] {
        let id = format!("by-{role}");
        assert_eq!(send(&app, "GET", &id, None, Some(&secret(role))).await.0, 200, "{role} creates {id}");
        assert_eq!(send(&app, "GET", &id, None, Some(&read)).await.0, 200, "read sees {id}");
    }
    assert_eq!(listed(&app, Some(&read)).await, ["by-aas", "by-admin", "by-scaler"]);
    app.stop().await;
}

crate::store_tests!(the_dimension_limit_answers_409_and_a_delete_frees_a_slot, a_read_caller_never_creates);

/// The configured `register` list is created at start even beyond the limit
/// (an operator's explicit list), and counts towards it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_dimensions_are_created_beyond_the_limit() {
    let app = spawn_app(StoreKind::Sqlite, |c| {
        c.max_dimensions = 2;
        c.register = ["x", "y", "z"].iter().map(|s| crest::domain::DimensionId::parse(s).unwrap()).collect();
    })
    .await;
    assert_eq!(listed(&app, None).await, ["x", "y", "z"]);
    let (status, body) = send(&app, "GET", "w", None, None).await;
    assert_limit(status, &body, "GET w", 2);
    assert_eq!(send(&app, "GET", "x", None, None).await.0, 200);
    app.stop().await;
}

/// Two replicas on one database share the limit: the count comes from the
/// store, not from one process's memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_the_dimension_limit() {
    if !available("replicas_share_the_dimension_limit").await {
        return;
    }
    let db = TestDb::create().await;
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(StoreKind::Memory, dir.path());
        config.store = Secret::new(db.url.clone());
        config.max_dimensions = 2;
        replicas.push(spawn_with(config, dir).await);
    }
    let (a, b) = (&replicas[0], &replicas[1]);
    assert_eq!(send(a, "GET", "one", None, None).await.0, 200);
    assert_eq!(send(b, "GET", "two", None, None).await.0, 200);
    let (status, body) = send(a, "GET", "three", None, None).await;
    assert_limit(status, &body, "A, the third", 2);
    let (status, body) = send(b, "GET", "three", None, None).await;
    assert_limit(status, &body, "B, the third", 2);
    assert_eq!(send(a, "DELETE", "two", None, None).await.0, 204, "deleted on A");
    // B may have refused a moment ago; it counts again within a second.
    crate::wait::wait_until(std::time::Duration::from_secs(3), "B sees the free slot", async || {
        match send(b, "GET", "three", None, None).await {
            (200, _) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    for app in replicas {
        app.stop().await;
    }
    drop(db);
}

/// The change feed remembers at most `crest::watch::REMEMBERED` ids,
/// however many distinct ids are created through the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_feed_stays_bounded_through_the_server() {
    let n = crest::watch::REMEMBERED + 600;
    let app = spawn_app(StoreKind::Memory, |c| c.max_dimensions = 100_000).await;
    let ids: Vec<String> = (0..n).map(|i| format!("{i:0>200}")).collect();
    let mut pending = futures_util::stream::iter(ids.into_iter().map(|id| {
        let (client, url) = (app.client.clone(), app.dim_url(&id));
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    }))
    .buffer_unordered(16);
    let mut created = 0;
    while let Some(status) = pending.next().await {
        assert_eq!(status, 200);
        created += 1;
    }
    assert_eq!(created, n);
    drop(pending);
    let remembered = app.metric("crest_watch_remembered").await;
    assert!(
        remembered <= crest::watch::REMEMBERED as f64,
        "the feed remembers {remembered} ids after {n} were created; the cap is {}",
        crest::watch::REMEMBERED
    );
    app.stop().await;
}

/// The real binary: `CREST_MAX_DIMENSIONS` beats the file's
/// `max_dimensions`; the first refusal is logged as one WARN naming the
/// setting, and the next ones within a minute are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_comes_from_the_environment_and_is_logged_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("crest.toml");
    std::fs::write(&file, "store = \"memory:\"\nlisten = \"127.0.0.1:0\"\nmax_dimensions = 5\n").unwrap();
    let file = file.display().to_string();
    let env = [("CREST_CONFIG", file.as_str()), ("CREST_MAX_DIMENSIONS", "1"), ("CREST_LOG_FORMAT", "json")];
    let p = crate::process::start(&[], &env);
    let base = format!("http://{}{BASE}", p.ready_addr());
    let c = reqwest::Client::new();
    assert_eq!(c.get(format!("{base}/one")).send().await.unwrap().status(), 200);
    for id in ["two", "three", "four"] {
        let r = c.get(format!("{base}/{id}")).send().await.unwrap();
        assert_eq!(r.status(), 409, "{id}");
        let body: Value = r.json().await.unwrap();
        assert_limit(409, &body, id, 1);
    }
    let line = p.wait_for("dimension limit reached");
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
    assert_eq!((v["level"].as_str(), v["max_dimensions"].as_u64()), (Some("WARN"), Some(1)), "{line}");
    assert!(v["message"].as_str().unwrap().contains("--max-dimensions, CREST_MAX_DIMENSIONS"), "{line}");
    p.signal("-TERM");
    let (_, rest) = p.finish();
    assert!(!rest.contains("dimension limit reached"), "one WARN line, not one per refusal: {rest}");
}
