//! The CLI client (`crest get|set|watch|list|register|delete`, the real
//! binary) against a running server: human and JSON output, tokens, exit
//! codes, and a scaler loop built on `crest watch`.

use crate::helpers::{StoreKind, TestApp, spawn_app};
use crate::wait::wait_until;
use crest::auth::{AuthConfig, Role, Token, hash};
use crest::domain::Mode;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_crest");
const ADMIN: &str = "admin-secret-token-0123456789";
const SCALER: &str = "scaler-secret-token-0123456789";

async fn server() -> TestApp {
    spawn_app(StoreKind::Sqlite, |c| {
        c.mode = Mode::Production;
        c.strict = true;
        c.auth = AuthConfig {
            tokens: vec![
                Token { name: "ops".into(), role: Role::Admin, sha256: hash(ADMIN) },
                Token { name: "scaler".into(), role: Role::Scaler, sha256: hash(SCALER) },
            ],
            ..AuthConfig::default()
        };
    })
    .await
}

/// Runs `crest ARGS --server URL` with `token` in CREST_CLIENT_TOKEN.
fn crest(app: &TestApp, token: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).args(["--server", &app.url("")]);
    for var in ["CREST_CLIENT_TOKEN", "CREST_TOKEN_FILE", "CREST_SERVER"] {
        cmd.env_remove(var);
    }
    if let Some(t) = token {
        cmd.env("CREST_CLIENT_TOKEN", t);
    }
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_commands_against_a_running_server() {
    let app = server().await;
    let o = crest(
        &app,
        Some(ADMIN),
        &["register", "web", "--desired", "2", "--min", "1", "--max", "10", "--resource-name", "web-svc"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "web  desired=2  actual=1  status=Successful  revision=1  bounds=[1, 10]");
    let o = crest(&app, Some(SCALER), &["get", "web", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!((v["resourceName"].as_str(), v["revision"].as_u64()), (Some("web-svc"), Some(1)));
    let o = crest(&app, Some(SCALER), &["set", "web", "--actual", "2", "--status", "InProgress"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("status=InProgress  revision=2"), "{}", stdout(&o));
    // Compare-and-swap: a stale revision is exit code 4.
    let o = crest(&app, Some(SCALER), &["set", "web", "--status", "Successful", "--if-revision", "1"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("412") && stderr(&o).contains("revision 2"), "{}", stderr(&o));
    // Roles: the scaler may not set desiredCapacity (5); no token (5); a bound (2).
    let o = crest(&app, Some(SCALER), &["set", "web", "--desired", "3"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("needs role aas or admin"), "{}", stderr(&o));
    assert_eq!(crest(&app, None, &["get", "web"]).status.code(), Some(5));
    let o = crest(&app, Some(ADMIN), &["set", "web", "--desired", "30"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("above maxCapacity 10"), "{}", stderr(&o));
    // Not found (3), bad usage (2), unreachable (1).
    assert_eq!(crest(&app, Some(ADMIN), &["get", "nobody"]).status.code(), Some(3));
    let o = crest(&app, Some(ADMIN), &["set", "web", "--status", "Done"]);
    assert_eq!(o.status.code(), Some(2));
    let mut cmd = Command::new(BIN);
    let o = cmd.args(["get", "web", "--server", "http://127.0.0.1:9"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // list, then delete.
    crest(&app, Some(ADMIN), &["register", "api", "--desired", "1"]);
    let o = crest(&app, Some(ADMIN), &["list", "--json"]);
    let ids: Vec<String> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["scalableTargetDimensionId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["api", "web"]);
    assert_eq!(stdout(&crest(&app, Some(ADMIN), &["list", "--status", "InProgress"])).lines().count(), 1);
    let o = crest(&app, Some(ADMIN), &["delete", "api"]);
    assert_eq!(stdout(&o).trim(), "api deleted");
    assert_eq!(crest(&app, Some(ADMIN), &["get", "api"]).status.code(), Some(3));
    // The token file works too, and never shows in the output.
    let file = app.dir.path().join("token");
    std::fs::write(&file, format!("{SCALER}\n")).unwrap();
    let o = crest(&app, None, &["get", "web", "--token-file", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains(SCALER) && !stderr(&o).contains(SCALER));
    app.stop().await;
}

/// `crest register` sends only the options given, so a later register
/// keeps the bounds; `--max none` clears one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_keeps_the_bounds_it_is_not_given() {
    let app = server().await;
    let o = crest(&app, Some(ADMIN), &["register", "web", "--desired", "2", "--min", "1", "--max", "10"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = crest(&app, Some(ADMIN), &["register", "web", "--version", "v2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "web  desired=2  actual=1  status=Successful  revision=2  bounds=[1, 10]");
    let o = crest(&app, Some(ADMIN), &["set", "web", "--desired", "50"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("above maxCapacity 10.0"), "{}", stderr(&o));
    // `none` clears a bound; the other stays.
    let o = crest(&app, Some(ADMIN), &["register", "web", "--max", "none"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "web  desired=2  actual=1  status=Successful  revision=3  bounds=[1, -]");
    let o = crest(&app, Some(ADMIN), &["set", "web", "--desired", "50"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Anything else is bad usage, before a request is sent.
    for bad in ["ten", "NaN", "inf"] {
        let o = crest(&app, Some(ADMIN), &["register", "web", "--min", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stdout(&o));
        assert!(stderr(&o).contains("a number >= 0, or none"), "{bad}: {}", stderr(&o));
    }
    let o = crest(&app, Some(ADMIN), &["get", "web", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!((v["revision"].as_u64(), v["desiredCapacity"].as_f64()), (Some(4), Some(50.0)), "{v}");
    app.stop().await;
}

/// A scaler in a few lines of shell: `crest watch --json` feeds a loop that
/// reports each new desiredCapacity as reached with `crest set`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_scaler_loop_follows_desired_capacity() {
    let app = server().await;
    assert!(crest(&app, Some(ADMIN), &["register", "svc", "--desired", "1"]).status.success());
    let script = r#"
crest watch svc --json --count 3 | while read -r state; do
  desired=$(printf '%s' "$state" | python3 -c 'import json,sys; print(json.load(sys.stdin)["desiredCapacity"])')
  status=$(printf '%s' "$state" | python3 -c 'import json,sys; print(json.load(sys.stdin)["scalingStatus"])')
  echo "read $status"
  [ "$status" = Pending ] || continue
  crest set svc --actual "$desired" --status Successful >/dev/null
done
"#;
    let bin_dir = std::path::Path::new(BIN).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut child = Command::new("bash")
        .args(["-c", script])
        .env("PATH", path)
        .env("CREST_SERVER", app.url(""))
        .env("CREST_CLIENT_TOKEN", SCALER)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // AAS raises desiredCapacity; the loop reports it as reached. The watch
    // prints 3 states: Successful (start), Pending (5), Successful (5).
    let admin = |v: f64| {
        let (client, url) = (app.client.clone(), app.dim_url("svc"));
        async move {
            let r = client.patch(url).bearer_auth(ADMIN).json(&serde_json::json!({"desiredCapacity": v})).send();
            assert_eq!(r.await.unwrap().status(), 200);
        }
    };
    // The loop echoes each state it reads: once the first one is in, the
    // watch follows the dimension (a long-poll after that revision), so the
    // change below cannot be missed.
    let stdout = child.stdout.take().unwrap();
    let (tx, read) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Reads to the end even when nobody listens: the script must not
        // see a closed pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = tokio::task::spawn_blocking(move || read.recv_timeout(Duration::from_secs(20))).await.unwrap();
    assert_eq!(first, Ok("read Successful".to_owned()), "the watch prints the state at the start");
    admin(5.0).await;
    wait_until(Duration::from_secs(20), "the loop did not report", async || {
        let (_, d) = get_as_admin(&app).await;
        if d["actualCapacity"] == 5.0 && d["scalingStatus"] == "Successful" { Ok(()) } else { Err(d) }
    })
    .await;
    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(status.success());
    app.stop().await;
}

async fn get_as_admin(app: &TestApp) -> (u16, Value) {
    let r = app.client.get(app.dim_url("svc")).bearer_auth(ADMIN).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}
