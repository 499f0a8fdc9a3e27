//! The README's error table, row by row, against real answers: this test
//! makes every error it knows how to make over a real socket (with the
//! settings each needs: strict mode, tokens, a full dimension limit, a
//! store gone bad, a slow body), then checks that each example `message`
//! of the table is the message of a real answer with the row's status, and
//! each `Allow` header it names the real header. The table is read when the
//! test runs: a row added to the README needs an answer here (or a reason
//! in [`NOT_PRODUCED`]), and a message changed in the code needs its row
//! changed too.

use crate::helpers::{StoreKind, TestApp, raw, spawn_app};
use crate::readme::{glob, readme, section};
use crest::auth::{AuthConfig, Role, Token, hash};
use crest::domain::{DimensionId, Mode};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Examples of the table this test cannot produce, with the reason: (the
/// start of the example, why).
const NOT_PRODUCED: &[(&str, &str)] = &[];

/// A row of the table: status, when, the example messages (in backticks).
#[derive(Debug)]
struct Row {
    status: u16,
    when: String,
    examples: Vec<String>,
}

/// The `|`-separated cells of a table line; a `|` inside backticks is text.
fn cells(line: &str) -> Vec<String> {
    let (mut out, mut cell, mut code) = (Vec::new(), String::new(), false);
    for c in line.trim().trim_start_matches('|').chars() {
        match c {
            '`' => {
                code = !code;
                cell.push(c);
            }
            '|' if !code => out.push(std::mem::take(&mut cell).trim().to_owned()),
            c => cell.push(c),
        }
    }
    out
}

/// The texts in backticks of a cell.
fn code_spans(cell: &str) -> Vec<String> {
    cell.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// The error table: the first table of "## Errors" with a `message` column.
fn table() -> Vec<Row> {
    let readme = readme();
    let text = section(&readme, "## Errors");
    let mut lines = text.lines().skip_while(|l| !(l.starts_with("| status |") && l.contains("message")));
    lines.next().expect("the error table");
    lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let c = cells(l);
            assert_eq!(c.len(), 3, "{l}");
            let status = c[0].parse().unwrap_or_else(|e| panic!("{l}: status {:?}: {e}", c[0]));
            Row { status, when: c[1].clone(), examples: code_spans(&c[2]) }
        })
        .collect()
}

/// A real error answer.
#[derive(Debug)]
struct Answer {
    what: String,
    status: u16,
    message: String,
    allow: Option<String>,
}

/// The real error answers (the others are left out).
#[derive(Default)]
struct Answers(Vec<Answer>);

impl Answers {
    /// Records an HTTP/1.1 answer as `raw` returns it.
    fn add_raw(&mut self, what: &str, (status, head, body): (u16, String, String)) {
        if status < 400 {
            return;
        }
        let allow = head.lines().find_map(|l| l.strip_prefix("allow: ")).map(|a| a.trim().to_uppercase());
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("(not a JSON message: {body:?})"));
        self.0.push(Answer { what: what.to_owned(), status, message, allow });
    }

    /// Sends `method path` with a JSON `body` (if any) and `headers`.
    async fn send(&mut self, app: &TestApp, what: &str, method: &str, path: &str, body: Option<&str>, headers: &str) {
        let mut head = format!("{method} {path} HTTP/1.1{headers}");
        if body.is_some() {
            head.push_str("\r\nContent-Type: application/json");
        }
        self.add_raw(what, raw(app.addr, &head, body.unwrap_or("")).await);
    }
}

const DIM: &str = "/v1/scalableTargetDimensions";

/// Sends `request` and reads one answer (head and Content-Length body),
/// whether or not the server waits for the rest of the request.
async fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&out).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let head = head.to_ascii_lowercase();
                let len = head.lines().find_map(|l| l.strip_prefix("content-length: ")?.trim().parse().ok());
                if len.is_some_and(|n: usize| body.len() >= n) {
                    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                    return (status, head, body.to_owned());
                }
            }
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return (0, text, String::new()),
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read).await.expect("an answer within 20 s")
}

/// Errors of a default (demo) crest, and of one in production mode.
async fn plain_errors(answers: &mut Answers) {
    let app = spawn_app(StoreKind::Memory, |_| {}).await;
    let d = format!("{DIM}/e-1");
    for (what, body) in [
        ("not JSON", "x"),
        ("empty body", ""),
        ("not an object", "[2.0]"),
        ("no known field", "{}"),
        ("a string capacity", r#"{"desiredCapacity":"2"}"#),
        ("a negative capacity", r#"{"desiredCapacity":-1}"#),
        ("a scaler's fields in demo mode", r#"{"actualCapacity":3.0,"scalingStatus":"Successful"}"#),
        ("an unknown status in demo mode", r#"{"scalingStatus":"Done"}"#),
    ] {
        answers.send(&app, what, "PATCH", &d, Some(body), "").await;
    }
    answers.send(&app, "a backslash in the id", "GET", &format!("{DIM}/a%5Cb"), None, "").await;
    for n in [256, 1601] {
        answers.send(&app, "a long id", "GET", &format!("{DIM}/{}", "x".repeat(n)), None, "").await;
    }
    answers.send(&app, "an unknown path", "GET", "/nope", None, "").await;
    answers.send(&app, "POST on a dimension", "POST", &d, Some("{}"), "").await;
    answers.send(&app, "POST on /healthz", "POST", "/healthz", None, "").await;
    // Revision 1 (created), then 2; If-Match names 1.
    answers.send(&app, "create", "GET", &format!("{DIM}/m"), None, "").await;
    answers.send(&app, "set", "PATCH", &format!("{DIM}/m"), Some(r#"{"desiredCapacity":2.0}"#), "").await;
    let old = "\r\nIf-Match: \"1\"";
    answers.send(&app, "an old If-Match", "PATCH", &format!("{DIM}/m"), Some(r#"{"desiredCapacity":3.0}"#), old).await;
    let big = format!(r#"{{"desiredCapacity": 2.0}}{}"#, " ".repeat(64 * 1024));
    answers.send(&app, "a body over 64 KiB", "PATCH", &d, Some(&big), "").await;
    let text = "\r\nContent-Type: text/plain";
    answers.add_raw("text/plain", raw(app.addr, &format!("PATCH {d} HTTP/1.1{text}"), "{}").await);
    // 9029 bytes of target; 101 header fields (with Host and Connection).
    let long = format!("GET {DIM}/{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "a".repeat(9000));
    answers.add_raw("a long target", exchange(app.addr, long.as_bytes()).await);
    let fields: String = (0..99).map(|i| format!("x-f{i}: v\r\n")).collect();
    let many = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{fields}\r\n");
    answers.add_raw("101 header fields", exchange(app.addr, many.as_bytes()).await);
    let large =
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-big: {}\r\n\r\n", "v".repeat(40_000));
    answers.add_raw("40 KB of header fields", exchange(app.addr, large.as_bytes()).await);
    app.stop().await;

    let app = spawn_app(StoreKind::Memory, |c| c.mode = Mode::Production).await;
    for (what, body) in [
        ("an unknown status", r#"{"scalingStatus":"Done"}"#),
        ("a reason without Failed", r#"{"failureReason":"no quota"}"#),
    ] {
        answers.send(&app, what, "PATCH", &d, Some(body), "").await;
    }
    app.stop().await;
}

/// Unknown ids in strict mode, and for a caller with role read; 401 and 403.
async fn access_errors(answers: &mut Answers) {
    let app = spawn_app(StoreKind::Memory, |c| c.strict = true).await;
    answers.send(&app, "strict mode", "GET", &format!("{DIM}/other"), None, "").await;
    app.stop().await;

    let token = |name: &str, role| Token { name: name.into(), role, sha256: hash(&format!("{name}-token-0123456789")) };
    let tokens = vec![token("read", Role::Read), token("aas", Role::Aas)];
    let app = spawn_app(StoreKind::Memory, |c| c.auth = AuthConfig { tokens, ..AuthConfig::default() }).await;
    let read = "\r\nAuthorization: Bearer read-token-0123456789";
    answers.send(&app, "role read", "GET", &format!("{DIM}/other"), None, read).await;
    answers.send(&app, "no token", "GET", &format!("{DIM}/other"), None, "").await;
    answers
        .send(&app, "an unknown token", "GET", &format!("{DIM}/other"), None, "\r\nAuthorization: Bearer nope")
        .await;
    answers
        .send(&app, "role read sets", "PATCH", &format!("{DIM}/other"), Some(r#"{"desiredCapacity":2}"#), read)
        .await;
    app.stop().await;
}

/// The dimension limit (the default, 10,000), reached.
async fn limit_errors(answers: &mut Answers) {
    let app = spawn_app(StoreKind::Memory, |c| {
        c.register = (0..c.max_dimensions).map(|i| DimensionId::parse(&format!("d{i}")).unwrap()).collect();
    })
    .await;
    answers.send(&app, "one dimension too many", "GET", &format!("{DIM}/other"), None, "").await;
    answers
        .send(&app, "one dimension too many", "PATCH", &format!("{DIM}/other"), Some(r#"{"desiredCapacity":2}"#), "")
        .await;
    app.stop().await;
}

/// 503 and 500: a store that cannot write, a damaged SQLite file, and a
/// request slower than `request_timeout`.
async fn server_errors(answers: &mut Answers) {
    // The file store's directory is replaced by a file: no write can succeed.
    let app = spawn_app(StoreKind::File, |_| {}).await;
    let state = app.dir.path().join("state");
    std::fs::rename(&state, app.dir.path().join("state.gone")).unwrap();
    std::fs::write(&state, "not a directory").unwrap();
    answers
        .send(&app, "the store cannot write", "PATCH", &format!("{DIM}/new"), Some(r#"{"desiredCapacity":2}"#), "")
        .await;
    app.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crest.db");
    crate::sqlite_damage::sqlite_with_rows(&db, 1000).await;
    let app =
        spawn_app(StoreKind::Sqlite, |c| c.store = crest::secret::Secret::new(format!("sqlite:{}", db.display())))
            .await;
    crate::sqlite_damage::damage(&db);
    // Reads of ids not cached reach the damaged pages.
    for i in 0..1000 {
        let answer = raw(app.addr, &format!("GET {DIM}/d{i:05} HTTP/1.1"), "").await;
        if answer.0 != 200 {
            answers.add_raw("damaged data", answer);
            break;
        }
    }
    app.stop().await;

    // The default is 30 s; with 1 s the message is the same but for the number.
    let app = spawn_app(StoreKind::Memory, |c| c.request_timeout = Duration::from_secs(1)).await;
    let slow = format!(
        "PATCH {DIM}/slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{{"
    );
    let (status, head, body) = exchange(app.addr, slow.as_bytes()).await;
    answers.add_raw("a body that never ends", (status, head, body.replace("longer than 1s", "longer than 30s")));
    app.stop().await;

    // SIGTERM with a shutdown delay: `/readyz` fails at once, the API still answers.
    let app = spawn_app(StoreKind::Memory, |c| c.shutdown_delay = Duration::from_secs(2)).await;
    app.begin_shutdown();
    for _ in 0..200 {
        if raw(app.addr, "GET /readyz HTTP/1.1", "").await.0 == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    answers.send(&app, "draining", "GET", "/readyz", None, "").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_error_table_is_what_crest_answers() {
    let rows = table();
    assert!(rows.len() >= 10, "{rows:?}");
    let mut answers = Answers::default();
    plain_errors(&mut answers).await;
    access_errors(&mut answers).await;
    limit_errors(&mut answers).await;
    server_errors(&mut answers).await;

    let mut wrong = Vec::new();
    for row in &rows {
        assert!(!row.examples.is_empty(), "a row without an example message: {row:?}");
        let mut matched = Vec::new();
        for example in &row.examples {
            if let Some((_, why)) = NOT_PRODUCED.iter().find(|(start, _)| example.starts_with(start)) {
                eprintln!("README error row {} {example:?} not produced: {why}", row.status);
                continue;
            }
            match answers.0.iter().find(|a| a.status == row.status && glob(example, &a.message)) {
                Some(a) => matched.push(a),
                None => wrong.push(format!(
                    "{} | {} | `{example}`: no real answer is that; the real {} answers:\n    {}",
                    row.status,
                    row.when,
                    row.status,
                    answers
                        .0
                        .iter()
                        .filter(|a| a.status == row.status)
                        .map(|a| format!("{}: {}", a.what, a.message))
                        .collect::<Vec<_>>()
                        .join("\n    ")
                )),
            }
        }
        for allow in code_spans(&row.when).iter().filter_map(|s| s.strip_prefix("Allow: ")) {
            for a in &matched {
                if a.allow.as_deref() != Some(&allow.to_uppercase()) {
                    wrong.push(format!(
                        "{} | {}: `Allow: {allow}`, but {} answers Allow: {:?}",
                        row.status, row.when, a.what, a.allow
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "the README's error table is not what crest answers:\n{}", wrong.join("\n"));
}
