//! Watch: long-polls (`?wait=&after=`) wake within milliseconds of a change
//! on the same replica and within a second on another replica (Postgres
//! LISTEN/NOTIFY); the SSE stream delivers every change in order.

use crate::helpers::{StoreKind, TestApp, spawn_app};
use crate::pg::{TestDb, available};
use crate::wait::wait_until;
use crest::domain::Mode;
use crest::secret::Secret;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn production(c: &mut crest::config::Config) {
    c.mode = Mode::Production;
}

/// Starts a long-poll GET on `app` in a task; returns (when it answered, status, body).
fn long_poll(app: &TestApp, id: &str, query: &str) -> tokio::task::JoinHandle<(Instant, u16, Value, String)> {
    let (client, url) = (app.client.clone(), format!("{}?{query}", app.dim_url(id)));
    tokio::spawn(async move {
        let r = client.get(url).send().await.unwrap();
        let done = Instant::now();
        let status = r.status().as_u16();
        let etag = r.headers().get("etag").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        (done, status, r.json().await.unwrap(), etag)
    })
}

/// Waits until `n` long-polls and event streams wait on `app`'s change
/// feed (`crest_watchers`): a request sent is not yet a request waiting.
async fn waiting_on(app: &TestApp, n: u64) {
    wait_until(Duration::from_secs(5), "the long-poll waits on the change feed", async || {
        let now = app.metric("crest_watchers").await;
        if now >= n as f64 { Ok(()) } else { Err(format!("{now} waiting")) }
    })
    .await;
}

/// A long-poll answers within 100 ms of the PATCH that moves the revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_wakes_on_a_change_on_the_same_replica() {
    let app = spawn_app(StoreKind::Sqlite, production).await;
    assert_eq!(app.patch("lp", json!({"desiredCapacity": 2.0})).await.0, 200);
    for round in 0..5u64 {
        let waiting = long_poll(&app, "lp", &format!("wait=10s&after={}", round + 1));
        waiting_on(&app, 1).await;
        assert!(!waiting.is_finished(), "round {round}: answered before any change");
        let sent = Instant::now();
        let desired = 3.0 + round as f64;
        assert_eq!(app.patch("lp", json!({"desiredCapacity": desired})).await.0, 200);
        let (done, status, body, etag) = waiting.await.unwrap();
        let took = done.saturating_duration_since(sent);
        assert_eq!(status, 200);
        assert_eq!(body["desiredCapacity"], desired, "round {round}: the new state");
        assert_eq!(etag, format!("\"{}\"", round + 2));
        assert!(took < Duration::from_millis(100), "round {round}: woke {took:?} after the PATCH");
    }
    app.stop().await;
}

/// Without a change it answers the current state after `wait`; a revision
/// already past `after` answers at once; bad parameters are 400 JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_times_out_and_checks_its_parameters() {
    let app = spawn_app(StoreKind::Memory, |c| {
        production(c);
        c.request_timeout = Duration::from_secs(5);
    })
    .await;
    assert_eq!(app.patch("t", json!({"desiredCapacity": 2.0})).await.0, 200);
    let started = Instant::now();
    let (_, status, body, etag) = long_poll(&app, "t", "wait=400ms").await.unwrap();
    let took = started.elapsed();
    assert_eq!((status, body["desiredCapacity"].as_f64(), etag.as_str()), (200, Some(2.0), "\"1\""));
    assert!(took >= Duration::from_millis(400) && took < Duration::from_secs(2), "{took:?}");
    let started = Instant::now();
    let (_, status, _, _) = long_poll(&app, "t", "wait=4s&after=0").await.unwrap();
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_millis(500), "revision 1 is past after=0: at once");
    let started = Instant::now();
    let (_, status, _, _) = long_poll(&app, "t", "after=3").await.unwrap();
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_millis(500), "after without wait is a plain GET");
    for (q, needle) in [
        ("wait=soon", "wait must be a duration"),
        ("wait=10s", "wait must be at most 4s"),
        ("wait=1s&after=x", "invalid query"),
        ("wait=1s&after=9223372036854775808", "after must be a revision from 0 to"),
        ("colour=red", "invalid query"),
    ] {
        let r = app.client.get(format!("{}?{q}", app.dim_url("t"))).send().await.unwrap();
        assert_eq!(r.status(), 400, "{q}");
        let b: Value = r.json().await.unwrap();
        assert!(b["message"].as_str().unwrap().contains(needle), "{q}: {b}");
    }
    app.stop().await;
}

/// Two replicas on one Postgres: a long-poll on B wakes within 1 s of a
/// PATCH on A (LISTEN/NOTIFY), and B's SSE stream shows A's change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_wakes_on_a_change_on_another_replica() {
    if !available("long_poll_wakes_on_a_change_on_another_replica").await {
        return;
    }
    let db = TestDb::create().await;
    wakes_on_another_replica(&db.url).await;
    drop(db);
}

/// The same with both replicas behind a transaction pooler, where a
/// `LISTEN` hears nothing: the change feed must still reach B within 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_wakes_on_a_change_on_another_replica_through_pgbouncer() {
    let test = "long_poll_wakes_on_a_change_on_another_replica_through_pgbouncer";
    if !available(test).await || !crate::pgbouncer::available(test) {
        return;
    }
    let db = TestDb::create().await;
    wakes_on_another_replica(&crate::pgbouncer::shared().await.via(&db.url)).await;
    drop(db);
}

async fn wakes_on_another_replica(url: &str) {
    let on_db = |c: &mut crest::config::Config| {
        production(c);
        c.store = Secret::new(url);
    };
    let a = spawn_app(StoreKind::Memory, on_db).await;
    let b = spawn_app(StoreKind::Memory, on_db).await;
    assert_eq!(a.patch("x", json!({"desiredCapacity": 2.0})).await.0, 200);
    // B's LISTEN connection may still be starting: wait until it sees one.
    let mut events = sse(&b, "?id=x").await;
    let mut actual = 1.0;
    wait_until(Duration::from_secs(10), "replica B never heard of A's changes", async || {
        actual += 1.0;
        let r = long_poll(&b, "x", "wait=1s&after=1");
        assert_eq!(a.patch("x", json!({"actualCapacity": actual})).await.0, 200);
        let status = r.await.unwrap().1;
        if status != 200 {
            return Err(format!("the long-poll on B answered {status}"));
        }
        match events.next_change(Duration::from_millis(500)).await {
            Some(_) => Ok(()),
            None => Err("no change on B's stream within 500 ms".to_owned()),
        }
    })
    .await;
    for round in 0..5 {
        let current = b.get("x").await.1;
        let rev: u64 = b.client.get(b.dim_url("x")).send().await.unwrap().headers()["etag"]
            .to_str()
            .unwrap()
            .trim_matches('"')
            .parse()
            .unwrap();
        let waiting = long_poll(&b, "x", &format!("wait=10s&after={rev}"));
        // B's event stream, and now the long-poll.
        waiting_on(&b, 2).await;
        let sent = Instant::now();
        let desired = current["desiredCapacity"].as_f64().unwrap() + 1.0;
        assert_eq!(a.patch("x", json!({"desiredCapacity": desired})).await.0, 200);
        let (done, status, body, _) = waiting.await.unwrap();
        let took = done.saturating_duration_since(sent);
        assert_eq!((status, body["desiredCapacity"].as_f64()), (200, Some(desired)), "round {round}");
        assert!(took < Duration::from_secs(1), "round {round}: B woke {took:?} after A's PATCH");
    }
    a.stop().await;
    b.stop().await;
}

/// Reads `data:` of `event: change` from a text/event-stream response.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn next_change(&mut self, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let is_change = block.lines().any(|l| l == "event: change");
                let data = block.lines().find_map(|l| l.strip_prefix("data: "));
                if let (true, Some(data)) = (is_change, data) {
                    return Some(serde_json::from_str(data).unwrap());
                }
                continue;
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }
}

async fn sse(app: &TestApp, query: &str) -> Events {
    let r = app.client.get(app.url(&format!("/v1/scalableTargetDimensions/watch{query}"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    Events { response: r, buffer: String::new() }
}

/// The SSE stream delivers every change, in order, with its revision; a
/// filtered stream only its dimension's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_delivers_every_change_in_order() {
    let app = spawn_app(StoreKind::File, production).await;
    let mut all = sse(&app, "").await;
    let mut only_b = sse(&app, "?id=b").await;
    for n in 1..=20 {
        let id = if n % 2 == 0 { "a" } else { "b" };
        let desired = f64::from(n) + 10.0;
        assert_eq!(app.patch(id, json!({"desiredCapacity": desired})).await.0, 200);
        assert_eq!(app.patch(id, json!({"actualCapacity": desired, "scalingStatus": "Successful"})).await.0, 200);
    }
    let mut seen: Vec<(String, u64, f64)> = Vec::new();
    while seen.len() < 40 {
        let e = all
            .next_change(Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("40 changes, got {}: {seen:?}", seen.len()));
        seen.push((
            e["scalableTargetDimensionId"].as_str().unwrap().to_owned(),
            e["revision"].as_u64().unwrap(),
            e["desiredCapacity"].as_f64().unwrap(),
        ));
    }
    for id in ["a", "b"] {
        let revisions: Vec<u64> = seen.iter().filter(|s| s.0 == id).map(|s| s.1).collect();
        assert_eq!(revisions, (1..=20).collect::<Vec<u64>>(), "{id}: every revision, in order");
    }
    let b_events: Vec<f64> = {
        let mut v = Vec::new();
        while let Some(e) = only_b.next_change(Duration::from_millis(500)).await {
            assert_eq!(e["scalableTargetDimensionId"], "b");
            v.push(e["desiredCapacity"].as_f64().unwrap());
        }
        v
    };
    assert_eq!(b_events.len(), 20, "{b_events:?}");
    drop(all);
    drop(only_b);
    // Shutdown is not held up by open streams.
    let _stream = sse(&app, "").await;
    let started = Instant::now();
    app.stop().await;
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}
