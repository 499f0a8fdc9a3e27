//! The drain, through the real binary: on SIGTERM `/readyz` fails at once
//! while the API and `/livez` go on answering for the shutdown delay; then
//! the listeners close and crest exits 0.

use crate::process::start;
use std::time::{Duration, Instant};

/// The shutdown delay of these tests: long enough to probe within it.
const DELAY: Duration = Duration::from_millis(1500);

#[test]
fn sigterm_fails_readyz_at_once_and_serves_on_for_the_delay() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("crest.db").display());
    let delay = format!("{}ms", DELAY.as_millis());
    let args = ["--listen", "127.0.0.1:0", "--store", &store, "--log-format", "json", "--shutdown-delay", &delay];
    let p = start(&args, &[]);
    let addr = p.ready_addr();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = reqwest::Client::new();
    let get = |path: &str| {
        let (c, url) = (c.clone(), format!("http://{addr}{path}"));
        async move {
            let r = c.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    rt.block_on(async {
        assert_eq!(get("/readyz").await.0, 200);
        let (status, body) = get("/livez").await;
        assert_eq!((status, body), (200, serde_json::json!({"status": "ok"})), "as the README shows");
    });

    let signalled = Instant::now();
    p.signal("-TERM");
    let (ready_failed, body) = rt.block_on(async {
        loop {
            let (status, body) = get("/readyz").await;
            if status == 503 {
                return (signalled.elapsed(), body);
            }
            assert_eq!(status, 200, "{body}");
            assert!(signalled.elapsed() < Duration::from_secs(2), "/readyz still 200 two seconds after SIGTERM");
        }
    });
    assert!(ready_failed < Duration::from_millis(100), "/readyz answered 503 only {ready_failed:?} after SIGTERM");
    assert!(body["message"].as_str().unwrap().starts_with("shutting down (draining)"), "{body}");
    let readme = crate::readme::readme();
    let mut shown = crate::readme::section(&readme, "## Operations").lines().map(str::trim);
    let answered = body.to_string();
    assert!(shown.any(|l| l == answered), "the README's Operations do not show {answered}");
    rt.block_on(async {
        let (status, body) = get("/v1/scalableTargetDimensions/drained").await;
        assert_eq!(
            (status, body["scalableTargetDimensionId"].as_str()),
            (200, Some("drained")),
            "the API still answers: {body}"
        );
        let (status, body) = get("/livez").await;
        assert_eq!((status, body), (200, serde_json::json!({"status": "draining"})), "as the README shows");
    });
    let probed = signalled.elapsed();
    assert!(probed < DELAY, "the probes took {probed:?}, longer than the delay: they proved nothing");

    let (code, log) = p.finish();
    let stopped = signalled.elapsed();
    assert_eq!(code, Some(0), "{log}");
    assert!(stopped >= DELAY, "crest stopped {stopped:?} after SIGTERM, before the {DELAY:?} delay was over");
    assert!(log.contains("closing the listeners") && log.contains("crest stopped"), "{log}");
}

/// Without a delay (the default) SIGTERM closes the listeners at once.
#[test]
fn without_a_delay_sigterm_stops_at_once() {
    let p = start(&["--listen", "127.0.0.1:0", "--store", "memory:", "--log-format", "json"], &[]);
    p.ready_addr();
    let signalled = Instant::now();
    p.signal("-TERM");
    let (code, log) = p.finish();
    assert_eq!(code, Some(0), "{log}");
    assert!(!log.contains("draining"), "{log}");
    assert!(signalled.elapsed() < Duration::from_secs(5), "took {:?}", signalled.elapsed());
}
