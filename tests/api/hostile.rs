//! Hostile clients: a head trickled byte by byte (slowloris) and connections
//! that never send anything are closed after `header_read_timeout`, while
//! other clients keep their normal latency; oversized heads get an answer.

use crate::helpers::{StoreKind, spawn_app};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_cut_off_and_others_served() {
    let app = spawn_app(StoreKind::Memory, |c| c.header_read_timeout = Duration::from_secs(1)).await;
    let addr = app.addr;
    // 200 connections that never send a byte, and 20 that trickle a head.
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut trickles = Vec::new();
    for n in 0..20 {
        trickles.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let head = format!("GET /v1/scalableTargetDimensions/slow{n} HTTP/1.1\r\nHost: x\r\nX-Slow: ");
            s.write_all(head.as_bytes()).await.unwrap();
            let started = Instant::now();
            // One byte every 100 ms, never finishing the head.
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if s.write_all(b"a").await.is_err() || started.elapsed() > Duration::from_secs(10) {
                    break;
                }
                let mut buf = [0u8; 64];
                if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await {
                    break;
                }
            }
            started.elapsed()
        }));
    }
    // Meanwhile, normal clients are served as usual.
    let mut worst = Duration::ZERO;
    for _ in 0..50 {
        let t = Instant::now();
        assert_eq!(app.get("fine").await.0, 200);
        worst = worst.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(worst < Duration::from_millis(250), "a normal GET took {worst:?} among hostile clients");
    for t in trickles {
        let lasted = t.await.unwrap();
        assert!(lasted < Duration::from_secs(4), "a slowloris connection lasted {lasted:?}");
    }
    // The idle connections were closed by the server too.
    for mut s in idle {
        let mut buf = [0u8; 16];
        let r = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await;
        assert!(matches!(r, Ok(Ok(0) | Err(_))), "an idle connection was left open: {r:?}");
    }
    // A keep-alive connection that goes quiet after a request is closed too.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
    assert!(matches!(r, Ok(Ok(0) | Err(_))), "an idle keep-alive connection was left open: {r:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    // An oversized head gets an HTTP answer, not a hang.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let big = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(512 * 1024));
    let _ = s.write_all(big.as_bytes()).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 431"), "{text}");
    app.stop().await;
}
