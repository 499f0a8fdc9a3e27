//! A flood of GETs cannot fill the disk: 20 s of GETs as fast as this
//! machine sends them, against crest with the default logging (text, INFO,
//! access log on), stderr into a file. The log stays under [`BOUND`], and
//! every change made during the flood is in it.

use crate::wait::wait_until;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The most log a 20 s flood may write: the budget (200 lines a second of
/// about 230 bytes) is about 1 MB in 20 s, plus the summaries and changes.
const BOUND: u64 = 2_000_000;
const FLOOD: Duration = Duration::from_secs(20);
const CLIENTS: usize = 8;
const PATCHES: u32 = 5;

/// A crest child process, killed if the test ends early.
pub struct Crest(pub Child);

impl Drop for Crest {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `crest serve` with the default logging, stderr to `log`, plus `extra`.
pub fn crest(stderr: Stdio, extra: &[&str], env: &[(&str, &str)]) -> Crest {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crest"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--store", "memory:", "--mode", "production"]).args(extra);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("CREST_")) {
        cmd.env_remove(key);
    }
    cmd.envs(env.iter().copied());
    Crest(cmd.stdout(Stdio::null()).stderr(stderr).spawn().unwrap())
}

#[test]
fn a_flood_of_gets_writes_a_bounded_log_with_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crest.log");
    let file = std::fs::File::create(&path).unwrap();
    let mut crest = crest(file.into(), &[], &[]);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let log = || std::fs::read_to_string(&path).unwrap();
    let addr = rt.block_on(wait_until(Duration::from_secs(20), "crest ready", async || {
        let text = log();
        let ready = text.lines().find(|l| l.contains("crest ready")).ok_or("not yet")?;
        Ok::<_, &str>(ready.split("listen=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned())
    }));
    let url = format!("http://{addr}/v1/scalableTargetDimensions/flood");
    let gets = Arc::new(AtomicU64::new(0));
    rt.block_on(async {
        let c = reqwest::Client::new();
        assert_eq!(c.get(&url).send().await.unwrap().status(), 200, "created before the flood");
        let end = Instant::now() + FLOOD;
        let mut tasks = Vec::new();
        for _ in 0..CLIENTS {
            let (c, url, gets) = (reqwest::Client::new(), url.clone(), gets.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < end {
                    let r = c.get(&url).send().await.unwrap();
                    assert_eq!(r.status(), 200);
                    r.bytes().await.unwrap();
                    gets.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for n in 1..=PATCHES {
            tokio::time::sleep(FLOOD / (PATCHES + 1)).await;
            let body = serde_json::json!({ "desiredCapacity": 100 + n });
            let r = c.patch(&url).header("x-request-id", format!("flood-patch-{n}")).json(&body).send().await;
            assert_eq!(r.unwrap().status(), 200);
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let ok = Command::new("kill").args(["-TERM", &crest.0.id().to_string()]).status().unwrap();
    assert!(ok.success());
    let status = crest.0.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let size = std::fs::metadata(&path).unwrap().len();
    let gets = gets.load(Ordering::Relaxed);
    let text = log();
    println!("{gets} GETs in {FLOOD:?}: {size} bytes of log ({:.1} bytes per GET)", size as f64 / gets as f64);
    assert!(gets > 2_000, "the flood sent only {gets} GETs");
    assert!(size < BOUND, "{size} bytes of log for {gets} GETs in {FLOOD:?}, over {BOUND}");
    for n in 1..=PATCHES {
        let id = format!("request_id=\"flood-patch-{n}\"");
        let before = if n == 1 { 1 } else { 99 + n };
        let want = format!("desiredCapacity: {before}.0 -> {}.0", 100 + n);
        let line = text.lines().find(|l| l.contains("dimension changed") && l.contains(&id));
        let line = line.unwrap_or_else(|| panic!("no change line for flood-patch-{n} in the log"));
        assert!(line.contains(&want), "{want}: {line}");
    }
    assert!(text.contains("requests not logged in the last second (over log_access_budget): "), "no summary");
}
