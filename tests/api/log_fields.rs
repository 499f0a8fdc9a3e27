//! The log's field values, from the real binary: plain words and numbers,
//! never Rust's `Debug` shapes; floats rounded; `days_left` a number;
//! "migration applied" only when one was; no Postgres notice at INFO.

use crate::process::start;
use crate::tls::Files;
use serde_json::Value;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_crest");

/// Fields whose value is user data or a structured text of its own.
const FREE_TEXT: [&str; 6] = ["message", "changes", "body", "error", "path", "timestamp"];

/// Why `line` has a field that is not a plain value, if it has one.
fn debug_shape(line: &Value) -> Option<String> {
    let obj = line.as_object()?;
    for (k, v) in obj {
        match v {
            Value::String(s) if !FREE_TEXT.contains(&k.as_str()) => {
                // `Demo { simulate_failure: false }`, `Some(…)`, `"quoted"`, `[a, b]`.
                let shaped = s.contains(" { ") || s.contains("Some(") || s.starts_with('"') || s.starts_with('[');
                if shaped {
                    return Some(format!("{k}={s}"));
                }
            }
            Value::Number(n) if n.is_f64() => {
                let text = n.to_string();
                if text.split_once('.').is_some_and(|(_, decimals)| decimals.len() > 3) {
                    return Some(format!("{k}={text} has more than 3 decimals"));
                }
            }
            _ => {}
        }
    }
    None
}

/// crest with TLS (a certificate is loaded: `days_left`), one request
/// (`latency_ms`), then SIGTERM: every JSON line has plain field values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_fields_are_plain_values() {
    let f = Files::new();
    let (cert, key) = (f.cert.display().to_string(), f.key.display().to_string());
    #[rustfmt::skip]
    let p = start(&[
        "--listen", "127.0.0.1:0", "--store", "memory:", "--log-format", "json",
        "--tls-listen", "127.0.0.1:0", "--tls-cert", &cert, "--tls-key", &key, "--http-api",
    ], &[]);
    let mut lines: Vec<Value> = p
        .lines_until("crest ready")
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let ready = lines.last().unwrap().clone();
    assert_eq!(ready["mode"], "demo", "{ready}");
    assert_eq!(ready["demo_style"], "steps", "{ready}");
    assert_eq!(ready["simulate_failure"], false, "{ready}");
    let url = format!("http://{}/v1/scalableTargetDimensions/web", ready["listen"].as_str().unwrap());
    let r = reqwest::Client::new().patch(&url).json(&serde_json::json!({"desiredCapacity": 2})).send().await;
    assert_eq!(r.unwrap().status(), 200);
    let parse = |l: &str| -> Value { serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")) };
    lines.extend(p.lines_until(r#""message":"request""#).iter().map(|l| parse(l)));
    p.signal("-TERM");
    let (code, log) = p.finish();
    assert_eq!(code, Some(0), "{log}");
    lines.extend(log.lines().map(parse));
    for line in &lines {
        assert_eq!(debug_shape(line), None, "{line}");
    }
    let loaded = lines.iter().find(|l| l["message"] == "certificate loaded").expect("a certificate loaded line");
    assert!(loaded["days_left"].is_number(), "{loaded}");
    let access = lines.iter().find(|l| l["message"] == "request").unwrap();
    assert!(access["latency_ms"].is_number(), "{access}");
}

/// The text format writes the mode as the README shows it.
#[test]
fn the_text_ready_line_names_the_mode_in_words() {
    let p = start(&["--listen", "127.0.0.1:0", "--store", "memory:", "--log-format", "text"], &[]);
    let line = p.wait_for("crest ready");
    assert!(line.contains(" mode=demo demo_style=steps simulate_failure=false "), "{line}");
    let p = start(&["--listen", "127.0.0.1:0", "--store", "memory:", "--mode", "production"], &[]);
    let line = p.wait_for("crest ready");
    assert!(line.contains(" mode=production strict=false "), "{line}");
}

/// Runs `crest migrate` on `store`; returns its stderr.
fn migrate(store: &str) -> String {
    let o = Command::new(BIN)
        .args(["migrate", "--store", store, "--log-format", "json"])
        .env_remove("CREST_CONFIG")
        .env_remove("CREST_LOG_LEVEL")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    err
}

/// The first `crest migrate` logs each migration it applies; the second
/// applies none and says the schema is up to date.
#[test]
fn migrations_applied_only_when_one_was() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("crest.db").display());
    let first = migrate(&store);
    assert!(first.contains("migration applied"), "{first}");
    let second = migrate(&store);
    assert!(!second.contains("migration applied") && !second.contains("migrations applied"), "{second}");
    assert!(second.contains("schema is up to date"), "{second}");
}

/// On Postgres too; and a start on a migrated database logs no notice
/// (`relation … already exists, skipping`) at INFO.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrations_and_notices() {
    if !crate::pg::available("postgres_migrations_and_notices").await {
        return;
    }
    let db = crate::pg::TestDb::create().await;
    let first = migrate(&db.url);
    assert!(first.contains("migration applied"), "{first}");
    let second = migrate(&db.url);
    assert!(!second.contains("migration applied") && !second.contains("migrations applied"), "{second}");
    assert!(!second.contains("already exists"), "{second}");
    let p = start(&["--listen", "127.0.0.1:0", "--store", &db.url, "--log-format", "json"], &[]);
    p.ready_addr();
    p.signal("-TERM");
    let (code, log) = p.finish();
    assert_eq!(code, Some(0), "{log}");
    assert!(!log.contains("already exists"), "{log}");
    drop(db);
}
