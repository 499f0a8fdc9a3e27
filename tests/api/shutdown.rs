//! Graceful shutdown: requests in flight finish, a stalled client cannot
//! hold shutdown beyond the configured bound.

use crate::helpers::{StoreKind, spawn_app};
use crate::wait::wait_until;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_cannot_hold_shutdown_past_the_bound() {
    let app = spawn_app(StoreKind::Sqlite, |c| c.shutdown_timeout = Duration::from_millis(500)).await;
    // Headers of a PATCH whose body never comes: the request stays in flight
    // (once the server asks for the body, the handler is reading it).
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    let head = "PATCH /v1/scalableTargetDimensions/s HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n{";
    s.write_all(head.as_bytes()).await.unwrap();
    asked_for_the_body(&mut s).await;
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
        "PATCH /v1/scalableTargetDimensions/s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    asked_for_the_body(&mut s).await;
    let addr = app.addr;
    let stopping = tokio::spawn(app.stop());
    // Shutdown has begun once the listener is closed.
    wait_until(Duration::from_secs(5), "the listener was not closed at shutdown", async || {
        match TcpStream::connect(addr).await {
            Err(_) => Ok(()),
            Ok(_) => Err("still accepting connections"),
        }
    })
    .await;
    s.write_all(body.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
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

/// Waits for `100 Continue`: the request (sent with `Expect: 100-continue`)
/// reached its handler, which is now reading the body.
async fn asked_for_the_body(s: &mut TcpStream) {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("100 Continue in time")
            .unwrap();
        assert!(n > 0, "closed before 100 Continue: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"HTTP/1.1 100 Continue\r\n\r\n", "{:?}", String::from_utf8_lossy(&got));
}
