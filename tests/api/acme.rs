//! ACME against a real CA (pebble): issuance by HTTP-01 and TLS-ALPN-01,
//! renewal while serving, reuse after a restart, failure with backoff, and
//! two replicas on Postgres that order exactly once.

use crate::helpers::{StoreKind, TestApp, spawn_with, test_config};
use crate::pebble::{Pebble, available, free_port};
use crate::wait::wait_until;
use crest::acme::{AcmeChallenge, AcmeOptions};
use crest::secret::Secret;
use crest::tls::{ClientAuth, TlsOptions};
use std::net::SocketAddr;
use std::time::Duration;

pub(crate) fn acme_config(pebble: &Pebble, challenge: AcmeChallenge) -> AcmeOptions {
    AcmeOptions {
        domains: vec!["localhost".into()],
        email: Some("ops@example.com".into()),
        directory: pebble.directory.clone(),
        ca_root: Some(pebble.ca_root.clone()),
        challenge,
        eab: None,
        retry_min: Duration::from_secs(1),
        poll_interval: Duration::from_secs(1),
    }
}

/// crest on fixed loopback ports with certificates from `pebble`.
async fn start(
    pebble: &Pebble,
    challenge: AcmeChallenge,
    store: &str,
    ports: (u16, u16),
    dir: tempfile::TempDir,
) -> TestApp {
    let mut config = test_config(StoreKind::Memory, dir.path());
    config.store = Secret::new(store);
    config.listen = SocketAddr::from(([127, 0, 0, 1], ports.0));
    config.acme = Some(acme_config(pebble, challenge));
    config.tls = Some(TlsOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], ports.1)),
        cert: None,
        key: None,
        acme_tls_alpn: challenge == AcmeChallenge::TlsAlpn01,
        client_ca: vec![],
        client_cert_pin: vec![],
        client_auth: ClientAuth::Optional,
        handshake_timeout: Duration::from_secs(10),
        reload_interval: Duration::from_secs(3600),
    });
    spawn_with(config, dir).await
}

/// A client that trusts only pebble's issuing root.
fn client(root: &str, tls: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(root.as_bytes()).unwrap())
        .resolve("localhost", tls)
        .tls_info(true)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// GET /healthz over HTTPS; returns the served leaf certificate.
async fn served(c: &reqwest::Client, tls: SocketAddr) -> Result<Vec<u8>, String> {
    let r = c.get(format!("https://localhost:{}/healthz", tls.port())).send().await.map_err(|e| format!("{e:?}"))?;
    if r.status() != 200 {
        return Err(format!("status {}", r.status()));
    }
    let info = r.extensions().get::<reqwest::tls::TlsInfo>().ok_or("no TLS info")?;
    Ok(info.peer_certificate().ok_or("no peer certificate")?.to_vec())
}

/// Polls with a fresh client each time (a resumed TLS session would show
/// the certificate of the first handshake).
pub(crate) async fn wait_for_cert(root: &str, tls: SocketAddr, within: Duration, not: Option<&[u8]>) -> Vec<u8> {
    wait_until(within, "no new certificate in time", async || match served(&client(root, tls), tls).await {
        Ok(der) if Some(der.as_slice()) != not => Ok(der),
        other => Err(format!("{other:?}")),
    })
    .await
}

fn validity(der: &[u8]) -> String {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    format!("{} .. {}", cert.validity().not_before, cert.validity().not_after)
}

fn issuer(der: &[u8]) -> String {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    cert.issuer().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issues_with_http01_and_tls_alpn01() {
    if !available("issues_with_http01_and_tls_alpn01") {
        return;
    }
    for challenge in [AcmeChallenge::Http01, AcmeChallenge::TlsAlpn01] {
        let ports = (free_port(), free_port());
        let pebble = Pebble::start(ports.0, ports.1, None).await;
        let app = start(&pebble, challenge, "memory:", ports, tempfile::tempdir().unwrap()).await;
        let tls = app.tls_addr.unwrap();
        let root = pebble.issuing_root().await;
        let der = wait_for_cert(&root, tls, Duration::from_secs(30), None).await;
        assert!(issuer(&der).contains("Pebble"), "{challenge:?}: issuer {}", issuer(&der));
        // The plain port keeps answering (and redirects).
        assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
        app.stop().await;
    }
}

/// A second start on the same store reuses the stored certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_reuses_the_stored_certificate() {
    if !available("a_restart_reuses_the_stored_certificate") {
        return;
    }
    let ports = (free_port(), free_port());
    let pebble = Pebble::start(ports.0, ports.1, None).await;
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("crest.db").display());
    let app = start(&pebble, AcmeChallenge::Http01, &store, ports, dir).await;
    let tls = app.tls_addr.unwrap();
    let root = pebble.issuing_root().await;
    let first = wait_for_cert(&root, tls, Duration::from_secs(30), None).await;
    let dir = app.stop().await;

    let app = start(&pebble, AcmeChallenge::Http01, &store, ports, dir).await;
    let again = wait_for_cert(&root, tls, Duration::from_secs(10), None).await;
    assert_eq!(again, first, "the stored certificate is served again");
    let acme = app.acme.as_ref().unwrap();
    assert_eq!(acme.status().orders, 0, "no new order after a restart");
    app.stop().await;
}

/// Short-lived certificates are renewed while serving; no request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renews_while_serving_without_a_dropped_request() {
    if !available("renews_while_serving_without_a_dropped_request") {
        return;
    }
    let ports = (free_port(), free_port());
    let pebble = Pebble::start(ports.0, ports.1, Some(Duration::from_secs(12))).await;
    let app = start(&pebble, AcmeChallenge::TlsAlpn01, "memory:", ports, tempfile::tempdir().unwrap()).await;
    let tls = app.tls_addr.unwrap();
    let root = pebble.issuing_root().await;
    let first = wait_for_cert(&root, tls, Duration::from_secs(30), None).await;
    let mut requests = 0;
    let what = format!("not renewed within 30s (first certificate {})", validity(&first));
    wait_until(Duration::from_secs(30), &what, async || {
        let der = served(&client(&root, tls), tls)
            .await
            .unwrap_or_else(|e| panic!("request {requests} failed during renewal: {e}"));
        requests += 1;
        if der != first { Ok(()) } else { Err(format!("{:?}", app.acme.as_ref().unwrap().status())) }
    })
    .await;
    assert!(requests > 5, "requests were served across the renewal ({requests})");
    assert!(app.acme.as_ref().unwrap().status().orders >= 2);
    app.stop().await;
}

/// With the CA gone, crest keeps its certificate, records the error and
/// backs off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_outage_keeps_the_current_certificate_and_backs_off() {
    if !available("a_ca_outage_keeps_the_current_certificate_and_backs_off") {
        return;
    }
    let ports = (free_port(), free_port());
    let mut pebble = Pebble::start(ports.0, ports.1, Some(Duration::from_secs(45))).await;
    let app = start(&pebble, AcmeChallenge::Http01, "memory:", ports, tempfile::tempdir().unwrap()).await;
    let tls = app.tls_addr.unwrap();
    let root = pebble.issuing_root().await;
    let first = wait_for_cert(&root, tls, Duration::from_secs(30), None).await;
    pebble.stop();
    let acme = app.acme.clone().unwrap();
    // Renewal is due after 30 s (two thirds of 45 s), retries follow after
    // 1 s and 2 s; the deadline stays inside the certificate's 45 s.
    wait_until(Duration::from_secs(40), "no failed renewal recorded", async || {
        let status = acme.status();
        if status.failures >= 2 {
            return Ok(());
        }
        assert_eq!(served(&client(&root, tls), tls).await.unwrap(), first, "the current certificate keeps serving");
        Err(format!("{status:?}"))
    })
    .await;
    let status = acme.status();
    assert!(status.last_error.is_some(), "{status:?}");
    assert_eq!(served(&client(&root, tls), tls).await.unwrap(), first);
    // The metrics an alert needs: failures in a row and the expiry.
    let url = format!("https://localhost:{}/metrics", tls.port());
    let text = client(&root, tls).get(url).send().await.unwrap().text().await.unwrap();
    let value = |name: &str| -> f64 {
        let line =
            text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}: {text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(value("crest_acme_renewal_failures") >= 2.0, "{text}");
    let not_after = value("crest_acme_certificate_not_after_timestamp_seconds");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!((now - 5.0..now + 60.0).contains(&not_after), "a 45 s certificate: {not_after} vs now {now}");
    app.stop().await;
}

/// Two replicas on one Postgres behind a round-robin balancer: one order,
/// one certificate, served by both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgres_order_once() {
    if !available("two_replicas_on_postgres_order_once")
        || !crate::pg::available("two_replicas_on_postgres_order_once").await
    {
        return;
    }
    let db = crate::pg::TestDb::create().await;
    order_once(&db.url).await;
    drop(db);
}

/// The same with both replicas behind a transaction pooler: the order lock
/// must not be a session lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgres_order_once_through_pgbouncer() {
    let test = "two_replicas_on_postgres_order_once_through_pgbouncer";
    if !available(test) || !crate::pg::available(test).await || !crate::pgbouncer::available(test) {
        return;
    }
    let db = crate::pg::TestDb::create().await;
    order_once(&crate::pgbouncer::shared().await.via(&db.url)).await;
    drop(db);
}

async fn order_once(store: &str) {
    let (a_ports, b_ports) = ((free_port(), free_port()), (free_port(), free_port()));
    let balancer = round_robin(vec![a_ports.0, b_ports.0]).await;
    let pebble = Pebble::start(balancer, free_port(), None).await;
    let (a, b) = tokio::join!(
        start(&pebble, AcmeChallenge::Http01, store, a_ports, tempfile::tempdir().unwrap()),
        start(&pebble, AcmeChallenge::Http01, store, b_ports, tempfile::tempdir().unwrap()),
    );
    let root = pebble.issuing_root().await;
    let (ta, tb) = (a.tls_addr.unwrap(), b.tls_addr.unwrap());
    let on_a = wait_for_cert(&root, ta, Duration::from_secs(30), None).await;
    let on_b = wait_for_cert(&root, tb, Duration::from_secs(30), None).await;
    assert_eq!(on_a, on_b, "both replicas serve the same certificate");
    let orders = a.acme.as_ref().unwrap().status().orders + b.acme.as_ref().unwrap().status().orders;
    assert_eq!(orders, 1, "exactly one order for the domain");
    a.stop().await;
    b.stop().await;
}

/// A TCP balancer on a free port that sends connections to `ports` in turn.
async fn round_robin(ports: Vec<u16>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut next = 0;
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = ports[next % ports.len()];
            next += 1;
            tokio::spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    port
}
