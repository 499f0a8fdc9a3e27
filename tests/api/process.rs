//! The real `crest` binary: directory lock, config precedence through the
//! environment, bad config, SIGTERM, and log injection.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_crest");

/// A running crest whose stderr lines arrive on a channel.
pub struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

pub fn start(args: &[&str], env: &[(&str, &str)]) -> Proc {
    let mut cmd = Command::new(BIN);
    cmd.arg("serve").args(args);
    spawn(cmd, env)
}

/// As [`start`], with the open-file limit (`ulimit -n`) lowered to `nofile`
/// (a shell sets it, then execs crest, so the pid is crest's).
pub fn start_with_nofile(nofile: u32, args: &[&str], env: &[(&str, &str)]) -> Proc {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", r#"ulimit -n "$1" && shift && exec "$0" serve "$@""#, BIN, &nofile.to_string()]).args(args);
    spawn(cmd, env)
}

fn spawn(mut cmd: Command, env: &[(&str, &str)]) -> Proc {
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    for key in ["CREST_CONFIG", "CREST_LISTEN", "CREST_STORE", "CREST_MODE", "CREST_LOG_FORMAT", "CREST_STRICT"] {
        cmd.env_remove(key);
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Proc { child, lines }
}

impl Proc {
    /// Waits for a stderr line containing `needle`; returns it.
    pub fn wait_for(&self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(20)) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("no line with {needle:?}: {e}"),
            }
        }
    }

    /// Every stderr line up to and including the first containing `needle`.
    pub fn lines_until(&self, needle: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => {
                    let found = line.contains(needle);
                    seen.push(line);
                    if found {
                        return seen;
                    }
                }
                Err(e) => panic!("no line with {needle:?}: {e}; so far: {seen:?}"),
            }
        }
    }

    /// The stderr lines that arrived and were not read yet.
    pub fn lines_so_far(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// Waits for exit; returns the code and everything written to stderr.
    pub fn finish(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        let rest: Vec<String> = self.lines.iter().collect();
        (status.code(), rest.join("\n"))
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success());
    }

    /// The bound address from the "crest ready" JSON log line.
    pub fn ready_addr(&self) -> String {
        let line = self.wait_for("crest ready");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        v["listen"].as_str().unwrap().to_owned()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn two_processes_cannot_share_a_file_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file:{}", dir.path().display());
    let first = start(&["--listen", "127.0.0.1:0", "--store", &store, "--log-format", "json"], &[]);
    first.ready_addr();
    let second = start(&["--listen", "127.0.0.1:0", "--store", &store], &[]);
    let (code, err) = second.finish();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("is already used by another crest process"), "{err}");
    assert!(err.contains(&format!("(pid {})", first.child.id())), "{err}");
    // After the first stops (SIGTERM), the directory is free again.
    // SIGHUP (systemctl reload) does not stop a crest without TLS.
    first.signal("-HUP");
    first.wait_for("nothing to reload");
    first.signal("-TERM");
    let (code, err) = first.finish();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("crest stopped"), "{err}");
    let third = start(&["--listen", "127.0.0.1:0", "--store", &store, "--log-format", "json"], &[]);
    third.ready_addr();
}

/// flags > CREST_* environment > config file > defaults.
#[test]
fn environment_sits_between_flags_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("crest.toml");
    std::fs::write(&file, "mode = \"demo\"\nstrict = true\nstore = \"memory:\"\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let file = file.display().to_string();
    let env = [("CREST_CONFIG", file.as_str()), ("CREST_MODE", "production"), ("CREST_LOG_FORMAT", "json")];
    let p = start(&[], &env);
    let line = p.wait_for("crest ready");
    assert!(line.contains(r#""mode":"production""#) && line.contains(r#""strict":true"#), "{line}");
    drop(p);
    let p = start(&["--mode", "demo", "--strict=false"], &env);
    let line = p.wait_for("crest ready");
    assert!(
        line.contains(r#""mode":"demo""#)
            && line.contains(r#""demo_style":"steps""#)
            && line.contains(r#""strict":false"#),
        "{line}"
    );
}

#[test]
fn bad_config_fails_at_start_naming_the_key() {
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (&[], &[("CREST_MODE", "fast")], "config key mode (--mode, CREST_MODE)"),
        (&["--listen", "localhost"], &[], "config key listen (--listen, CREST_LISTEN)"),
        (&["--store", "redis://x"], &[], "config key store (--store, CREST_STORE): \"redis://x\" is not a store URL"),
        (&["--config", "/nonexistent/crest.toml"], &[], "config file /nonexistent/crest.toml"),
    ];
    for (args, env, want) in cases {
        let (code, err) = start(args, env).finish();
        assert_eq!(code, Some(2), "{args:?}");
        assert!(err.contains(want), "{args:?} {env:?}: {err}");
    }
}

/// A newline in a user string cannot forge a log line.
#[test]
fn user_strings_cannot_inject_log_lines() {
    let p =
        start(&["--listen", "127.0.0.1:0", "--store", "memory:", "--mode", "production", "--log-format", "json"], &[]);
    let addr = p.ready_addr();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let url = format!("http://{addr}/v1/scalableTargetDimensions/x");
        let body = serde_json::json!({"scalingStatus": "Failed", "failureReason": "bad\nINJECTED fake line"});
        let r = c.patch(&url).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200);
    });
    let line = p.wait_for("dimension changed");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert!(v["changes"].as_str().unwrap().contains(r#"\nINJECTED"#), "{line}");
    p.signal("-TERM");
    let (_, rest) = p.finish();
    assert!(!rest.lines().any(|l| l.starts_with("INJECTED")), "{rest}");
}

/// The text format escapes too.
#[test]
fn text_logs_escape_user_strings() {
    let p = start(&["--listen", "127.0.0.1:0", "--store", "memory:", "--mode", "production"], &[]);
    let line = p.wait_for("crest ready");
    let addr = line.split("listen=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = format!("http://{addr}/v1/scalableTargetDimensions/x");
        let body = serde_json::json!({"scalingStatus": "Failed", "failureReason": "bad\nINJECTED fake line"});
        let r = reqwest::Client::new().patch(&url).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200);
    });
    let changed = p.wait_for("dimension changed");
    assert!(changed.contains(r#"failureReason: null -> "bad\nINJECTED fake line""#), "{changed}");
    p.signal("-TERM");
    let (_, rest) = p.finish();
    assert!(!rest.lines().any(|l| l.starts_with("INJECTED")), "{rest}");
}

/// `crest healthcheck` (Docker's HEALTHCHECK) is 0 against a running crest
/// with the same settings, and 1 when nothing answers.
#[test]
fn healthcheck_subcommand() {
    let p = start(&["--listen", "127.0.0.1:0", "--store", "memory:", "--log-format", "json"], &[]);
    let addr = p.ready_addr();
    let run = |listen: &str| {
        Command::new(BIN).args(["healthcheck", "--listen", listen]).env_remove("CREST_CONFIG").output().unwrap()
    };
    let ok = run(&addr);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let port = addr.rsplit(':').next().unwrap();
    assert!(run(&format!("0.0.0.0:{port}")).status.success(), "0.0.0.0 means loopback");
    drop(p);
    let down = run(&addr);
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("healthcheck failed"));
}

/// X-Request-Id: kept when sane, generated otherwise, returned, and in the
/// log lines of the request: one flat JSON object per line with timestamp,
/// level, target, request id, dimension id and the fields.
#[test]
fn request_ids_are_returned_and_logged() {
    let p = start(&["--listen", "127.0.0.1:0", "--store", "memory:", "--log-format", "json"], &[]);
    let addr = p.ready_addr();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = format!("http://{addr}/v1/scalableTargetDimensions/rid");
    let (kept, generated, replaced) = rt.block_on(async {
        let c = reqwest::Client::new();
        let id = |r: &reqwest::Response| r.headers()["x-request-id"].to_str().unwrap().to_owned();
        let r = c
            .patch(&url)
            .header("x-request-id", "abc-123")
            .json(&serde_json::json!({"desiredCapacity": 2}))
            .send()
            .await
            .unwrap();
        let kept = id(&r);
        let generated = id(&c.get(&url).send().await.unwrap());
        let replaced = id(&c.get(&url).header("x-request-id", "bad id").send().await.unwrap());
        (kept, generated, replaced)
    });
    assert_eq!(kept, "abc-123");
    assert!(generated.len() == 32 && generated.bytes().all(|b| b.is_ascii_hexdigit()), "{generated}");
    assert!(replaced.len() == 32 && replaced != generated, "{replaced}");
    let line = p.wait_for("dimension changed");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["request_id"], "abc-123", "{line}");
    assert_eq!(v["dimension_id"], "rid", "{line}");
    assert_eq!(v["route"], "/v1/scalableTargetDimensions/{id}", "{line}");
    assert_eq!(v["method"], "PATCH", "{line}");
    assert_eq!(v["level"], "INFO", "{line}");
    assert_eq!(v["target"], "crest::service", "{line}");
    assert_eq!(v["message"], "dimension changed", "{line}");
    assert_eq!(v["revision"], 1, "{line}");
    assert!(v["changes"].as_str().unwrap().contains("desiredCapacity: 1.0 -> 2.0"), "{line}");
    assert!(humantime::parse_rfc3339(v["timestamp"].as_str().unwrap()).is_ok(), "{line}");
    let access = p.wait_for(r#""message":"request""#);
    assert!(access.contains(r#""request_id":"abc-123""#), "{access}");
}

/// On a non-loopback address without client verification crest warns
/// loudly at start; on loopback it does not.
#[test]
fn warns_when_the_api_is_open_beyond_loopback() {
    let open = start(&["--listen", "0.0.0.0:0", "--store", "memory:", "--log-format", "json"], &[]);
    let line = open.wait_for("SECURITY");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["level"], "WARN", "{line}");
    assert!(v["message"].as_str().unwrap().contains("open to anyone"), "{line}");
    drop(open);
    let local = start(&["--listen", "127.0.0.1:0", "--store", "memory:", "--log-format", "json"], &[]);
    local.ready_addr();
    let (_, rest) = {
        local.signal("-TERM");
        local.finish()
    };
    assert!(!rest.contains("SECURITY"), "{rest}");
}
