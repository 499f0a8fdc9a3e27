//! Messages that name the cause, from the real binary: the client against an
//! untrusted certificate, a closed port and a server without a scheme;
//! Postgres on a closed port; ACME without the CA's root; unknown store
//! URLs; a mistyped flag; help text for every argument; the deprecated
//! spellings of the token settings.

use crate::pebble::{Pebble, available, free_port};
use crate::process::start;
use crate::tls::{Files, spawn_tls};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_crest");

/// Runs `crest ARGS` with none of the client's or server's variables set.
fn crest(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for var in [
        "CREST_CLIENT_TOKEN",
        "CREST_TOKEN_FILE",
        "CREST_CLIENT_TOKEN_FILE",
        "CREST_SERVER",
        "CREST_CONFIG",
        "CREST_STORE",
        "CREST_LISTEN",
        "CREST_TOKEN",
        "CREST_TOKEN_SPEC",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A loopback port with nothing listening on it: bound, then released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

/// The client names what failed: an untrusted certificate (and the flag
/// that fixes it), a refused connection, a server URL without a scheme.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_names_why_it_cannot_reach_crest() {
    let f = Files::new();
    let (app, tls) = spawn_tls(f.tls(vec![], vec![]), false).await;
    let server = format!("https://127.0.0.1:{}", tls.port());
    let o = crest(&["get", "web", "--server", &server], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    let want = format!(
        "crest: cannot reach crest at {server}: certificate not trusted: unknown issuer; \
         pass --cacert FILE with the CA (PEM) that issued the server's certificate"
    );
    assert!(err.contains(&want), "{err}");
    let ca = f.dir.path().join("server-ca.pem");
    std::fs::write(&ca, &f.server_ca.cert_pem).unwrap();
    let o = crest(&["get", "web", "--server", &server, "--cacert", ca.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    app.stop().await;

    let server = format!("http://127.0.0.1:{}", closed_port());
    let o = crest(&["get", "web", "--server", &server], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let want =
        format!("crest: cannot reach crest at {server}: connection refused (is crest running and listening there?)");
    assert!(stderr(&o).contains(&want), "{}", stderr(&o));

    let o = crest(&["get", "web", "--server", "127.0.0.1:8080"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--server needs http:// or https://"), "{}", stderr(&o));
}

/// Postgres on a port where nothing listens: crest starts unready (it does
/// not exit: the database may come later), the log names the cause at once
/// (not after the pool's acquire timeout) and once, and `/readyz` says why
/// in words without the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_on_a_closed_port_is_named_at_once() {
    let port = closed_port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/test");
    let started = Instant::now();
    let p = start(&["--listen", "127.0.0.1:0", "--store", &url, "--log-format", "json"], &[]);
    let before_ready = p.lines_until("crest ready");
    let took = started.elapsed();
    let want = format!("connection refused at 127.0.0.1:{port}: is PostgreSQL running and listening there?");
    let named: Vec<&String> = before_ready.iter().filter(|l| l.contains(&want)).collect();
    assert_eq!(named.len(), 1, "named once: {before_ready:?}");
    assert!(named[0].contains("\"level\":\"WARN\"") && named[0].contains("crest keeps trying"), "{}", named[0]);
    assert!(took < Duration::from_secs(3), "took {took:?}: {before_ready:?}");
    let ready: serde_json::Value = serde_json::from_str(before_ready.last().unwrap()).unwrap();
    let addr = ready["listen"].as_str().unwrap();
    let (status, _, body) = crate::helpers::raw(addr.parse().unwrap(), "GET /readyz HTTP/1.1", "").await;
    assert_eq!(status, 503, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["message"], "not ready: the database's port refuses connections; crest keeps trying by itself",
        "{body}"
    );
}

/// ACME against a CA whose HTTPS root crest does not trust: the log names
/// the TLS error and says that no certificate is serving yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_without_the_ca_root_names_the_tls_error() {
    if !available("acme_without_the_ca_root_names_the_tls_error") {
        return;
    }
    let (http, https) = (free_port(), free_port());
    let pebble = Pebble::start(http, https, None).await;
    let (http, https) = (format!("127.0.0.1:{http}"), format!("127.0.0.1:{https}"));
    #[rustfmt::skip]
    let p = start(&[
        "--listen", &http, "--tls-listen", &https, "--store", "memory:", "--log-format", "json",
        "--acme-domain", "localhost", "--acme-directory", &pebble.directory, "--acme-challenge", "http-01",
    ], &[]);
    let lines = p.lines_until("ACME attempt failed");
    let started = lines.iter().find(|l| l.contains("ACME certificate management started")).unwrap();
    let started: serde_json::Value = serde_json::from_str(started).unwrap();
    assert_eq!((started["challenge"].as_str(), started["domains"].as_str()), (Some("http-01"), Some("localhost")));
    let line = lines.last().unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    let error = v["error"].as_str().unwrap_or_default();
    assert!(error.contains("unknown issuer"), "{line}");
    assert!(error.contains("--acme-ca-root"), "{line}");
    assert!(v["message"].as_str().unwrap().contains("no certificate is serving yet"), "{line}");
    let retry_in = v["retry_in"].as_str().unwrap_or_default();
    let seconds = retry_in.strip_suffix('s').and_then(|n| n.parse::<u64>().ok());
    assert!(seconds.is_some_and(|n| (60..=66).contains(&n)), "whole seconds of 1m + jitter: {line}");
}

/// An unknown store URL is a config error like any other: exit 2, naming
/// the key, the flag and the variable (and never a password).
#[test]
fn unknown_store_urls_name_key_flag_and_variable() {
    for url in ["bogus", "mysql://crest:hunter2@db/crest", "memory:foo"] {
        let (code, err) = start(&["--listen", "127.0.0.1:0", "--store", url], &[]).finish();
        assert_eq!(code, Some(2), "{url}: {err}");
        for want in ["config key store", "--store", "CREST_STORE", "memory:", "postgres://"] {
            assert!(err.contains(want), "{url}: no {want:?} in {err}");
        }
        assert!(!err.contains("hunter2"), "{err}");
    }
}

/// A mistyped flag gets the nearest one as a suggestion.
#[test]
fn a_mistyped_flag_suggests_the_right_one() {
    let o = crest(&["serve", "--lisen", "127.0.0.1:0"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--listen"), "{}", stderr(&o));
    let o = crest(&["get", "web", "--servr", "http://127.0.0.1:9"], &[]);
    assert!(stderr(&o).contains("--server"), "{}", stderr(&o));
}

/// `crest healthcheck --help` says what it checks, which settings decide
/// it, and its exit codes.
#[test]
fn healthcheck_help_says_what_it_takes() {
    let o = crest(&["healthcheck", "--help"], &[]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    for want in ["GET /healthz", "--listen", "--config", "Exit codes"] {
        assert!(help.contains(want), "no {want:?} in {help}");
    }
}

/// The server's accepted tokens are `--token-spec NAME:ROLE:SECRET`; the
/// old `--token` and `CREST_TOKEN` still work, with a deprecation warning.
#[test]
fn token_spec_and_its_old_spellings() {
    const SECRET: &str = "messages-secret-0123456789";
    let env = [("CREST_TEST_MSG_TOKEN", SECRET)];
    let spec = "ops:admin:env:CREST_TEST_MSG_TOKEN";
    /// Flags, variables, and whether a deprecation is expected.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], bool);
    let cases: [Case; 3] =
        [(&["--token-spec", spec], &[], false), (&["--token", spec], &[], true), (&[], &[("CREST_TOKEN", spec)], true)];
    for (args, extra_env, deprecated) in cases {
        let mut all = vec!["--listen", "127.0.0.1:0", "--store", "memory:", "--log-format", "json"];
        all.extend_from_slice(args);
        let mut vars = env.to_vec();
        vars.extend_from_slice(extra_env);
        let p = start(&all, &vars);
        let before_ready = p.lines_until("crest ready");
        let ready: serde_json::Value = serde_json::from_str(before_ready.last().unwrap()).unwrap();
        let server = format!("http://{}", ready["listen"].as_str().unwrap());
        let o = crest(&["get", "web", "--server", &server], &[("CREST_CLIENT_TOKEN", SECRET)]);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let o = crest(&["get", "web", "--server", &server], &[]);
        assert_eq!(o.status.code(), Some(5), "{args:?}: authentication is on");
        p.signal("-TERM");
        let (_, log) = p.finish();
        let warned = before_ready.iter().any(|l| l.contains("deprecated") && l.contains("--token-spec"));
        assert_eq!(warned, deprecated, "{args:?}: {log}");
    }
}

/// The client's token file is `--token-file` / `CREST_CLIENT_TOKEN_FILE`;
/// the old `CREST_TOKEN_FILE` still works, with a warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_token_file_and_its_old_variable() {
    use crest::auth::{AuthConfig, Role, Token, hash};
    const SECRET: &str = "messages-client-secret-0123456789";
    let app = crate::helpers::spawn_app(crate::helpers::StoreKind::Memory, |c| {
        c.auth = AuthConfig {
            tokens: vec![Token { name: "ops".into(), role: Role::Admin, sha256: hash(SECRET) }],
            ..AuthConfig::default()
        };
    })
    .await;
    let file = app.dir.path().join("token");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    let (server, file) = (app.url(""), file.to_str().unwrap().to_owned());
    let o = crest(&["get", "web", "--server", &server], &[("CREST_CLIENT_TOKEN_FILE", &file)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("deprecated"), "{}", stderr(&o));
    let o = crest(&["get", "web", "--server", &server], &[("CREST_TOKEN_FILE", &file)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("CREST_TOKEN_FILE is deprecated"), "{}", stderr(&o));
    app.stop().await;
}

/// `;` separates `--cert-role` mappings (a distinguished name contains
/// `,`); two mappings joined with `,` are refused, not read as one subject.
#[test]
fn cert_roles_joined_with_a_comma_are_refused() {
    let o = crest(&["migrate", "--store", "memory:"], &[("CREST_CERT_ROLE", "CN=a=admin,CN=b=read")]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--cert-role") && err.contains("';'"), "{err}");
}

/// `crest token` prints the token and the `--token-spec` value for it.
#[test]
fn crest_token_prints_the_token_spec() {
    let o = crest(&["token", "scaler", "scaler"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let lines: Vec<&str> = out.lines().collect();
    let token = lines[0].strip_prefix("token=").unwrap();
    let spec = lines[1].strip_prefix("crest_token_spec=").unwrap();
    assert_eq!(spec, format!("scaler:scaler:sha256:{}", crest::auth::hash(token)));
    assert!(stderr(&o).contains(&format!("--token-spec {spec}")), "{}", stderr(&o));
}
