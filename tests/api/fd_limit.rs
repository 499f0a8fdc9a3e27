//! The real binary under `ulimit -n 120`: several hundred silent
//! connections of every kind (TLS after the handshake, TLS and h2c with only
//! the HTTP/2 preface, plain TCP) do not starve the listeners. The longest
//! idle connections are shed, so the pinned API Gateway client and
//! `/healthz` still answer within a second, and crest keeps accepting.

use crate::certs::{api_gateway_style, valid_for};
use crate::idle::{H2_PREFACE, tls_config, tls_connect};
use crate::process::start_with_nofile;
use crate::tls::Files;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DIM: &str = "/v1/scalableTargetDimensions/x";
const SECOND: Duration = Duration::from_secs(1);

fn addr(ready: &serde_json::Value, key: &str) -> SocketAddr {
    ready[key].as_str().unwrap_or_else(|| panic!("{key} in {ready}")).parse().unwrap()
}

/// One GET /healthz on a fresh plain connection.
async fn healthz(addr: SocketAddr) -> Result<String, String> {
    let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.map_err(|e| e.to_string())?;
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_cannot_exhaust_the_file_descriptors() {
    let f = Files::new();
    let apigw = api_gateway_style("ApiGateway", valid_for(365));
    let (pin, _) = f.write(&apigw, "apigw");
    let (cert, key, pin) = (f.cert.display().to_string(), f.key.display().to_string(), pin.display().to_string());
    // Timeouts far longer than the test: only the connection limit helps.
    #[rustfmt::skip]
    let args = [
        "--listen", "127.0.0.1:0", "--store", "memory:", "--log-format", "json",
        "--tls-listen", "127.0.0.1:0", "--tls-cert", &cert, "--tls-key", &key, "--client-cert-pin", &pin,
        "--metrics-listen", "127.0.0.1:0", "--header-read-timeout", "60s",
    ];
    let p = start_with_nofile(120, &args, &[]);
    let ready: serde_json::Value = serde_json::from_str(&p.wait_for("crest ready")).unwrap();
    let (plain, https, metrics) = (addr(&ready, "listen"), addr(&ready, "tls_listen"), addr(&ready, "metrics_listen"));

    // 600 silent connections, held open by the test until the end: plain
    // ones first (a burst crest accepts from its queue), then, once crest
    // has taken in the burst, TLS ones (one handshake after the other).
    let (mut tcp, mut tls, mut stalled) = (Vec::new(), Vec::new(), 0);
    for n in 0..300 {
        let r = tokio::time::timeout(SECOND, TcpStream::connect(plain)).await;
        let Ok(Ok(mut s)) = r else {
            stalled += 1;
            break;
        };
        if n % 2 == 1 {
            s.write_all(H2_PREFACE).await.unwrap();
        }
        tcp.push(s);
    }
    // Crest accepts from its queue in order: once the last one (h2c) has
    // its SETTINGS, the burst is in. Before that, accepting the rest of it
    // would shed the TLS connections below in their handshakes (the
    // longest-idle then), as it should.
    if let Some(last) = tcp.last_mut().filter(|_| stalled == 0) {
        let mut head = [0u8; 9];
        tokio::time::timeout(Duration::from_secs(10), last.read_exact(&mut head))
            .await
            .expect("crest accepted the burst of plain connections within 10 s")
            .unwrap();
        assert_eq!(head[3], 4, "a SETTINGS frame first: {head:?}");
    }
    for (alpn, preface) in [(&b"http/1.1"[..], false), (&b"h2"[..], true)] {
        let config = tls_config(&f, &[alpn]);
        for _ in 0..150 {
            match tokio::time::timeout(SECOND, tls_connect(config.clone(), https)).await {
                Ok(Ok(mut s)) => {
                    if preface {
                        s.write_all(H2_PREFACE).await.unwrap();
                    }
                    tls.push(s);
                }
                _ => {
                    stalled += 1;
                    break;
                }
            }
        }
    }
    let held = format!(
        "{} TLS and {} TCP connections held, {stalled} connects or TLS handshakes stalled",
        tls.len(),
        tcp.len()
    );

    // The pinned client (h2) and /healthz on both ports answer within 1 s.
    let client = f.client(https, Some(&apigw));
    let started = Instant::now();
    let r = tokio::time::timeout(SECOND, client.get(format!("https://localhost:{}{DIM}", https.port())).send())
        .await
        .unwrap_or_else(|_| panic!("the pinned client had no answer within 1 s ({held})"))
        .unwrap();
    assert_eq!(r.status(), 200, "{held}");
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    let anon = f.client(https, None);
    let r = tokio::time::timeout(SECOND, anon.get(format!("https://localhost:{}/healthz", https.port())).send())
        .await
        .unwrap_or_else(|_| panic!("HTTPS /healthz had no answer within 1 s ({held})"))
        .unwrap();
    assert_eq!(r.status(), 200);
    let out = tokio::time::timeout(SECOND, healthz(plain))
        .await
        .unwrap_or_else(|_| panic!("plain /healthz had no answer within 1 s ({held})"))
        .unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());

    // And crest keeps accepting: fresh connections, one after the other.
    assert_eq!((tls.len(), tcp.len()), (300, 300), "crest stopped accepting: {held}");
    for n in 0..20 {
        let out = tokio::time::timeout(SECOND, healthz(plain)).await.unwrap_or_else(|_| panic!("healthz {n}")).unwrap();
        assert!(out.starts_with("HTTP/1.1 200"), "{n}: {out}");
    }

    // The effective limit, from the fd limit, is logged and exported; the
    // idle connections were shed, never the listener.
    assert_eq!(ready["nofile"], 120, "{ready}");
    let limit = ready["max_connections"].as_u64().unwrap();
    assert!((16..120).contains(&limit), "{ready}");
    let text = tokio::time::timeout(SECOND, reqwest::get(format!("http://{metrics}/metrics")))
        .await
        .expect("/metrics answers")
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |prefix: &str| -> f64 {
        let line = text.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix}: {text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(value("crest_connections_shed_total{reason=\"idle\"}") >= 500.0, "{held}: {text}");
    assert!(value("crest_connections_open ") <= limit as f64, "{text}");
    assert_eq!(value("crest_connections_limit "), limit as f64, "{text}");
    // Descriptors never ran out: accept did not fail (and if it had, the
    // log would hold one line per listener per 10 s, not 20 a second).
    assert_eq!(value("crest_accept_errors_total "), 0.0, "{text}");
    let accept_failed = p.lines_so_far().iter().filter(|l| l.contains("accept failed")).count();
    assert_eq!(accept_failed, 0, "accept failures logged");
    drop((tcp, tls));
    p.signal("-TERM");
    let (code, err) = p.finish();
    assert_eq!(code, Some(0), "{err}");
}
