//! A damaged SQLite file, with the real binary: refused at start-up with a
//! message that names the file and says to restore it from a backup; damage
//! found while crest runs is a 500 with an ERROR log (never a 503 "try again
//! shortly") and `/readyz` 503 from then on.

use crate::process::start;
use crate::sqlite_damage::damage;
use std::path::{Path, PathBuf};

/// A real SQLite store holding `n` dimensions, closed, at `dir/crest.db`.
fn sqlite_with_rows(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("crest.db");
    tokio::runtime::Runtime::new().unwrap().block_on(crate::sqlite_damage::sqlite_with_rows(&path, n));
    path
}

/// It used to start ("crest ready", `/readyz` 200) and then answer every
/// read and write 503 "try again shortly".
#[test]
fn crest_refuses_to_start_on_a_damaged_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_with_rows(dir.path(), 1000);
    damage(&path);
    let shown = path.display().to_string();
    let p = start(&["--listen", "127.0.0.1:0", "--store", &format!("sqlite:{shown}"), "--log-format", "json"], &[]);
    // The first line naming the file: "crest ready" (wrong) or the refusal.
    let line = p.wait_for(&shown);
    assert!(!line.contains("crest ready"), "crest started on a damaged file: {line}");
    let (code, err) = p.finish();
    assert_eq!(code, Some(1), "{line}\n{err}");
    // The fatal error is one ERROR line, with the cause in `error`.
    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
    assert_eq!((v["level"].as_str(), v["message"].as_str()), (Some("ERROR"), Some("crest failed")), "{line}");
    let refusal = v["error"].as_str().unwrap_or_default();
    assert!(refusal.contains(&format!("store: sqlite:{shown} is damaged")), "{refusal}");
    assert!(refusal.contains("restore it from a backup"), "{refusal}");
    assert!(!err.contains("is damaged"), "printed once: {err}");
}

#[test]
fn damage_found_at_run_time_is_a_500_and_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_with_rows(dir.path(), 1000);
    let store = format!("sqlite:{}", path.display());
    let p = start(&["--listen", "127.0.0.1:0", "--store", &store, "--mode", "production", "--log-format", "json"], &[]);
    let addr = p.ready_addr();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = reqwest::Client::new();
    let ready = |c: &reqwest::Client| c.get(format!("http://{addr}/readyz")).send();
    rt.block_on(async { assert_eq!(ready(&c).await.unwrap().status(), 200) });
    // The disk fails under the running server; reads of ids it has not
    // cached reach the damaged pages.
    damage(&path);
    let (status, body) = rt.block_on(async {
        for i in 0..1000 {
            let r = c.get(format!("http://{addr}/v1/scalableTargetDimensions/d{i:05}")).send().await.unwrap();
            let status = r.status().as_u16();
            if status != 200 {
                return (status, r.json::<serde_json::Value>().await.unwrap());
            }
        }
        panic!("no read reached the damaged pages");
    });
    assert_eq!(status, 500, "damage is no reason to try again: {body}");
    assert_eq!(body["message"], "internal error; see crest's log", "{body}");
    let logged = p.wait_for("the database file is damaged");
    let v: serde_json::Value = serde_json::from_str(&logged).unwrap();
    assert_eq!(v["level"], "ERROR", "{logged}");
    assert!(v["store"].as_str().unwrap().contains(&path.display().to_string()), "{logged}");
    let internal = p.wait_for("internal error");
    assert!(internal.contains(r#""level":"ERROR""#) && internal.contains("restore it from a backup"), "{internal}");
    let readyz = rt.block_on(async { ready(&c).await.unwrap().status() });
    assert_eq!(readyz, 503, "not ready once the file is known damaged");
}
