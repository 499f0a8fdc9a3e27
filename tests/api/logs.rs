//! The log, from the real binary: a closed log pipe is not fatal (crest
//! keeps serving, counts the lines it drops, and stops on SIGTERM), and
//! Unicode controls in user strings never reach a line raw, in either format.

use crate::helpers::raw;
use crate::process::start;
use crate::wait::wait_until;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A crest child process, killed if the test ends early.
struct Crest(Child);

impl Drop for Crest {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `crest serve 2>&1 | head -c 1`: crest's stderr is a pipe that this test
/// closes once crest is ready. Every later log line fails with EPIPE.
#[test]
fn a_closed_log_pipe_is_not_fatal() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crest"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--store", "memory:", "--log-format", "json"]);
    for key in ["CREST_CONFIG", "CREST_LISTEN", "CREST_STORE", "CREST_MODE", "CREST_LOG_FORMAT", "CREST_LOG_LEVEL"] {
        cmd.env_remove(key);
    }
    let mut crest = Crest(cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap());
    let mut lines = BufReader::new(crest.0.stderr.take().unwrap()).lines();
    let ready = lines.find(|l| l.as_ref().is_ok_and(|l| l.contains("crest ready"))).unwrap().unwrap();
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    let addr = ready["listen"].as_str().unwrap().to_owned();
    drop(lines); // the only reader: the pipe is now closed

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let url = format!("http://{addr}/v1/scalableTargetDimensions/piped");
        for i in 2..12 {
            let body = serde_json::json!({ "desiredCapacity": i });
            match c.patch(&url).json(&body).send().await {
                Ok(r) => assert_eq!(r.status(), 200, "PATCH {i} after the log pipe closed"),
                Err(e) => panic!("PATCH {i} after the log pipe closed failed: {e}"),
            }
        }
        let r = c.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["desiredCapacity"], 11.0, "{body}");
        // Each request logged lines that could not be written: counted.
        let metrics = format!("http://{addr}/metrics");
        let dropped =
            wait_until(Duration::from_secs(5), "crest_log_write_failures counts the lost lines", async || {
                let text =
                    c.get(&metrics).send().await.map_err(|e| e.to_string())?.text().await.map_err(|e| e.to_string())?;
                let value = text
                    .lines()
                    .find_map(|l| l.strip_prefix("crest_log_write_failures "))
                    .ok_or_else(|| format!("no crest_log_write_failures in {text}"))?;
                let value: f64 = value.trim().parse().map_err(|e| format!("{value}: {e}"))?;
                if value >= 20.0 { Ok(value) } else { Err(format!("crest_log_write_failures {value}")) }
            })
            .await;
        assert!(dropped >= 20.0, "{dropped}");
    });

    // The signal task logs before it stops crest: SIGTERM still works.
    let ok = Command::new("kill").args(["-TERM", &crest.0.id().to_string()]).status().unwrap();
    assert!(ok.success());
    let status = rt.block_on(wait_until(Duration::from_secs(15), "crest exits after SIGTERM", async || {
        crest.0.try_wait().map_err(|e| e.to_string())?.ok_or_else(|| "still running".to_owned())
    }));
    assert_eq!(status.code(), Some(0), "{status}");
}

/// A path with C1 controls, a line separator and a bidi override (sent raw,
/// as UTF-8: hyper accepts it), and a failureReason with more of them.
const PATH: &str = "/v1/scalableTargetDimensions/a\u{85}b\u{9b}c\u{2028}d\u{202e}e";
const REASON: &str = "r\u{202e}s\u{2028}t\u{2029}u\u{85}v\u{1b}[2Jw";

fn has_raw_control(line: &str) -> bool {
    line.chars().any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}'))
}

/// Sends the hostile path and failureReason to a crest started with
/// `--log-format format`; returns its access line (`request`) for the path
/// and its `dimension changed` line for the reason.
fn hostile_lines(format: &str) -> (String, String) {
    let args = ["--listen", "127.0.0.1:0", "--store", "memory:", "--mode", "production", "--log-format", format];
    let p = start(&args, &[]);
    let ready = p.wait_for("crest ready");
    let addr = match format {
        "json" => serde_json::from_str::<serde_json::Value>(&ready).unwrap()["listen"].as_str().unwrap().to_owned(),
        _ => ready.split("listen=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned(),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (status, _, body) = raw(addr.parse().unwrap(), &format!("GET {PATH} HTTP/1.1"), "").await;
        assert_eq!(status, 400, "{body}");
    });
    let finished = p.wait_for(if format == "json" { r#""message":"request""# } else { "crest::access: request " });
    rt.block_on(async {
        let url = format!("http://{addr}/v1/scalableTargetDimensions/x");
        let body = serde_json::json!({"scalingStatus": "Failed", "failureReason": REASON});
        let r = reqwest::Client::new().patch(&url).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200);
    });
    let changed = p.wait_for("dimension changed");
    (finished, changed)
}

/// Text: the raw characters are written as `\u{…}`, the rest as it was.
#[test]
fn text_logs_escape_unicode_controls() {
    let (finished, changed) = hostile_lines("text");
    assert!(!has_raw_control(&finished), "{finished:?}");
    assert!(finished.contains(r" id=a\u{85}b\u{9b}c\u{2028}d\u{202e}e "), "{finished:?}");
    assert!(!has_raw_control(&changed), "{changed:?}");
    let want = r#"failureReason: null -> "r\u{202e}s\u{2028}t\u{2029}u\u{85}v\u001b[2Jw""#;
    assert!(changed.contains(want), "{changed:?}");
}

/// JSON: the line parses back to the very strings sent, but carries them as
/// `\uXXXX` escapes, never raw.
#[test]
fn json_logs_escape_unicode_controls() {
    let (finished, changed) = hostile_lines("json");
    assert!(!has_raw_control(&finished), "{finished:?}");
    assert!(finished.contains(r#""id":"a\u0085b\u009bc\u2028d\u202ee""#), "{finished:?}");
    let v: serde_json::Value = serde_json::from_str(&finished).unwrap();
    assert_eq!(v["id"], PATH.rsplit('/').next().unwrap(), "{finished:?}");
    assert!(!has_raw_control(&changed), "{changed:?}");
    let v: serde_json::Value = serde_json::from_str(&changed).unwrap();
    let reason = serde_json::to_string(REASON).unwrap();
    assert!(v["changes"].as_str().unwrap().contains(&format!("failureReason: null -> {reason}")), "{changed:?}");
}
