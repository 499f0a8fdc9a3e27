//! A slow log sink never slows a request: crest's stderr is a pipe this
//! test reads slowly (4 KiB every 100 ms) while it sends GETs with every
//! one logged (a budget of a million lines a second, through the
//! environment). Requests stay fast, the lines that do not fit are dropped
//! and counted, and once the reader catches up the log says how many.

use crate::log_flood::crest;
use crate::wait::wait_until;
use std::io::Read;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CHUNK: usize = 4096;
const PAUSE: Duration = Duration::from_millis(100);
/// More lines than the queue (8,192) and the pipe hold.
const REQUESTS: usize = 20_000;
const CLIENTS: usize = 4;
/// The load stops after this even if not all requests were sent.
const LOAD_LIMIT: Duration = Duration::from_secs(40);
const P99_LIMIT: Duration = Duration::from_millis(50);

/// What the reader has read, and whether it reads slowly.
#[derive(Default)]
struct Sink {
    text: Mutex<Vec<u8>>,
    fast: AtomicBool,
}

impl Sink {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.text.lock().unwrap()).into_owned()
    }
}

#[test]
fn a_slow_log_sink_does_not_slow_requests_and_drops_are_counted() {
    let budget = [("CREST_LOG_ACCESS_BUDGET", "1000000")];
    let mut crest = crest(Stdio::piped(), &[], &budget);
    let mut stderr = crest.0.stderr.take().unwrap();
    let sink = Arc::new(Sink { fast: AtomicBool::new(true), ..Sink::default() });
    std::thread::spawn({
        let sink = sink.clone();
        move || {
            let mut buf = vec![0; CHUNK];
            loop {
                match stderr.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => sink.text.lock().unwrap().extend_from_slice(&buf[..n]),
                }
                if !sink.fast.load(Ordering::Relaxed) {
                    std::thread::sleep(PAUSE);
                }
            }
        }
    });
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let addr = rt.block_on(wait_until(Duration::from_secs(20), "crest ready", async || {
        let text = sink.text();
        let ready = text.lines().find(|l| l.contains("crest ready")).ok_or("not yet")?;
        Ok::<_, &str>(ready.split("listen=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned())
    }));
    sink.fast.store(false, Ordering::Relaxed);
    let url = format!("http://{addr}/v1/scalableTargetDimensions/slow");
    let mut latencies = rt.block_on(async {
        let end = Instant::now() + LOAD_LIMIT;
        let mut tasks = Vec::new();
        for _ in 0..CLIENTS {
            let (c, url) = (reqwest::Client::new(), url.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                while latencies.len() < REQUESTS / CLIENTS && Instant::now() < end {
                    let started = Instant::now();
                    let r = c.get(&url).send().await.unwrap();
                    assert_eq!(r.status(), 200);
                    r.bytes().await.unwrap();
                    latencies.push(started.elapsed());
                }
                latencies
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    let max = latencies.last().copied().unwrap_or_default();
    println!("{} GETs, p99 {p99:?}, max {max:?}", latencies.len());
    assert_eq!(latencies.len(), REQUESTS, "not all GETs within {LOAD_LIMIT:?}; p99 {p99:?}, max {max:?}");
    assert!(p99 < P99_LIMIT, "p99 {p99:?} over {P99_LIMIT:?} (max {max:?}) with a slow log sink");
    let dropped = rt.block_on(async {
        let text = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
        let series = r#"crest_log_lines_dropped_total{reason="queue_full"}"#;
        crate::helpers::metric(&text, series).unwrap_or_else(|| panic!("no queue_full series in /metrics:\n{text}"))
    });
    assert!(dropped > 0.0, "no line dropped: the queue never filled");
    sink.fast.store(true, Ordering::Relaxed);
    let line = rt.block_on(wait_until(Duration::from_secs(30), "the log says lines were dropped", async || {
        let text = sink.text();
        text.lines().find(|l| l.contains(" log lines dropped")).map(str::to_owned).ok_or("not yet")
    }));
    println!("{dropped} lines dropped; {line}");
    assert!(line.contains(" WARN "), "{line}");
    drop(crest);
}
