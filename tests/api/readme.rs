//! The README where it shows output, against the real binary: the
//! walkthrough's `curl` answers, its log lines (text and JSON), the help of
//! the flags its configuration tables describe, the 403 and 401 of a request
//! without a certificate, and `X-Request-Id` on the plain port's redirect.
//! The README is read when the test runs, so an edit of it is checked as
//! it is. (The error table: `readme_errors.rs`.)
//!
//! In the README, `…` stands for text that differs from run to run
//! (timestamps, request ids, latencies) or is left out; everything else of
//! a line shown is compared as it is, field names and order included.

use crate::certs::{api_gateway_style, valid_for};
use crate::helpers::{StoreKind, spawn_app};
use crate::process::start;
use crate::tls::Files;
use crest::auth::{AuthConfig, Role, Token, hash};

/// README.md, as it is now.
pub fn readme() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The section under the heading line `heading` (e.g. `## Errors`), up to
/// the next heading of the same or a higher level; `#` lines inside fenced
/// code blocks are not headings.
pub fn section<'a>(readme: &'a str, heading: &str) -> &'a str {
    let level = heading.bytes().take_while(|b| *b == b'#').count();
    let mut start = None;
    let mut offset = 0;
    let mut fenced = false;
    for line in readme.split_inclusive('\n') {
        let text = line.trim_end();
        if text.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && text.starts_with('#') {
            let hashes = text.bytes().take_while(|b| *b == b'#').count();
            match start {
                None if text == heading => start = Some(offset + line.len()),
                Some(s) if hashes <= level => return &readme[s..offset],
                _ => {}
            }
        }
        offset += line.len();
    }
    let s = start.unwrap_or_else(|| panic!("README.md has no heading {heading:?}"));
    &readme[s..]
}

/// The contents of the fenced blocks of `text` whose info string is `lang`.
pub fn blocks(text: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_end().strip_prefix("```")) {
            (None, Some(info)) if info == lang => current = Some(String::new()),
            (Some(_), Some("")) => out.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

/// `text` equals `pattern`, each `…` of the pattern standing for any text
/// (also none).
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == text;
    }
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    if rest.len() < last.len() || !rest.ends_with(last) {
        return false;
    }
    rest = &rest[..rest.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[test]
fn glob_matches_whole_lines_with_ellipses() {
    assert!(glob("a…c", "abbbc") && glob("a…c", "ac") && glob("…", "") && glob("abc", "abc"));
    assert!(glob("x=… y=…", "x=1 y=2") && glob("a…b…c", "abxbc"));
    assert!(!glob("a…c", "abcd") && !glob("abc", "ab") && !glob("ab…ba", "aba") && !glob("x=… y=1", "x=1 y=2"));
}

/// One `$ curl …` of a console block and the lines it prints.
struct Command {
    line: String,
    method: String,
    body: Option<String>,
    url: String,
    output: Vec<String>,
}

/// The `curl` commands of the console blocks of `text`.
fn curl_commands(text: &str) -> Vec<Command> {
    let mut out: Vec<Command> = Vec::new();
    for block in blocks(text, "console") {
        for line in block.lines() {
            let Some(command) = line.strip_prefix("$ ") else {
                out.last_mut().expect("output after a command").output.push(line.to_owned());
                continue;
            };
            let words = shell_words(command);
            assert_eq!(words.first().map(String::as_str), Some("curl"), "{line}");
            let (mut method, mut body, mut url) = (None, None, None);
            let mut args = words[1..].iter();
            while let Some(arg) = args.next() {
                match arg.as_str() {
                    "-X" => method = args.next().cloned(),
                    "-d" => body = args.next().cloned(),
                    a if a.starts_with("http://") => url = Some(a.to_owned()),
                    a => panic!("{line}: this test does not know the curl option {a}"),
                }
            }
            let method = method.unwrap_or_else(|| if body.is_some() { "POST" } else { "GET" }.into());
            let url = url.unwrap_or_else(|| panic!("{line}: no URL"));
            out.push(Command { line: line.to_owned(), method, body, url, output: Vec::new() });
        }
    }
    out
}

/// A command line split into words as sh does for plain words and '…' quotes.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            ' ' if !quoted => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(!quoted, "unbalanced quote in {line}");
    words.extend(word);
    words
}

/// The address the README's examples use.
const README_ADDR: &str = "127.0.0.1:8080";

/// Runs the walkthrough: crest as its `sh` block starts it (on a free port,
/// with `extra` flags), then every `curl` of its console blocks, whose
/// answers must be what the README prints. Returns crest's stderr lines,
/// from `crest ready` to `crest stopped`, with the real address written as
/// the README's.
fn walkthrough(extra: &[&str]) -> Vec<String> {
    let readme = readme();
    let text = section(&readme, "## Walkthrough (demo mode)");
    let command = blocks(text, "sh").into_iter().next().expect("the walkthrough starts crest in an sh block");
    let args: Vec<&str> = command.split_whitespace().skip_while(|w| *w != "serve").skip(1).collect();
    assert!(!args.is_empty(), "{command}");
    let mut args = args;
    args.extend(["--listen", "127.0.0.1:0"]);
    args.extend(extra);
    let p = start(&args, &[]);
    let ready = p.wait_for("crest ready");
    let addr = if extra.contains(&"json") {
        serde_json::from_str::<serde_json::Value>(&ready).unwrap()["listen"].as_str().unwrap().to_owned()
    } else {
        ready.split("listen=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned()
    };
    let commands = curl_commands(text);
    assert!(commands.len() >= 4, "the walkthrough has its curl commands");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        for c in &commands {
            let url = c.url.replacen(README_ADDR, &addr, 1);
            assert_ne!(url, c.url, "{}: the walkthrough talks to {README_ADDR}", c.line);
            let mut req = client.request(c.method.parse().unwrap(), url);
            if let Some(body) = &c.body {
                // What curl -d sends.
                req = req.header("content-type", "application/x-www-form-urlencoded").body(body.clone());
            }
            let r = req.send().await.unwrap();
            let text = r.text().await.unwrap();
            assert_eq!(text.lines().collect::<Vec<_>>(), c.output, "README: {}", c.line);
        }
    });
    p.signal("-TERM");
    let (code, rest) = p.finish();
    assert_eq!(code, Some(0), "{rest}");
    std::iter::once(ready.as_str()).chain(rest.lines()).map(|l| l.replace(&addr, README_ADDR)).collect()
}

/// A text log line without its timestamp, from the level on.
fn without_timestamp(line: &str) -> &str {
    match line.split_once(' ') {
        Some((first, rest)) if first.starts_with(|c: char| c.is_ascii_digit()) => rest.trim_start(),
        _ => line,
    }
}

/// `crest ready … max_connections=N`: a machine whose open-file limit is
/// below 10,000 connections lowers N (and says so in a line of its own);
/// the README shows the default.
fn as_with_enough_files(lines: &mut [String]) {
    if !lines.iter().any(|l| l.contains("connection limit lowered")) {
        return;
    }
    for line in lines.iter_mut().filter(|l| l.contains("crest ready")) {
        let Some((head, tail)) = line.split_once("max_connections=") else { continue };
        let digits = tail.find(|c: char| !c.is_ascii_digit()).unwrap_or(tail.len());
        *line = format!("{head}max_connections=10000{}", &tail[digits..]);
    }
}

/// Every line `shown` matches one of `real`, in the same order.
fn assert_shown_in_order(shown: &[&str], real: &[String], what: &str) {
    let mut from = 0;
    for line in shown {
        match real[from..].iter().position(|r| glob(line, r)) {
            Some(at) => from += at + 1,
            None => panic!(
                "{what}: the README shows\n  {line}\nbut no later line of the real log is that; the real lines after \
                 the previous match:\n  {}",
                real[from..].join("\n  ")
            ),
        }
    }
}

/// "The log": the text lines the walkthrough prints, as shown.
#[test]
fn the_readmes_text_log_lines_are_what_the_walkthrough_prints() {
    let mut real: Vec<String> = walkthrough(&[]).iter().map(|l| without_timestamp(l).to_owned()).collect();
    as_with_enough_files(&mut real);
    let readme = readme();
    let shown = blocks(section(&readme, "### The log"), "text");
    let shown: Vec<&str> = shown.first().expect("a text block in \"The log\"").lines().collect();
    assert!(shown.len() >= 5, "{shown:?}");
    assert_shown_in_order(&shown, &real, "text log");
}

/// "The log": the JSON line, as shown (keys, their order and values).
#[test]
fn the_readmes_json_log_line_is_what_the_walkthrough_prints() {
    let real = walkthrough(&["--log-format", "json"]);
    let readme = readme();
    let shown = blocks(section(&readme, "### The log"), "json");
    let shown: Vec<&str> = shown.iter().flat_map(|b| b.lines()).collect();
    assert!(!shown.is_empty(), "a json block in \"The log\"");
    for line in &shown {
        serde_json::from_str::<serde_json::Value>(&line.replace('…', "x")).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(real.iter().any(|r| glob(line, r)), "README:\n  {line}\nreal lines:\n  {}", real.join("\n  "));
    }
}

/// The paragraph of `crest serve --help` about `flag`.
fn help_of(help: &str, flag: &str) -> String {
    let mut lines = help.lines().map(str::trim).skip_while(|l| !l.starts_with(&format!("{flag} ")));
    let first = lines.next().unwrap_or_else(|| panic!("no {flag} in\n{help}"));
    let rest = lines.take_while(|l| !l.starts_with('-'));
    std::iter::once(first).chain(rest).collect::<Vec<_>>().join(" ")
}

/// The row of the README table line that starts with `` | `flag ``.
fn readme_row(readme: &str, flag: &str) -> String {
    let start = format!("| `{flag} ");
    readme.lines().find(|l| l.starts_with(&start)).unwrap_or_else(|| panic!("no README row for {flag}")).to_owned()
}

/// `--store` names every kind of store, `--tls-listen` both sources of its
/// certificate, in the help and in the README's tables.
#[test]
fn help_and_readme_name_every_store_and_acme() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crest")).args(["serve", "--help"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let help = String::from_utf8(out.stdout).unwrap();
    let readme = readme();
    let (store, store_row) = (help_of(&help, "--store"), readme_row(&readme, "--store"));
    for kind in ["memory:", "file:", "sqlite:", "postgres://"] {
        assert!(store.contains(kind), "--store help lacks {kind}: {store}");
        assert!(store_row.contains(kind), "README --store row lacks {kind}: {store_row}");
    }
    let (tls, tls_row) = (help_of(&help, "--tls-listen"), readme_row(&readme, "--tls-listen"));
    for (text, what) in [(&tls, "--tls-listen help"), (&tls_row, "README --tls-listen row")] {
        assert!(text.contains("ACME") && text.contains("acme"), "{what} does not mention ACME: {text}");
        assert!(text.contains("tls") && text.contains("cert"), "{what}: {text}");
    }
}

/// "What needs a certificate": without one, 403 when only client
/// certificates are required; 401 when bearer tokens are configured too
/// (then a token is enough). The README says both, with these messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_certificate_is_403_and_with_tokens_401_as_the_readme_says() {
    let f = Files::new();
    let apigw = api_gateway_style("ApiGateway", valid_for(365));
    let (pin, _) = f.write(&apigw, "apigw");
    let path = "/v1/scalableTargetDimensions/1-23456789";
    let answer = async |auth: AuthConfig, token: Option<&str>| {
        let app = spawn_app(StoreKind::Memory, |c| {
            c.tls = Some(f.tls(vec![pin.clone()], vec![]));
            c.auth = auth;
        })
        .await;
        let addr = app.tls_addr.unwrap();
        let mut req = f.client(addr, None).get(format!("https://localhost:{}{path}", addr.port()));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap();
        app.stop().await;
        (status, body["message"].as_str().unwrap_or_default().to_owned())
    };
    let only_certificates = answer(AuthConfig::default(), None).await;
    let token = Token { name: "scaler".into(), role: Role::Scaler, sha256: hash("scaler-token-0123456789") };
    let tokens = AuthConfig { tokens: vec![token], ..AuthConfig::default() };
    let with_tokens = answer(tokens.clone(), None).await;
    let token_only = answer(tokens, Some("scaler-token-0123456789")).await;
    assert_eq!(only_certificates.0, 403, "{only_certificates:?}");
    assert_eq!(with_tokens.0, 401, "{with_tokens:?}");
    assert_eq!(token_only.0, 200, "a token is enough: {token_only:?}");

    let readme = readme();
    let text = section(&readme, "### Requiring API Gateway's client certificate");
    let bullet = text.split("\n* ").find(|b| b.starts_with("**What needs a certificate.**")).unwrap();
    let bullet = bullet.split_whitespace().collect::<Vec<_>>().join(" ");
    for (status, message) in [only_certificates, with_tokens] {
        let shown = format!("`{status} {}`", serde_json::json!({ "message": message }));
        assert!(bullet.contains(&shown), "the README's \"What needs a certificate\" lacks {shown}: {bullet}");
    }
}

/// "Every response carries `X-Request-Id`", also the plain port's when
/// HTTPS is on: its 308 redirects, `/healthz` and the 400 for a bad `Host`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plain_ports_redirect_carries_a_request_id() {
    let f = Files::new();
    let (app, _) = crate::tls::spawn_tls(f.tls(vec![], vec![]), false).await;
    let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let send = async |path: &str, host: &str, id: Option<&str>| {
        let mut req = c.get(app.url(path)).header("host", host);
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        let r = req.send().await.unwrap();
        let id = r.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned());
        (r.status().as_u16(), id)
    };
    let generated = |id: Option<String>| id.is_some_and(|i| i.len() == 32 && i.bytes().all(|b| b.is_ascii_hexdigit()));
    let dim = "/v1/scalableTargetDimensions/x";
    let (status, id) = send(dim, "api.example.com", None).await;
    assert_eq!(status, 308);
    assert!(generated(id.clone()), "a 308 carries a generated X-Request-Id: {id:?}");
    assert_eq!(send(dim, "api.example.com", Some("abc-123")).await, (308, Some("abc-123".into())), "kept");
    let (status, id) = send(dim, "api.example.com", Some("bad id")).await;
    assert!(status == 308 && generated(id.clone()), "replaced: {id:?}");
    let (status, id) = send("/healthz", "api.example.com", None).await;
    assert!(status == 200 && generated(id.clone()), "/healthz: {id:?}");
    let (status, id) = send(dim, "evil.com/x", None).await;
    assert!(status == 400 && generated(id.clone()), "a bad Host: {id:?}");
    // Other methods on the paths it answers itself: JSON too, with the id.
    for path in ["/healthz", "/.well-known/acme-challenge/tok_en-1"] {
        let r = c.post(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 405, "POST {path}");
        assert!(r.headers().contains_key("x-request-id"), "POST {path}");
        let body: serde_json::Value = r.json().await.unwrap_or_else(|e| panic!("POST {path}: not JSON: {e}"));
        assert_eq!(body["message"], "method POST is not allowed here; use GET, HEAD", "POST {path}");
    }
    app.stop().await;
}

/// The log settings' rows of the README's configuration table say what
/// `crest serve --help` says: the environment variable and the default.
#[test]
fn the_readmes_log_settings_are_those_of_the_help() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crest")).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let readme = readme();
    let table = section(&readme, "## Configuration");
    for flag in ["--log-format", "--log-level", "--access-log", "--log-access-budget"] {
        let text = help_of(&help, flag);
        let env = text.split("[env: ").nth(1).and_then(|e| e.split(['=', ']']).next()).unwrap();
        let default = text.split("[default: ").nth(1).and_then(|d| d.split(']').next()).unwrap();
        let start = format!("| `{flag} ");
        let row = table.lines().find(|l| l.starts_with(&start));
        let row = row.unwrap_or_else(|| panic!("no row for {flag} in the README's configuration table"));
        let cells: Vec<&str> = row.split(" | ").collect();
        assert_eq!(cells[1], format!("`{env}`"), "{flag}: the help says {env}; the README row: {row}");
        assert_eq!(cells[3], format!("`{default}`"), "{flag}: the help says {default}; the README row: {row}");
    }
}
