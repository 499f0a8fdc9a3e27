//! Precedence (flags over file over defaults) and errors that name the key.
//! The environment layer is tested through the real binary in tests/api.

use super::*;
use crate::acme::{AcmeChallenge, LETSENCRYPT, LETSENCRYPT_STAGING};
use crate::auth::Role;
use crate::domain::Capacity;
use crate::fingerprint::Fingerprint;
use clap::Parser;
use std::io::Write;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ServeArgs,
}

fn load(flags: &[&str], file: Option<&str>) -> Result<Config, ConfigError> {
    let mut tmp = tempfile::NamedTempFile::new().unwrap();
    let mut argv = vec!["crest".to_string()];
    if let Some(text) = file {
        tmp.write_all(text.as_bytes()).unwrap();
        argv.extend(["--config".into(), tmp.path().display().to_string()]);
    }
    argv.extend(flags.iter().map(|s| s.to_string()));
    let cli = Cli::try_parse_from(argv).map_err(|e| ConfigError(e.to_string()))?;
    Config::load(&cli.args)
}

#[test]
fn defaults_match_the_contract() {
    let c = load(&[], None).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.store.expose(), "sqlite:./data/crest.db");
    assert_eq!(c.mode, Mode::Demo { simulate_failure: false, style: DemoStyle::Steps });
    assert!(!c.strict);
    assert_eq!(c.defaults, Defaults::default());
    assert_eq!(c.header_read_timeout, Duration::from_secs(10));
    assert_eq!(c.idle_timeout, Duration::from_secs(60));
    assert_eq!(c.max_connections, 10_000);
    assert_eq!(c.max_dimensions, 10_000);
}

#[test]
fn connection_settings() {
    let file = "idle_timeout = \"5m\"\nmax_connections = 500\nheader_read_timeout = \"3s\"\n";
    let c = load(&[], Some(file)).unwrap();
    assert_eq!(
        (c.idle_timeout, c.max_connections, c.header_read_timeout),
        (Duration::from_secs(300), 500, Duration::from_secs(3))
    );
    let c = load(&["--idle-timeout", "300ms", "--max-connections", "64"], Some(file)).unwrap();
    assert_eq!((c.idle_timeout, c.max_connections), (Duration::from_millis(300), 64));
}

/// The drain: 0s by default and allowed; the flag beats the file; a bad
/// value names the key, flag and variable.
#[test]
fn shutdown_delay() {
    assert_eq!(load(&[], None).unwrap().shutdown_delay, Duration::ZERO);
    let file = "shutdown_delay = \"15s\"\n";
    assert_eq!(load(&[], Some(file)).unwrap().shutdown_delay, Duration::from_secs(15));
    assert_eq!(load(&["--shutdown-delay", "0s"], Some(file)).unwrap().shutdown_delay, Duration::ZERO);
    let e = load(&["--shutdown-delay", "soon"], None).unwrap_err().to_string();
    assert!(e.contains("config key shutdown_delay (--shutdown-delay, CREST_SHUTDOWN_DELAY): \"soon\""), "{e}");
}

#[test]
fn flags_override_the_file_and_the_file_overrides_defaults() {
    let file = r#"
        listen = "127.0.0.1:9000"
        mode = "production"
        strict = true
        store = "memory:"
        register = ["a", "b"]
        max_dimensions = 50
        [defaults]
        version = "v2"
        desired_capacity = 3.0
    "#;
    let c = load(&["--listen", "0.0.0.0:7000", "--default-version", "v3"], Some(file)).unwrap();
    assert_eq!(c.listen.to_string(), "0.0.0.0:7000");
    assert_eq!(c.mode, Mode::Production);
    assert!(c.strict);
    assert_eq!(c.store.expose(), "memory:");
    assert_eq!(c.register.len(), 2);
    assert_eq!(c.max_dimensions, 50, "from the file");
    assert_eq!(load(&["--max-dimensions", "7"], Some(file)).unwrap().max_dimensions, 7, "the flag wins");
    assert_eq!(c.defaults.version, "v3");
    assert_eq!(c.defaults.desired_capacity.get(), 3.0);
    let c = load(&["--strict=false", "--simulate-failure", "--mode", "demo"], Some(file)).unwrap();
    assert!(!c.strict);
    assert_eq!(c.mode, Mode::Demo { simulate_failure: true, style: DemoStyle::Steps });
}

#[test]
fn errors_name_the_setting() {
    let cases: &[(&[&str], Option<&str>, &str)] = &[
        (&["--listen", "nowhere"], None, "config key listen (--listen, CREST_LISTEN)"),
        (&["--mode", "fast"], None, "config key mode (--mode, CREST_MODE): \"fast\" is not one of demo, production"),
        (&["--log-format", "xml"], None, "log_format"),
        (
            &["--access-log", "yes"],
            None,
            "config key access_log (--access-log, CREST_ACCESS_LOG): \"yes\" is not one of on, off",
        ),
        (
            &["--log-access-budget", "0"],
            None,
            "config key log_access_budget (--log-access-budget, CREST_LOG_ACCESS_BUDGET): must be from 1 to 1000000 \
             access lines a second, got 0; use --access-log off for none",
        ),
        (&["--request-timeout", "soon"], None, "request_timeout"),
        (&["--shutdown-timeout", "0s"], None, "must be longer than 0s"),
        (&["--idle-timeout", "0s"], None, "config key idle_timeout (--idle-timeout, CREST_IDLE_TIMEOUT)"),
        (&["--max-connections", "0"], None, "config key max_connections (--max-connections, CREST_MAX_CONNECTIONS)"),
        (&["--max-connections", "many"], None, "--max-connections"),
        (&["--register", "../x"], None, "register"),
        (
            &["--max-dimensions", "0"],
            None,
            "config key max_dimensions (--max-dimensions, CREST_MAX_DIMENSIONS): must be at least 1; to create no \
             dimensions on first touch, use strict mode (--strict)",
        ),
        (&["--max-dimensions=-1"], None, "--max-dimensions"),
        (&["--default-desired-capacity=-1"], None, "defaults.desired_capacity"),
        (&["--mode", "production", "--simulate-failure"], None, "only applies in demo mode"),
        (&[], Some("listn = \"x\""), "unknown field `listn`"),
        (&[], Some("[defaults]\ndesired_capacity = \"two\""), "desired_capacity"),
        (&[], Some("strict = 3"), "strict"),
        (&["--tls-listen", "0.0.0.0:443"], None, "config key tls_cert (--tls-cert, CREST_TLS_CERT): is required"),
        (&["--tls-cert", "c.pem"], None, "config key tls_cert (--tls-cert, CREST_TLS_CERT): needs tls_listen"),
        (&["--client-cert-pin", "p.pem"], None, "client_cert_pin"),
        (&["--http-api"], None, "config key http_api (--http-api, CREST_HTTP_API): only applies with tls_listen"),
        (&["--tls-listen", ":443", "--tls-cert", "c", "--tls-key", "k"], None, "tls_listen"),
        (
            &["--tls-listen", "0.0.0.0:443", "--tls-cert", "c", "--tls-key", "k", "--client-auth", "required"],
            None,
            "required needs client_ca or client_cert_pin",
        ),
        (
            &["--tls-listen", "0.0.0.0:443", "--tls-cert", "c", "--tls-key", "k", "--client-auth", "maybe"],
            None,
            "client_auth",
        ),
    ];
    for (flags, file, want) in cases {
        let err = load(flags, *file).expect_err(want).to_string();
        assert!(err.contains(want), "{flags:?} {file:?}: {err}");
    }
}

#[test]
fn acme_defaults() {
    let c = load(
        &[
            "--tls-listen",
            "0.0.0.0:443",
            "--acme-domain",
            "API.example.com.",
            "--acme-directory",
            "letsencrypt-staging",
        ],
        None,
    )
    .unwrap();
    assert!(c.tls.unwrap().acme_tls_alpn, "the listener offers acme-tls/1");
    let acme = c.acme.unwrap();
    assert_eq!(acme.domains, ["api.example.com"]);
    assert_eq!(acme.directory, LETSENCRYPT_STAGING);
    assert_eq!(acme.challenge, AcmeChallenge::TlsAlpn01, "tls-alpn-01 on port 443");
    let c = load(
        &["--tls-listen", "0.0.0.0:8443", "--acme-domain", "a.b", "--acme-eab-kid", "k", "--acme-eab-hmac", "s3cr3t"],
        None,
    )
    .unwrap();
    let text = format!("{c:?}");
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(!c.tls.unwrap().acme_tls_alpn, "http-01: no acme-tls/1");
    let acme = c.acme.unwrap();
    assert_eq!((acme.challenge, acme.directory.as_str()), (AcmeChallenge::Http01, LETSENCRYPT));
}

#[test]
fn debug_never_shows_the_store_password() {
    let c = load(&["--store", "postgres://crest:hunter2@db/crest"], None).unwrap();
    let text = format!("{c:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("postgres://***@db/crest"), "{text}");
}

/// The shipped config files are valid, and crest.toml equals the defaults.
#[test]
fn shipped_config_files_load() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    for name in ["crest.toml", "demo.toml", "production.toml"] {
        let path = dir.join(name).display().to_string();
        let c = load(&["--config", &path], None).unwrap_or_else(|e| panic!("{name}: {e}"));
        if name == "production.toml" {
            assert_eq!(c.mode, Mode::Production);
            assert!(c.strict && !c.register.is_empty());
        }
        if name == "crest.toml" {
            let d = Config::default();
            assert_eq!(format!("{c:?}"), format!("{d:?}"), "crest.toml documents the defaults");
        }
    }
}

/// Tokens: sha256, file and env secrets are hashed at load; every mistake
/// names --token-spec; the secret never appears in Debug output.
#[test]
fn tokens_and_certificate_roles() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t");
    std::fs::write(&file, "file-token-0123456789abcdef\n").unwrap();
    let hex = crate::auth::hash("hashed-token-0123456789");
    let c = load(
        &[
            "--token-spec",
            &format!("aas-gw:aas:sha256:{hex}"),
            "--token-spec",
            &format!("scaler:scaler:file:{}", file.display()),
            "--cert-role",
            "CN=scaler-1=scaler",
            "--cert-role",
            &format!("sha256:{}=admin", "AB".repeat(32)),
            "--cert-default-role",
            "read",
        ],
        None,
    )
    .unwrap();
    assert_eq!(c.auth.token("hashed-token-0123456789").map(|t| t.name.as_str()), Some("aas-gw"));
    assert_eq!(c.auth.token("file-token-0123456789abcdef").map(|t| t.role), Some(Role::Scaler));
    let (ab, other) = (Fingerprint::parse(&"ab".repeat(32)).unwrap(), Fingerprint::of(b"x"));
    let name = |t: &str| t.parse::<crate::auth::Name>().unwrap();
    assert_eq!(c.auth.certificate_role(&name("CN=scaler-1"), &other, false), Role::Scaler);
    assert_eq!(c.auth.certificate_role(&name("CN=y"), &ab, false), Role::Admin);
    assert_eq!(c.auth.certificate_role(&name("CN=y"), &other, false), Role::Read);
    assert!(!format!("{c:?}").contains("file-token"), "no secret in Debug");
    assert!(c.deprecated.is_empty(), "{:?}", c.deprecated);
    for (flag, needle) in [
        ("x", "config key token_spec (--token-spec, CREST_TOKEN_SPEC): must be NAME:ROLE:SECRET"),
        ("a:boss:sha256:00", "\"boss\" is not a role"),
        ("a:aas:sha256:00", "sha256: needs 64 hex digits"),
        ("a:aas:plain-token-here-0123456789", "never the token itself"),
        ("a:aas:env:CREST_TEST_SURELY_UNSET_VAR", "CREST_TEST_SURELY_UNSET_VAR is not set"),
        ("a b:aas:sha256:00", "token name \"a b\""),
    ] {
        let e = load(&["--token-spec", flag], None).unwrap_err().to_string();
        assert!(e.contains(needle), "{flag}: {e}");
    }
    let short = dir.path().join("short");
    std::fs::write(&short, "abc").unwrap();
    let e = load(&["--token-spec", &format!("a:aas:file:{}", short.display())], None).unwrap_err().to_string();
    assert!(e.contains("at least 16 characters"), "{e}");
    let e = load(&["--cert-role", "CN=x"], None).unwrap_err().to_string();
    assert!(e.contains("\"x\" is not a role"), "{e}");
}

/// The old name of --token-spec (`--token`, `token` in the file) still
/// works, with a deprecation; a layer that gives either name replaces both
/// of the layer below.
#[test]
fn the_old_token_spelling_still_works() {
    let hex = crate::auth::hash("hashed-token-0123456789");
    let c = load(&["--token", &format!("old:aas:sha256:{hex}")], None).unwrap();
    assert_eq!(c.auth.token("hashed-token-0123456789").map(|t| t.name.as_str()), Some("old"));
    assert!(c.deprecated.iter().any(|w| w.contains("--token-spec")), "{:?}", c.deprecated);
    let file = format!("token = [\"file:read:sha256:{hex}\"]\n");
    let c = load(&[], Some(&file)).unwrap();
    assert_eq!(c.auth.token("hashed-token-0123456789").map(|t| t.name.as_str()), Some("file"));
    assert_eq!(c.deprecated.len(), 1);
    let other = crate::auth::hash("other-token-0123456789");
    let c = load(&["--token-spec", &format!("flag:read:sha256:{other}")], Some(&file)).unwrap();
    assert_eq!(c.auth.tokens.len(), 1, "the flag replaces the file's list");
    assert!(c.deprecated.is_empty(), "{:?}", c.deprecated);
    let e = load(&["--cert-role", "CN=a=admin,CN=b=read"], None).unwrap_err().to_string();
    assert!(e.contains("separate mappings with ';'"), "{e}");
}

/// Unknown store URLs are config errors naming key, flag and variable.
#[test]
fn unknown_store_urls() {
    for url in ["bogus", "mysql://u:pw@h/db", "memory:foo", "sqlite:", "file://"] {
        let e = load(&["--store", url], None).unwrap_err().to_string();
        assert!(e.starts_with("config key store (--store, CREST_STORE): "), "{url}: {e}");
        assert!(!e.contains("pw@"), "{e}");
    }
    for url in ["memory:", "memory", "file:/tmp/x", "sqlite:///tmp/x.db", "postgresql://h/db"] {
        assert!(load(&["--store", url], None).is_ok(), "{url}");
    }
}

/// `--cert-role` subjects are parsed (RFC 4514, the certificate's RDN
/// order): `CN=ops, O=Admins` is two RDNs, `CN=ops\, O=Admins` one CN.
#[test]
fn certificate_role_subjects_are_parsed_names() {
    let c = load(&["--cert-role", "CN=ops, O=Admins=admin", "--cert-role", r"CN=x\=y\, z=read"], None).unwrap();
    let name = |t: &str| t.parse::<crate::auth::Name>().unwrap();
    let any = Fingerprint::of(b"x");
    assert_eq!(c.auth.certificate_role(&name("CN=ops,O=Admins"), &any, false), Role::Admin);
    assert_eq!(c.auth.certificate_role(&name(r"CN=ops\, O=Admins"), &any, false), Role::Aas);
    assert_eq!(c.auth.certificate_role(&name("O=Admins, CN=ops"), &any, false), Role::Aas);
    assert_eq!(c.auth.certificate_role(&name(r"CN=x=y\, z"), &any, false), Role::Read);
    // ';' separates mappings in a flag or variable: a ';' in a value is \3B.
    let c = load(&["--cert-role", r"CN=a\3Bb=scaler;CN=c=read"], None).unwrap();
    assert_eq!(c.auth.certificate_role(&name(r"CN=a\;b"), &any, false), Role::Scaler);
    assert_eq!(c.auth.certificate_role(&name("CN=c"), &any, false), Role::Read);
    for (spec, needle) in [
        ("CN=a<b=admin", "config key cert_role (--cert-role, CREST_CERT_ROLE): \"CN=a<b\" is not a distinguished name"),
        ("XX=a=admin", "unknown attribute type \"XX\""),
        ("scaler=admin", "has no \"=\""),
        (r"CN=a\q=admin", "must be followed by"),
    ] {
        let e = load(&["--cert-role", spec], None).unwrap_err().to_string();
        assert!(e.contains(needle), "{spec}: {e}");
    }
}

#[test]
fn demo_styles() {
    let c = load(&["--demo-style", "gradual", "--demo-step", "0.5"], None).unwrap();
    assert_eq!(
        c.mode,
        Mode::Demo { simulate_failure: false, style: DemoStyle::Gradual { step: Capacity::new(0.5).unwrap() } }
    );
    let c = load(&["--demo-style", "timed"], None).unwrap();
    assert_eq!(
        c.mode,
        Mode::Demo { simulate_failure: false, style: DemoStyle::Timed { rate: Capacity::new(1.0).unwrap() } }
    );
    for (flags, needle) in [
        (&["--demo-style", "fast"][..], "\"fast\" is not one of steps, gradual, timed"),
        (
            &["--demo-step", "2"][..],
            "config key demo_step (--demo-step, CREST_DEMO_STEP): only applies with demo_style = \"gradual\"",
        ),
        (&["--demo-style", "timed", "--demo-rate", "0"][..], "must be a number > 0"),
        (&["--demo-style", "gradual", "--mode", "production"][..], "only applies in demo mode"),
    ] {
        let e = load(flags, None).unwrap_err().to_string();
        assert!(e.contains(needle), "{flags:?}: {e}");
    }
}
