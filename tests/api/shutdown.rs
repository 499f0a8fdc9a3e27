//! Graceful shutdown: requests in flight finish, a stalled client cannot
//! hold shutdown beyond the configured bound.

use crate::helpers::{StoreKind, spawn_app};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_cannot_hold_shutdown_past_the_bound() {
    let app = spawn_app(StoreKind::Sqlite, |c| c.shutdown_timeout = Duration::from_millis(500)).await;
    // Headers of a PATCH whose body never comes: the request stays in flight.
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    let head = "PATCH /v1/scalableTargetDimensions/s HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{";
    s.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), app.stop()).await.expect("shutdown is bounded");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(400), "waited for the in-flight request first: {took:?}");
    drop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_at_shutdown_still_completes() {
    let app = spawn_app(StoreKind::File, |c| c.shutdown_timeout = Duration::from_secs(5)).await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    let body = r#"{"desiredCapacity": 9.0}"#;
    let head = format!(
        "PATCH /v1/scalableTargetDimensions/s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopping = tokio::spawn(app.stop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.write_all(body.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut s, &mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains(r#""desiredCapacity":9.0"#), "{out}");
    let dir = stopping.await.unwrap();
    // And it was durable: a new server on the same directory sees it.
    let config = crate::helpers::test_config(StoreKind::File, dir.path());
    let app = crate::helpers::spawn_with(config, dir).await;
    let (_, b) = app.get("s").await;
    assert_eq!(b["desiredCapacity"], 9.0);
    app.stop().await;
}
