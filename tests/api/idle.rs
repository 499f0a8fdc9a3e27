//! Idle connections of every kind are closed: a TLS connection silent after
//! its handshake and an HTTP/2 connection (TLS or h2c) that sent only its
//! preface after `header_read_timeout`; an HTTP/1 keep-alive connection and
//! an HTTP/2 connection with no open stream `idle_timeout` after their last
//! response (h2 with a GOAWAY). A request in flight, a long-poll or an SSE
//! watch longer than either, is never cut.

use crate::helpers::{StoreKind, TestApp, spawn_app};
use crate::tls::Files;
use axum::body::Body;
use crest::config::Config;
use crest::domain::Mode;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// The client connection preface of HTTP/2 with its (empty) SETTINGS frame.
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
const GOAWAY: u8 = 7;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The header-read and idle timeouts of a test server.
fn timeouts(c: &mut Config, header: Duration, idle: Duration) {
    c.header_read_timeout = header;
    c.idle_timeout = idle;
}

/// A rustls client trusting the test server CA, offering `alpn`.
pub fn tls_config(f: &Files, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(f.server_ca.cert_pem.as_bytes()).unwrap()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A finished TLS handshake with `addr`, as `localhost`.
pub async fn tls_connect(config: Arc<rustls::ClientConfig>, addr: SocketAddr) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(config).connect(name, tcp).await
}

/// Reads until the server closes (EOF or reset); returns how long that
/// took and what it sent. Panics if it is still open after `within`.
async fn until_closed<S: AsyncRead + Unpin>(s: &mut S, within: Duration, what: &str) -> (Duration, Vec<u8>) {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + within).into(), s.read(&mut buf)).await {
            Err(_) => panic!("{what}: still open after {within:?} (it sent {} bytes)", out.len()),
            Ok(Ok(0) | Err(_)) => return (started.elapsed(), out),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// The types of the HTTP/2 frames in `bytes` (a server's side of a connection).
fn frame_types(bytes: &[u8]) -> Vec<u8> {
    let (mut at, mut types) = (0, Vec::new());
    while at + 9 <= bytes.len() {
        let len = u32::from_be_bytes([0, bytes[at], bytes[at + 1], bytes[at + 2]]) as usize;
        types.push(bytes[at + 3]);
        at += 9 + len;
    }
    types
}

/// Sends a GET on an HTTP/1.1 connection and reads one response (with a
/// Content-Length body, or the head and what came with it for a stream).
async fn get<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, path: &str) -> (u16, String) {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await.expect("an answer").unwrap();
        assert!(n > 0, "closed before the response was complete: {}", String::from_utf8_lossy(&out));
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()));
            if length.is_none_or(|l| body.len() >= l.parse().unwrap()) {
                let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                return (status, body.to_owned());
            }
        }
    }
}

async fn spawn_tls_with(f: &Files, tweak: impl FnOnce(&mut Config)) -> (TestApp, SocketAddr) {
    let app = spawn_app(StoreKind::Memory, |c| {
        c.tls = Some(f.tls(vec![], vec![]));
        c.http_api = true;
        tweak(c);
    })
    .await;
    let addr = app.tls_addr.unwrap();
    (app, addr)
}

/// An h2 client connection over TLS (hyper's client); the task ends when
/// the server closes the connection.
async fn h2_client(
    f: &Files,
    addr: SocketAddr,
) -> (hyper::client::conn::http2::SendRequest<Body>, tokio::task::JoinHandle<Instant>) {
    let tls = tls_connect(tls_config(f, &[b"h2"]), addr).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await.unwrap();
    let ended = tokio::spawn(async move {
        let _ = conn.await;
        Instant::now()
    });
    (send, ended)
}

async fn h2_get(send: &mut hyper::client::conn::http2::SendRequest<Body>, path: &str) -> u16 {
    let req = hyper::Request::get(format!("https://localhost{path}")).body(Body::empty()).unwrap();
    let r = send.send_request(req).await.unwrap();
    let status = r.status().as_u16();
    axum::body::to_bytes(Body::new(r.into_body()), 1 << 20).await.unwrap();
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_silent_after_the_handshake_is_closed() {
    let f = Files::new();
    let (app, addr) = spawn_tls_with(&f, |c| timeouts(c, ms(300), Duration::from_secs(60))).await;
    let mut s = tls_connect(tls_config(&f, &[b"http/1.1"]), addr).await.unwrap();
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (took, sent) =
        until_closed(&mut s, Duration::from_secs(5), "a TLS connection silent after the handshake").await;
    assert!(took >= ms(250) && took < Duration::from_secs(3), "closed after {took:?}");
    assert!(sent.is_empty(), "{}", String::from_utf8_lossy(&sent));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_h2_preface_only_is_closed_with_a_goaway() {
    let f = Files::new();
    let (app, addr) = spawn_tls_with(&f, |c| timeouts(c, ms(300), Duration::from_secs(60))).await;
    let mut s = tls_connect(tls_config(&f, &[b"h2"]), addr).await.unwrap();
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    s.write_all(H2_PREFACE).await.unwrap();
    let (took, sent) = until_closed(&mut s, Duration::from_secs(5), "a TLS h2 connection with only the preface").await;
    assert!(took >= ms(250) && took < Duration::from_secs(3), "closed after {took:?}");
    assert!(frame_types(&sent).contains(&GOAWAY), "no GOAWAY: frames {:?}", frame_types(&sent));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_preface_only_is_closed_with_a_goaway() {
    let app = spawn_app(StoreKind::Memory, |c| timeouts(c, ms(300), Duration::from_secs(60))).await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    s.write_all(H2_PREFACE).await.unwrap();
    let (took, sent) = until_closed(&mut s, Duration::from_secs(5), "an h2c connection with only the preface").await;
    assert!(took >= ms(250) && took < Duration::from_secs(3), "closed after {took:?}");
    assert!(frame_types(&sent).contains(&GOAWAY), "no GOAWAY: frames {:?}", frame_types(&sent));
    app.stop().await;
}

/// With header_read_timeout long, the idle timeout closes a keep-alive
/// connection after its response, on the plain port and on HTTPS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_keep_alive_is_closed_after_the_idle_timeout() {
    let f = Files::new();
    let (app, tls_addr) = spawn_tls_with(&f, |c| timeouts(c, Duration::from_secs(10), ms(300))).await;
    let mut plain = TcpStream::connect(app.addr).await.unwrap();
    assert_eq!(get(&mut plain, "/healthz").await.0, 200);
    let (took, _) = until_closed(&mut plain, Duration::from_secs(5), "an idle HTTP/1.1 keep-alive connection").await;
    assert!(took >= ms(250) && took < Duration::from_secs(3), "plain: closed after {took:?}");
    let mut tls = tls_connect(tls_config(&f, &[b"http/1.1"]), tls_addr).await.unwrap();
    assert_eq!(get(&mut tls, "/healthz").await.0, 200);
    let (took, _) = until_closed(&mut tls, Duration::from_secs(5), "an idle HTTPS/1.1 keep-alive connection").await;
    assert!(took >= ms(250) && took < Duration::from_secs(3), "TLS: closed after {took:?}");
    app.stop().await;
}

/// An h2 connection whose streams are all done is closed (GOAWAY, then
/// hyper's client sees the end) after the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_with_no_open_stream_is_closed_after_the_idle_timeout() {
    let f = Files::new();
    let (app, addr) = spawn_tls_with(&f, |c| timeouts(c, Duration::from_secs(10), ms(300))).await;
    let (mut send, ended) = h2_client(&f, addr).await;
    assert_eq!(h2_get(&mut send, "/healthz").await, 200);
    let answered = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(5), ended)
        .await
        .expect("an idle h2 connection was still open after 5 s")
        .unwrap();
    let took = closed.duration_since(answered);
    assert!(took >= ms(250) && took < Duration::from_secs(3), "closed {took:?} after the response");
    app.stop().await;
}

/// A long-poll (plain HTTP/1.1 and h2), and an SSE watch, each open much
/// longer than both timeouts, are answered on their connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_longer_than_the_idle_timeout_are_not_cut() {
    let f = Files::new();
    let (app, tls_addr) = spawn_tls_with(&f, |c| {
        timeouts(c, ms(300), ms(300));
        c.mode = Mode::Production;
    })
    .await;
    assert_eq!(app.patch("lp", serde_json::json!({"desiredCapacity": 2.0})).await.0, 200);
    let poll = "/v1/scalableTargetDimensions/lp?wait=1500ms&after=1";

    // HTTP/1.1: the long-poll answers after its wait, then the idle
    // connection is closed.
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    let started = Instant::now();
    let (status, body) = get(&mut s, poll).await;
    assert_eq!(status, 200, "{body}");
    assert!(started.elapsed() >= ms(1400), "answered after {:?}", started.elapsed());
    until_closed(&mut s, Duration::from_secs(5), "the keep-alive connection after the long-poll").await;

    // h2: the same, and the connection still serves the next request.
    let (mut send, _ended) = h2_client(&f, tls_addr).await;
    let started = Instant::now();
    assert_eq!(h2_get(&mut send, poll).await, 200);
    assert!(started.elapsed() >= ms(1400), "h2: answered after {:?}", started.elapsed());
    assert_eq!(h2_get(&mut send, "/healthz").await, 200);

    // SSE: the stream outlives both timeouts and carries the next change.
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    let (status, _) = get(&mut s, "/v1/scalableTargetDimensions/watch?id=lp").await;
    assert_eq!(status, 200);
    tokio::time::sleep(ms(1500)).await;
    assert_eq!(app.patch("lp", serde_json::json!({"desiredCapacity": 7.0})).await.0, 200);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("event: change") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("the change arrives on the watch stream")
            .unwrap();
        assert!(n > 0, "the watch stream was closed: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    app.stop().await;
}
