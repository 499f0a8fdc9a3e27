//! A client certificate is judged on every request against the trust
//! settings in force, not once per TLS session: a pin removed by a reload,
//! a certificate past its `notAfter` on an open connection, and a TLS
//! session resumed after the certificate expired are all refused.
//! Real sockets, real TLS clients (hyper's HTTP/2 client on one connection,
//! `openssl s_client` for session resumption).

use crate::certs::{Pem, api_gateway_style, valid_for};
use crate::helpers::{StoreKind, spawn_clocked, test_config};
use crate::tls::{Files, spawn_tls};
use axum::body::Body;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const DIM: &str = "/v1/scalableTargetDimensions/t1";

/// One HTTP/2 connection over TLS with a client certificate: every request
/// sent through it travels on the same TCP connection and TLS session.
struct H2 {
    send: hyper::client::conn::http2::SendRequest<Body>,
    port: u16,
}

impl H2 {
    async fn connect(f: &Files, addr: SocketAddr, identity: &Pem) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(f.server_ca.cert_pem.as_bytes()).unwrap()).unwrap();
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(identity.cert.as_bytes()).collect::<Result<_, _>>().unwrap();
        let key = PrivateKeyDer::from_pem_slice(identity.key.as_bytes()).unwrap();
        let mut config =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_client_auth_cert(chain, key)
                .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (send, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tls),
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        Self { send, port: addr.port() }
    }

    /// Sends one request on the connection; the status and the body.
    async fn request(&mut self, method: &str, path: &str, body: Option<Value>) -> (u16, Body) {
        self.send.ready().await.expect("the connection is still open");
        let req = axum::http::Request::builder()
            .method(method)
            .uri(format!("https://localhost:{}{path}", self.port))
            .header("content-type", "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let response = self.send.send_request(req).await.expect("the same connection answers");
        (response.status().as_u16(), Body::new(response.into_body()))
    }

    /// Sends one request on the connection; the status and the JSON body.
    async fn send(&mut self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, body) = self.request(method, path, body).await;
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(format!("{bytes:?}"))))
    }
}

/// The pin of an open HTTP/2 connection is removed from the file and crest
/// reloads on SIGHUP (the real binary): the next PATCH on that same
/// connection is refused with a JSON 403, logged with the reason, and the
/// value stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_pin_is_refused_on_an_open_http2_connection() {
    let f = Files::new();
    let old = api_gateway_style("ApiGateway", valid_for(365));
    let rotated = api_gateway_style("ApiGatewayRotated", valid_for(365));
    let (pin, _) = f.write(&old, "apigw");
    let (cert, key, pin_arg) = (f.cert.display().to_string(), f.key.display().to_string(), pin.display().to_string());
    #[rustfmt::skip]
    let args = [
        "--listen", "127.0.0.1:0", "--store", "memory:", "--log-format", "json",
        "--tls-listen", "127.0.0.1:0", "--tls-cert", &cert, "--tls-key", &key,
        "--client-cert-pin", &pin_arg, "--tls-reload-interval", "1h",
    ];
    let p = crate::process::start(&args, &[]);
    let ready = p.wait_for("crest ready");
    let v: Value = serde_json::from_str(&ready).unwrap();
    let addr: SocketAddr = v["tls_listen"].as_str().unwrap().parse().unwrap();

    let mut h2 = H2::connect(&f, addr, &old).await;
    let (status, body) = h2.send("PATCH", DIM, Some(json!({"desiredCapacity": 2.0}))).await;
    assert_eq!(status, 200, "{body}");

    // Rotate: the pin file now holds another certificate only.
    std::fs::write(&pin, &rotated.cert).unwrap();
    p.signal("-HUP");
    p.wait_for("TLS certificates reloaded");

    let (status, body) = h2.send("PATCH", DIM, Some(json!({"desiredCapacity": 7.0}))).await;
    assert_eq!(status, 403, "the removed pin still worked on the open connection: {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("no longer trusted"), "{body}");
    let line = p.wait_for("request rejected");
    let logged: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(logged["reason"], "certificate_untrusted", "{line}");
    assert_eq!(logged["client_subject"], "CN=ApiGateway, L=Seattle, C=US", "{line}");
    // GET on the same connection: refused too (the request only reaches public paths).
    assert_eq!(h2.send("GET", DIM, None).await.0, 403);
    assert_eq!(h2.send("GET", "/healthz", None).await.0, 200, "the connection itself stays usable");

    // The value did not change; the rotated certificate works.
    let mut fresh = H2::connect(&f, addr, &rotated).await;
    let (status, body) = fresh.send("GET", DIM, None).await;
    assert_eq!((status, body["desiredCapacity"].as_f64()), (200, Some(2.0)), "{body}");
    p.signal("-TERM");
    let (code, err) = p.finish();
    assert_eq!(code, Some(0), "{err}");
}

/// A pinned certificate that expires while its connection is open: the
/// next request on it is refused (the server's clock is moved by hand).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_that_expires_is_refused_on_its_open_connection() {
    let f = Files::new();
    let now = time::OffsetDateTime::now_utc();
    let apigw = api_gateway_style("ApiGateway", (now - time::Duration::days(1), now + time::Duration::days(2)));
    let (pin, _) = f.write(&apigw, "apigw");
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(StoreKind::Memory, dir.path());
    config.tls = Some(f.tls(vec![pin], vec![]));
    let clock = crest::clock::Clock::manual(std::time::SystemTime::now());
    let app = spawn_clocked(config, dir, clock.clone()).await;
    let addr = app.tls_addr.unwrap();

    let mut h2 = H2::connect(&f, addr, &apigw).await;
    assert_eq!(h2.send("PATCH", DIM, Some(json!({"desiredCapacity": 3.0}))).await.0, 200);
    clock.advance(Duration::from_secs(3 * 86_400));
    let (status, body) = h2.send("PATCH", DIM, Some(json!({"desiredCapacity": 8.0}))).await;
    assert_eq!(status, 403, "the expired certificate still worked: {body}");
    assert!(body["message"].as_str().unwrap_or_default().contains("expired"), "{body}");
    app.stop().await;
}

/// A watch stream (SSE) opened with a pinned certificate ends at the first
/// change after that certificate expired, without sending it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_stream_ends_when_its_certificate_expires() {
    use futures_util::StreamExt;
    let f = Files::new();
    let now = time::OffsetDateTime::now_utc();
    let short = api_gateway_style("ApiGatewayShort", (now - time::Duration::days(1), now + time::Duration::days(2)));
    let long = api_gateway_style("ApiGatewayLong", valid_for(365));
    let (short_pin, _) = f.write(&short, "short");
    let (long_pin, _) = f.write(&long, "long");
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(StoreKind::Memory, dir.path());
    config.tls = Some(f.tls(vec![short_pin, long_pin], vec![]));
    let clock = crest::clock::Clock::manual(std::time::SystemTime::now());
    let app = spawn_clocked(config, dir, clock.clone()).await;
    let addr = app.tls_addr.unwrap();

    let mut watcher = H2::connect(&f, addr, &short).await;
    let (status, body) = watcher.request("GET", "/v1/scalableTargetDimensions/watch", None).await;
    assert_eq!(status, 200);
    let mut events = body.into_data_stream();
    let mut writer = H2::connect(&f, addr, &long).await;
    let mut next = async |what: &str| {
        tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .unwrap_or_else(|_| panic!("{what}: nothing within 5 s"))
            .map(|chunk| String::from_utf8_lossy(&chunk.unwrap()).into_owned())
    };
    assert_eq!(writer.send("PATCH", DIM, Some(json!({"desiredCapacity": 2.0}))).await.0, 200);
    let first = next("the first change").await.expect("the stream is open");
    assert!(first.contains("event: change") && first.contains(r#""desiredCapacity":2.0"#), "{first}");

    clock.advance(Duration::from_secs(3 * 86_400));
    assert_eq!(writer.send("PATCH", DIM, Some(json!({"desiredCapacity": 3.0}))).await.0, 200);
    let mut after = String::new();
    while let Some(chunk) = next("the end of the stream after expiry").await {
        after.push_str(&chunk);
    }
    assert!(!after.contains("event: change"), "the change was sent to an expired certificate: {after}");
    app.stop().await;
}

/// Runs `openssl s_client` against crest, sending one HTTP/1.1 GET; returns
/// the HTTP status (0 when there was none) and whether the TLS session was
/// resumed.
async fn s_client(f: &Files, addr: SocketAddr, extra: &[&str]) -> (u16, bool, String) {
    let ca = f.dir.path().join("server-ca.pem");
    std::fs::write(&ca, &f.server_ca.cert_pem).unwrap();
    let mut child = tokio::process::Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string(), "-servername", "localhost", "-ign_eof", "-CAfile"])
        .arg(&ca)
        .args(extra)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("openssl is installed");
    let request = format!("GET {DIM} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let mut stdin = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, request.as_bytes()).await.unwrap();
    let out = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output()).await.unwrap().unwrap();
    drop(stdin);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text
        .lines()
        .find_map(|l| l.strip_prefix("HTTP/1.1 "))
        .and_then(|l| l.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let resumed = text.lines().any(|l| l.starts_with("Reused,"));
    (status, resumed, format!("{text}\n{}", String::from_utf8_lossy(&out.stderr)))
}

/// A pinned certificate valid for a few seconds: a TLS session made with
/// it while valid cannot be resumed, without any certificate, once it has
/// expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_pin_cannot_resume_its_tls_session() {
    let f = Files::new();
    // Long enough for key generation, start-up and one handshake on a busy machine.
    let until = time::OffsetDateTime::now_utc() + time::Duration::seconds(6);
    let short = api_gateway_style("ApiGatewayShort", (valid_for(0).0, until));
    let (pin, key) = f.write(&short, "short");
    let (app, addr) = spawn_tls(f.tls(vec![pin.clone()], vec![]), false).await;
    let session = f.dir.path().join("session.pem");
    let arg = |p: &Path| p.display().to_string();
    let (status, _, out) =
        s_client(&f, addr, &["-cert", &arg(&pin), "-key", &arg(&key), "-sess_out", &arg(&session)]).await;
    assert_eq!(status, 200, "while valid: {out}");

    let left = until - time::OffsetDateTime::now_utc() + time::Duration::milliseconds(1500);
    tokio::time::sleep(left.try_into().unwrap_or_default()).await;
    // crest sends no session ticket (nor a TLS 1.2 session id) when it
    // verifies client certificates, so s_client may have had nothing to
    // save; a session it did save must not pass either.
    let mut extra = vec![];
    let session_arg = arg(&session);
    if session.exists() {
        extra = vec!["-sess_in", session_arg.as_str()];
    }
    let (status, resumed, out) = s_client(&f, addr, &extra).await;
    assert_ne!(status, 200, "an expired certificate's session was resumed (resumed: {resumed}): {out}");
    assert_eq!(status, 403, "{out}");
    assert!(out.contains("client certificate required"), "{out}");
    assert!(!resumed, "crest resumes no session when it verifies client certificates: {out}");
    app.stop().await;
}
