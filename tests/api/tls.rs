//! HTTPS with client certificates, end to end with real TLS clients
//! (reqwest + rustls, and the curl binary): pins shaped like API Gateway's
//! certificates, CA bundles, per-route enforcement and path tricks, reload,
//! the plain port's redirect, and stalled handshakes.

use crate::certs::{Ca, Pem, api_gateway_style, valid_for};
use crate::helpers::{StoreKind, TestApp, spawn_app};
use crate::wait::wait_until;
use crest::tls::{ClientAuth, TlsOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Server certificate files signed by a test CA, in a temp directory.
pub struct Files {
    pub dir: TempDir,
    pub server_ca: Ca,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Files {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server_ca = Ca::new("crest test server CA");
        let (cert, key) = server_ca.server("server-a", valid_for(90)).write(dir.path(), "server");
        Self { dir, server_ca, cert, key }
    }

    pub fn write(&self, pem: &Pem, name: &str) -> (PathBuf, PathBuf) {
        pem.write(self.dir.path(), name)
    }

    pub fn tls(&self, pins: Vec<PathBuf>, cas: Vec<PathBuf>) -> TlsOptions {
        TlsOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            cert: Some(self.cert.clone()),
            key: Some(self.key.clone()),
            acme_tls_alpn: false,
            client_ca: cas,
            client_cert_pin: pins,
            client_auth: ClientAuth::Optional,
            handshake_timeout: Duration::from_secs(10),
            reload_interval: Duration::from_millis(100),
        }
    }

    /// A reqwest client trusting the server CA, optionally with a client certificate.
    pub fn client(&self, addr: SocketAddr, identity: Option<&Pem>) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.server_ca.cert_pem.as_bytes()).unwrap();
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(ca)
            .resolve("localhost", addr)
            .tls_info(true)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(id) = identity {
            b = b.identity(id.identity());
        }
        b.build().unwrap()
    }

    /// Runs curl against https://localhost:PORT{path} (path sent as is);
    /// returns the HTTP status (0 when the connection failed) and the body.
    pub async fn curl(&self, addr: SocketAddr, path: &str, extra: &[&str]) -> (u16, String) {
        let ca = self.dir.path().join("server-ca.pem");
        std::fs::write(&ca, &self.server_ca.cert_pem).unwrap();
        let port = addr.port();
        let out = tokio::process::Command::new("curl")
            .args(["-sS", "--path-as-is", "--max-time", "10", "-w", "\n%{http_code}", "--cacert"])
            .arg(&ca)
            .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
            .args(extra)
            .arg(format!("https://localhost:{port}{path}"))
            .output()
            .await
            .expect("curl is installed");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        let code = code.trim().parse().unwrap_or(0);
        if code == 0 {
            // The connection failed: show curl's reason instead of a body.
            return (0, String::from_utf8_lossy(&out.stderr).into_owned());
        }
        (code, body.to_owned())
    }
}

const DIM: &str = "/v1/scalableTargetDimensions/1-23456789";

pub async fn spawn_tls(tls: TlsOptions, http_api: bool) -> (TestApp, SocketAddr) {
    let app = spawn_app(StoreKind::Memory, |c| {
        c.tls = Some(tls);
        c.http_api = http_api;
    })
    .await;
    let addr = app.tls_addr.unwrap();
    (app, addr)
}

/// The DER of the first certificate the server presented on this response's connection.
fn peer_cert(r: &reqwest::Response) -> Vec<u8> {
    r.extensions().get::<reqwest::tls::TlsInfo>().and_then(|t| t.peer_certificate()).unwrap().to_vec()
}

fn der_of(pem: &str) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap().to_vec()
}

fn curl_identity(dir: &Path, name: &str) -> [String; 4] {
    let p = |ext: &str| dir.join(format!("{name}.{ext}")).display().to_string();
    ["--cert".into(), p("pem"), "--key".into(), p("key")]
}

fn strs(a: &[String]) -> Vec<&str> {
    a.iter().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_api_gateway_certificate() {
    let f = Files::new();
    let apigw = api_gateway_style("ApiGateway", valid_for(365));
    let expired = api_gateway_style("ApiGatewayExpired", (valid_for(0).0 - time::Duration::days(400), valid_for(0).0));
    let stranger = api_gateway_style("Stranger", valid_for(365));
    let (apigw_pin, _) = f.write(&apigw, "apigw");
    let (expired_pin, _) = f.write(&expired, "expired");
    f.write(&stranger, "stranger");
    let (app, addr) = spawn_tls(f.tls(vec![apigw_pin, expired_pin], vec![]), false).await;
    let url = |p: &str| format!("https://localhost:{}{p}", addr.port());

    // reqwest + rustls: the pinned certificate gets through, on h2.
    let c = f.client(addr, Some(&apigw));
    let r = c.patch(url(DIM)).json(&serde_json::json!({"desiredCapacity": 2.0})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_2, "ALPN picks h2");
    let r = c.get(url(DIM)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(b["scalingStatus"], "InProgress");

    // No certificate: 403 JSON on the API, health checks answered.
    let anon = f.client(addr, None);
    let r = anon.get(url(DIM)).header("x-request-id", "no-cert-1").send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["x-request-id"], "no-cert-1", "the refusal carries the request id too");
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(b["message"], "client certificate required");
    for p in ["/healthz", "/readyz"] {
        assert_eq!(anon.get(url(p)).send().await.unwrap().status(), 200, "{p}");
    }

    // A different self-signed certificate, and an expired pinned one: refused.
    for pem in [&stranger, &expired] {
        let r = f.client(addr, Some(pem)).get(url(DIM)).send().await;
        assert!(r.is_err(), "must be refused at the handshake: {r:?}");
    }

    // The same with curl.
    let dir = f.dir.path();
    assert_eq!(f.curl(addr, DIM, &strs(&curl_identity(dir, "apigw"))).await.0, 200);
    let (status, body) = f.curl(addr, DIM, &[]).await;
    assert_eq!((status, body.as_str()), (403, r#"{"message":"client certificate required"}"#));
    assert_eq!(f.curl(addr, "/healthz", &[]).await.0, 200);
    assert_eq!(f.curl(addr, DIM, &strs(&curl_identity(dir, "stranger"))).await.0, 0);
    assert_eq!(f.curl(addr, DIM, &strs(&curl_identity(dir, "expired"))).await.0, 0);
    assert_eq!(
        f.curl(
            addr,
            DIM,
            &[
                "--http1.1",
                "--cert",
                &dir.join("apigw.pem").display().to_string(),
                "--key",
                &dir.join("apigw.key").display().to_string()
            ]
        )
        .await
        .0,
        200
    );

    // Metrics: /metrics needs the certificate too; rejections, failed
    // handshakes and days left are counted.
    assert_eq!(anon.get(url("/metrics")).send().await.unwrap().status(), 403);
    let text = c.get(url("/metrics")).send().await.unwrap().text().await.unwrap();
    let values = |prefix: &str| -> Vec<f64> {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .collect()
    };
    assert_eq!(values("crest_tls_client_rejections_total{reason=\"no_certificate\"}"), [3.0], "{text}");
    let failed: f64 = values("crest_tls_handshake_failures_total{").iter().sum();
    assert!(failed >= 4.0, "stranger and expired, by reqwest and curl: {text}");
    let server = values("crest_tls_server_certificate_days_left ");
    assert!(server.len() == 1 && (0.0..400.0).contains(&server[0]), "{text}");
    let pin = format!(
        "crest_tls_client_certificate_days_left{{kind=\"pin\",sha256=\"{}\"}}",
        crest::fingerprint::Fingerprint::of(&der_of(&apigw.cert))
    );
    let days = values(&pin);
    assert!(days.len() == 1 && (364.0..366.0).contains(&days[0]), "{pin}: {text}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_mode_accepts_leaves_of_the_ca_only() {
    let f = Files::new();
    let client_ca = Ca::new("client CA");
    let other_ca = Ca::new("other CA");
    let ca_file = f.dir.path().join("client-ca.pem");
    std::fs::write(&ca_file, &client_ca.cert_pem).unwrap();
    let good = client_ca.client("scaler");
    let bad = other_ca.client("intruder");
    let apigw = api_gateway_style("ApiGateway", valid_for(365));
    f.write(&good, "good");
    f.write(&bad, "bad");
    let (app, addr) = spawn_tls(f.tls(vec![], vec![ca_file]), false).await;
    let url = format!("https://localhost:{}{DIM}", addr.port());
    assert_eq!(f.client(addr, Some(&good)).get(&url).send().await.unwrap().status(), 200);
    assert!(f.client(addr, Some(&bad)).get(&url).send().await.is_err());
    assert!(f.client(addr, Some(&apigw)).get(&url).send().await.is_err(), "an unpinned self-signed cert is refused");
    assert_eq!(f.client(addr, None).get(&url).send().await.unwrap().status(), 403);
    let dir = f.dir.path();
    assert_eq!(f.curl(addr, DIM, &strs(&curl_identity(dir, "good"))).await.0, 200);
    assert_eq!(f.curl(addr, DIM, &strs(&curl_identity(dir, "bad"))).await.0, 0);
    app.stop().await;
}

/// No spelling of a path reaches the API without a certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_tricks_get_403_without_a_certificate() {
    let f = Files::new();
    let apigw = api_gateway_style("ApiGateway", valid_for(365));
    let (pin, _) = f.write(&apigw, "apigw");
    let (app, addr) = spawn_tls(f.tls(vec![pin], vec![]), false).await;
    for path in [
        "/v1/scalableTargetDimensions/x",
        "//v1/scalableTargetDimensions/x",
        "/v1//scalableTargetDimensions/x",
        "/v1/./scalableTargetDimensions/x",
        "/./v1/scalableTargetDimensions/x",
        "/V1/scalableTargetDimensions/x",
        "/v1/SCALABLETARGETDIMENSIONS/x",
        "/%76%31/scalableTargetDimensions/x",
        "/v1%2FscalableTargetDimensions%2Fx",
        "/v1/scalableTargetDimensions/x.",
        "/v1/scalableTargetDimensions/x/.",
        "/v1/scalableTargetDimensions./x",
        "/v1./scalableTargetDimensions/x",
        "/healthz/../v1/scalableTargetDimensions/x",
        "/healthz/%2e%2e/v1/scalableTargetDimensions/x",
        "/.well-known/acme-challenge/../../v1/scalableTargetDimensions/x",
        "/v1/scalableTargetDimensions/x?/healthz",
        "/v1/scalableTargetDimensions/x#/healthz",
    ] {
        let (status, body) = f.curl(addr, path, &[]).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert_eq!(body, r#"{"message":"client certificate required"}"#, "{path}");
        let (status, body) = f.curl(addr, path, &["-X", "PATCH", "-d", r#"{"desiredCapacity":9}"#]).await;
        assert_eq!(status, 403, "PATCH {path}: {body}");
    }
    // Nothing was created or changed by any of them.
    let c = f.client(addr, Some(&apigw));
    let b: serde_json::Value = c
        .get(format!("https://localhost:{}/v1/scalableTargetDimensions/x", addr.port()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(b["desiredCapacity"], 1.0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_auth_required_rejects_at_the_handshake() {
    let f = Files::new();
    let apigw = api_gateway_style("ApiGateway", valid_for(365));
    let (pin, _) = f.write(&apigw, "apigw");
    let mut tls = f.tls(vec![pin], vec![]);
    tls.client_auth = ClientAuth::Required;
    let (app, addr) = spawn_tls(tls, false).await;
    let url = |p: &str| format!("https://localhost:{}{p}", addr.port());
    assert!(f.client(addr, None).get(url("/healthz")).send().await.is_err());
    assert_eq!(f.curl(addr, "/healthz", &[]).await.0, 0);
    assert_eq!(f.client(addr, Some(&apigw)).get(url(DIM)).send().await.unwrap().status(), 200);
    app.stop().await;
}

/// New files are picked up by the watcher; open connections keep working;
/// a corrupt file is refused and the last good certificate keeps serving.
/// The real binary, whose log says when a reload was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_reload_without_dropping_connections() {
    let f = Files::new();
    let first = der_of(&std::fs::read_to_string(&f.cert).unwrap());
    let (cert, key) = (f.cert.display().to_string(), f.key.display().to_string());
    #[rustfmt::skip]
    let args = [
            "--listen", "127.0.0.1:0", "--store", "memory:", "--log-format", "json",
            "--tls-listen", "127.0.0.1:0", "--tls-cert", &cert, "--tls-key", &key,
            "--tls-reload-interval", "100ms",
        ];
    let p = crate::process::start(&args, &[]);
    let ready = p.wait_for("crest ready");
    let v: serde_json::Value = serde_json::from_str(&ready).unwrap();
    let addr: SocketAddr = v["tls_listen"].as_str().unwrap().parse().unwrap();
    let url = format!("https://localhost:{}/healthz", addr.port());
    let kept = f.client(addr, None);
    let r = kept.get(&url).send().await.unwrap();
    assert_eq!(peer_cert(&r), first);

    let next = f.server_ca.server("server-b", valid_for(90));
    let tmp = f.dir.path().join("next");
    std::fs::create_dir(&tmp).unwrap();
    let (c, k) = next.write(&tmp, "server");
    std::fs::rename(&c, &f.cert).unwrap();
    std::fs::rename(&k, &f.key).unwrap();
    let second = der_of(&next.cert);
    wait_until(Duration::from_secs(5), "the new certificate was not picked up", async || {
        let r = f.client(addr, None).get(&url).send().await.unwrap();
        if peer_cert(&r) == second { Ok(()) } else { Err("still the first certificate") }
    })
    .await;
    // Past the reload that took the new pair (a poll between the two renames
    // may have refused a certificate without its key, before it).
    p.wait_for("TLS certificates reloaded");
    let r = kept.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(peer_cert(&r), first, "the open connection kept its session");

    std::fs::write(&f.cert, "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n").unwrap();
    let refused = p.wait_for("TLS reload refused; the previous certificates keep serving");
    assert!(refused.contains(r#""trigger":"file change""#) && refused.contains("ERROR"), "{refused}");
    let r = f.client(addr, None).get(&url).send().await.unwrap();
    assert_eq!(peer_cert(&r), second, "a corrupt replacement is refused");
    drop(kept);
    p.signal("-TERM");
    let (code, err) = p.finish();
    assert_eq!(code, Some(0), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_port_redirects_except_health_and_acme() {
    let f = Files::new();
    let (app, tls_addr) = spawn_tls(f.tls(vec![], vec![]), false).await;
    let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = c
        .get(app.url("/v1/scalableTargetDimensions/x?a=1&b=2"))
        .header("host", "api.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    let want = format!("https://api.example.com:{}/v1/scalableTargetDimensions/x?a=1&b=2", tls_addr.port());
    assert_eq!(r.headers()["location"], want.as_str());
    let r = c.patch(app.url("/v1/scalableTargetDimensions/x")).header("host", "evil.com/x").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(c.get(app.url("/healthz")).send().await.unwrap().status(), 200);
    let r = c.get(app.url("/.well-known/acme-challenge/tok_en-1")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let b: serde_json::Value = r.json().await.unwrap();
    assert!(b["message"].as_str().unwrap().contains("ACME"), "{b}");
    app.stop().await;

    // --http-api keeps the API on the plain port.
    let (app, _) = spawn_tls(f.tls(vec![], vec![]), true).await;
    assert_eq!(app.get("x").await.0, 200);
    app.stop().await;
}

/// A client that opens TCP and never sends a ClientHello does not delay
/// anyone else, and is dropped after the handshake timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_handshake_blocks_nobody() {
    use tokio::io::AsyncReadExt;
    let f = Files::new();
    let mut tls = f.tls(vec![], vec![]);
    tls.handshake_timeout = Duration::from_secs(3);
    let (app, addr) = spawn_tls(tls, false).await;
    let mut stalled = Vec::new();
    for _ in 0..8 {
        stalled.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    let started = Instant::now();
    for _ in 0..5 {
        let r = f.client(addr, None).get(format!("https://localhost:{}/healthz", addr.port())).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "handshakes waited behind stalled clients: {:?}",
        started.elapsed()
    );
    // After the handshake timeout the stalled connections are closed.
    let mut buf = [0u8; 1];
    let n =
        tokio::time::timeout(Duration::from_secs(6), stalled[0].read(&mut buf)).await.expect("closed by the server");
    assert_eq!(n.unwrap_or(0), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_bad_certificate_file_stops_start_up_with_its_name() {
    let f = Files::new();
    std::fs::write(&f.key, "not a key").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::helpers::test_config(StoreKind::Memory, dir.path());
    config.tls = Some(f.tls(vec![], vec![]));
    let err = crest::app::App::build(config).await.err().expect("must fail").to_string();
    assert!(err.contains("tls_key") && err.contains("server.key"), "{err}");
}

/// The real binary: SIGHUP reloads (with polling effectively off), the
/// change log names the client certificate, and expiry is warned about.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_reloads_on_sighup_logs_the_client_and_warns_of_expiry() {
    let f = Files::new();
    // A server certificate with 2 days left, and a pin with less than one.
    let short = f.server_ca.server("server-short", (valid_for(0).0, valid_for(2).1));
    f.write(&short, "server");
    let apigw =
        api_gateway_style("ApiGateway", (valid_for(0).0, time::OffsetDateTime::now_utc() + time::Duration::hours(12)));
    let (pin, _) = f.write(&apigw, "apigw");
    let (cert, key, pin) = (f.cert.display().to_string(), f.key.display().to_string(), pin.display().to_string());
    #[rustfmt::skip]
    let args = [
            "--listen", "127.0.0.1:0", "--store", "memory:", "--log-format", "json",
            "--tls-listen", "127.0.0.1:0", "--tls-cert", &cert, "--tls-key", &key,
            "--client-cert-pin", &pin, "--tls-reload-interval", "1h",
        ];
    let p = crate::process::start(&args, &[]);
    let ready = p.wait_for("crest ready");
    let v: serde_json::Value = serde_json::from_str(&ready).unwrap();
    let addr: SocketAddr = v["tls_listen"].as_str().unwrap().parse().unwrap();
    let warn3 = p.wait_for("expires in less than 3 day(s)");
    assert!(warn3.contains("server certificate") && warn3.contains("WARN"), "{warn3}");
    let warn1 = p.wait_for("expires in less than 1 day(s)");
    assert!(warn1.contains("pinned client certificate"), "{warn1}");

    // The change log carries the client's identity.
    let c = f.client(addr, Some(&apigw));
    let url = format!("https://localhost:{}{DIM}", addr.port());
    let r = c.patch(&url).json(&serde_json::json!({"desiredCapacity": 4.0})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let line = p.wait_for("dimension changed");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        v["client_sha256"].as_str(),
        Some(crest::fingerprint::Fingerprint::of(&der_of(&apigw.cert)).to_string().as_str()),
        "{line}"
    );
    assert!(v["client_subject"].as_str().unwrap().contains("CN=ApiGateway"), "{line}");
    assert!(v["changes"].as_str().unwrap().contains("desiredCapacity: 1.0 -> 4.0"), "{line}");

    // Replace the files: nothing changes until SIGHUP. The first reload
    // after the change is SIGHUP's: the (1h) polling reloaded nothing.
    let next = f.server_ca.server("server-next", valid_for(90));
    f.write(&next, "server");
    let r = f.client(addr, Some(&apigw)).get(&url).send().await.unwrap();
    assert_eq!(peer_cert(&r), der_of(&short.cert));
    p.signal("-HUP");
    let reloaded = p.wait_for("TLS certificates reloaded");
    assert!(reloaded.contains(r#""trigger":"SIGHUP""#), "{reloaded}");
    let r = f.client(addr, Some(&apigw)).get(&url).send().await.unwrap();
    assert_eq!(peer_cert(&r), der_of(&next.cert));
    p.signal("-TERM");
    let (code, _) = p.finish();
    assert_eq!(code, Some(0));
}
