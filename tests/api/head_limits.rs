//! The request head's limits over a real socket: within crest's limits
//! (8 KiB target, 100 fields, 32 KiB of fields) an oversized head is a JSON
//! 414 or 431 that says what to fix, on HTTP/1.1 and h2c; beyond hyper's own
//! (documented in the README's error table) it is hyper's bare answer.

use crate::helpers::{StoreKind, spawn_app};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `request` as is and reads the answer until the server closes.
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await.expect("an answer").ok();
    String::from_utf8_lossy(&out).into_owned()
}

fn head(target: &str, fields: &[(String, String)]) -> Vec<u8> {
    let mut text = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (n, v) in fields {
        text.push_str(&format!("{n}: {v}\r\n"));
    }
    text.push_str("\r\n");
    text.into_bytes()
}

/// The status and the `message` of a JSON answer (panics on another body).
fn json_answer(answer: &str) -> (u16, String) {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "not JSON: {answer:.300}");
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:.300}"));
    (status, v["message"].as_str().unwrap().to_owned())
}

fn fields(n: usize, value_len: usize) -> Vec<(String, String)> {
    (0..n).map(|i| (format!("x-f{i}"), "v".repeat(value_len))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_within_crests_limits_answer_json() {
    let app = spawn_app(StoreKind::Memory, |_| {}).await;
    let long = format!("/v1/scalableTargetDimensions/{}", "a".repeat(9000));
    let (s, m) = json_answer(&exchange(app.addr, &head(&long, &[])).await);
    assert_eq!(s, 414, "{m}");
    let want = "the request target (path and query) is 9029 bytes; the limit is 8192: ids are at most 1600 bytes, so \
                check the URL";
    assert_eq!(m, want, "the README's example");
    // 98 of ours + Host + Connection = 100: within the limit.
    let answer = exchange(app.addr, &head("/healthz", &fields(98, 1))).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.300}");
    let (s, m) = json_answer(&exchange(app.addr, &head("/healthz", &fields(99, 1))).await);
    assert_eq!(s, 431, "{m}");
    assert!(m.contains("101 header fields; the limit is 100"), "{m}");
    let (s, m) = json_answer(&exchange(app.addr, &head("/healthz", &fields(1, 40 * 1024))).await);
    assert_eq!(s, 431, "{m}");
    assert!(m.contains("bytes; the limit is 32768"), "{m}");

    // h2c (prior knowledge): the same JSON answer.
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let r = h2.get(app.url("/healthz")).header("x-big", "a".repeat(40 * 1024)).send().await.unwrap();
    assert_eq!((r.version(), r.status().as_u16()), (reqwest::Version::HTTP_2, 431));
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("the limit is 32768"), "{body}");
    app.stop().await;
}

/// What the README's error table says hyper answers before crest can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_hypers_limits_the_answer_is_bare_as_documented() {
    let app = spawn_app(StoreKind::Memory, |_| {}).await;
    let bare = |answer: &str, status: &str| {
        assert!(answer.starts_with(&format!("HTTP/1.1 {status}")), "{answer:.300}");
        assert!(answer.to_ascii_lowercase().contains("content-length: 0\r\n"), "{answer:.300}");
    };
    bare(&exchange(app.addr, &head(&format!("/{}", "a".repeat(70_000)), &[])).await, "414");
    bare(&exchange(app.addr, &head("/healthz", &fields(300, 1))).await, "431");
    bare(&exchange(app.addr, &head("/healthz", &fields(1, 512 * 1024))).await, "431");
    bare(&exchange(app.addr, b"GARBAGE\r\n\r\n").await, "400");
    bare(&exchange(app.addr, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n").await, "400");
    // crest still serves.
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}
