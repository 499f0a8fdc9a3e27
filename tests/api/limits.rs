//! Limits and refusals: the rate limit runs after authentication (each
//! token or certificate has its own bucket, anonymous callers share their
//! address's), and every 401, 403 and 429 is logged once, with the request
//! id, peer, reason and token name but never the token, at most a fixed
//! number of lines per second (the rest are counted).

use crate::certs::{api_gateway_style, valid_for};
use crate::helpers::{StoreKind, spawn_app};
use crate::process::{Proc, start};
use crate::tls::Files;
use crate::wait::wait_until;
use crest::auth::{AuthConfig, Role, Token, hash};
use crest::http::rate_limit::RateLimit;
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

const DIM: &str = "/v1/scalableTargetDimensions/lim";

/// Two `read` tokens and an `admin` one.
fn tokens() -> AuthConfig {
    AuthConfig {
        tokens: [("alpha", "alpha-secret-0123456789"), ("beta", "beta-secret-0123456789")]
            .into_iter()
            .map(|(name, secret)| Token { name: name.into(), role: Role::Read, sha256: hash(secret) })
            .collect(),
        ..AuthConfig::default()
    }
}

async fn status(client: &reqwest::Client, url: &str, token: Option<&str>) -> u16 {
    let mut r = client.get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap().status().as_u16()
}

/// Two token clients behind one address each get their own burst; the
/// anonymous callers of that address have a third bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_token_has_its_own_bucket_behind_one_address() {
    let app = spawn_app(StoreKind::Memory, |c| {
        c.auth = tokens();
        // `read` callers never create it (tests/api/bounds.rs).
        c.register = vec![crest::domain::DimensionId::parse("lim").unwrap()];
        c.rate_limit = Some(RateLimit { rate: 0.01, burst: 3 });
    })
    .await;
    let url = app.url(DIM);
    for (who, token) in [("alpha", "alpha-secret-0123456789"), ("beta", "beta-secret-0123456789")] {
        for n in 0..3 {
            assert_eq!(status(&app.client, &url, Some(token)).await, 200, "{who}: request {n} is within its burst");
        }
        assert_eq!(status(&app.client, &url, Some(token)).await, 429, "{who}: over its burst");
    }
    // The address's own bucket is untouched by the tokens' requests.
    for n in 0..3 {
        assert_eq!(status(&app.client, &url, None).await, 401, "anonymous request {n}");
    }
    assert_eq!(status(&app.client, &url, None).await, 429, "anonymous, over the address's burst");
    assert_eq!(status(&app.client, &url, Some("alpha-secret-0123456789")).await, 429, "alpha stays limited");
    app.stop().await;
}

/// A client bound to `source` (another loopback address).
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(source.parse::<IpAddr>().unwrap()).build().unwrap()
}

/// Anonymous and bad-token requests count against their address: a flood
/// of them turns into 429s, while a token client on that address and
/// anonymous callers on another address are not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthenticated_flood_is_limited_per_address() {
    let app = spawn_app(StoreKind::Memory, |c| {
        c.auth = tokens();
        // `read` callers never create it (tests/api/bounds.rs).
        c.register = vec![crest::domain::DimensionId::parse("lim").unwrap()];
        c.rate_limit = Some(RateLimit { rate: 0.01, burst: 5 });
    })
    .await;
    let url = app.url(DIM);
    let flood = client_from("127.0.0.1");
    let mut statuses = Vec::new();
    for n in 0..30 {
        let token = (n % 2 == 0).then_some("not-a-token-0123456789");
        statuses.push(status(&flood, &url, token).await);
    }
    assert_eq!(statuses[..5], [401; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(status(&flood, &url, Some("beta-secret-0123456789")).await, 200, "a token has its own bucket");
    let other = client_from("127.0.0.2");
    assert_eq!(status(&other, &url, None).await, 401, "another address has its own bucket");
    app.stop().await;
}

/// Starts the real binary with JSON logs and `extra` arguments; returns it
/// and its `crest ready` line.
fn serve(extra: &[&str], env: &[(&str, &str)]) -> (Proc, Value) {
    let mut args = vec!["--listen", "127.0.0.1:0", "--store", "memory:", "--log-format", "json"];
    args.extend_from_slice(extra);
    let p = start(&args, env);
    let line = p.wait_for("crest ready");
    let ready = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
    (p, ready)
}

/// The plain HTTP API's base URL.
fn base(ready: &Value) -> String {
    format!("http://{}", ready["listen"].as_str().unwrap())
}

/// Stops `p` and returns every JSON line it logged after `crest ready`.
fn lines_of(p: Proc) -> (Vec<Value>, String) {
    p.signal("-TERM");
    let (code, text) = p.finish();
    assert_eq!(code, Some(0), "{text}");
    let lines = text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect();
    (lines, text)
}

/// The lines whose request id is `id`.
fn with_id<'a>(lines: &'a [Value], id: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["request_id"] == id).collect()
}

const SCALER_SECRET: &str = "scaler-bot-secret-0123456789";

async fn send(req: reqwest::RequestBuilder, id: &str) -> u16 {
    req.header("x-request-id", id).send().await.unwrap().status().as_u16()
}

/// A 401 (no credentials, an unknown token), a 403 (a role that may not)
/// and a 429 each give exactly one log line: request id, peer, status,
/// reason, the token's name when known, never a token.
#[test]
fn rejections_are_logged_once_without_secrets() {
    let (p, ready) = serve(
        &[
            "--token",
            "scaler-bot:scaler:env:CREST_TEST_SCALER_TOKEN",
            "--rate-limit",
            "0.01",
            "--rate-limit-burst",
            "2",
        ],
        &[("CREST_TEST_SCALER_TOKEN", SCALER_SECRET)],
    );
    let url = format!("{}{DIM}", base(&ready));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        assert_eq!(send(c.get(&url), "r401").await, 401);
        assert_eq!(send(c.get(&url).bearer_auth("wrong-secret-0123456789"), "r401b").await, 401);
        let patch = c.patch(&url).bearer_auth(SCALER_SECRET).json(&serde_json::json!({"desiredCapacity": 2.0}));
        assert_eq!(send(patch, "r403").await, 403);
        assert_eq!(send(c.get(&url).bearer_auth(SCALER_SECRET), "ok").await, 200);
        assert_eq!(send(c.get(&url).bearer_auth(SCALER_SECRET), "r429").await, 429);
    });
    let (lines, text) = lines_of(p);
    assert!(!text.contains(SCALER_SECRET) && !text.contains("wrong-secret"), "a token in the log:\n{text}");
    for (id, status, reason, token) in [
        ("r401", 401, "no_credentials", None),
        ("r401b", 401, "unknown_token", None),
        ("r403", 403, "role", Some("scaler-bot")),
        ("r429", 429, "rate_limit", Some("scaler-bot")),
    ] {
        let found = with_id(&lines, id);
        assert_eq!(found.len(), 1, "{id}: one line, got {found:?}\n{text}");
        let line = found[0];
        assert_eq!(line["message"], "request rejected", "{line}");
        assert_eq!(line["level"], "WARN", "{line}");
        assert_eq!(line["status"], status, "{line}");
        assert_eq!(line["reason"], reason, "{line}");
        assert!(line["peer"].as_str().is_some_and(|p| p.starts_with("127.0.0.1:")), "{line}");
        assert_eq!(line["route"], "/v1/scalableTargetDimensions/{id}", "{line}");
        match token {
            Some(name) => assert_eq!(line["token"], name, "{line}"),
            None => assert!(line.get("token").is_none(), "{line}"),
        }
    }
    assert_eq!(with_id(&lines, "r403")[0]["role"], "scaler");
    let ok = with_id(&lines, "ok");
    assert!(ok.iter().any(|l| l["message"] == "request" && l["target"] == "crest::access"), "{ok:?}");
    assert!(ok.iter().all(|l| l["message"] != "request rejected"), "{ok:?}");
}

/// The certificate gate's 403 is logged the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_gate_logs_its_rejections_the_same_way() {
    let f = Files::new();
    let (pin, _) = f.write(&api_gateway_style("ApiGateway", valid_for(365)), "apigw");
    let (cert, key, pin) = (f.cert.display().to_string(), f.key.display().to_string(), pin.display().to_string());
    #[rustfmt::skip]
    let (p, ready) = serve(&[
        "--tls-listen", "127.0.0.1:0", "--tls-cert", &cert, "--tls-key", &key, "--client-cert-pin", &pin,
    ], &[]);
    let tls: SocketAddr = ready["tls_listen"].as_str().unwrap().parse().unwrap();
    let r = f.client(tls, None).get(format!("https://localhost:{}{DIM}", tls.port())).header("x-request-id", "gate403");
    assert_eq!(r.send().await.unwrap().status(), 403);
    let (lines, text) = lines_of(p);
    let found = with_id(&lines, "gate403");
    assert_eq!(found.len(), 1, "{found:?}\n{text}");
    let line = found[0];
    assert_eq!(line["message"], "request rejected", "{line}");
    assert_eq!(line["status"], 403, "{line}");
    assert_eq!(line["reason"], "no_certificate", "{line}");
    assert!(line["peer"].as_str().is_some_and(|p| p.starts_with("127.0.0.1:")), "{line}");
}

/// How many rejection lines crest writes per second, at most.
const LOGGED_PER_SECOND: f64 = 10.0;

/// The value of an unlabelled counter in `/metrics` text (0 when absent).
fn counter(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// 1,000 bad-token requests: at most the limit of lines per second is
/// written; every other rejection is counted, and the count is logged with
/// the next line that is written.
#[test]
fn a_flood_of_401s_logs_at_most_the_limit_and_counts_the_rest() {
    let (p, ready) = serve(
        &["--token", "scaler-bot:scaler:env:CREST_TEST_SCALER_TOKEN"],
        &[("CREST_TEST_SCALER_TOKEN", SCALER_SECRET)],
    );
    let base = base(&ready);
    let url = format!("{base}{DIM}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (flood_time, probes) = rt.block_on(async {
        let c = reqwest::Client::new();
        let bad = |id: String| c.get(&url).bearer_auth("flood-secret-0123456789").header("x-request-id", id);
        let started = Instant::now();
        for n in 0..1000 {
            assert_eq!(bad(format!("flood-{n}")).send().await.unwrap().status(), 401);
        }
        let flood_time = started.elapsed();
        // Once a second has passed a rejection is logged again, and with it
        // the count of those that were not: probe until the counter of
        // unlogged rejections stays put.
        let suppressed = async || {
            let r = c.get(format!("{base}/metrics")).bearer_auth(SCALER_SECRET).send().await.unwrap();
            counter(&r.text().await.unwrap(), "crest_log_rejections_suppressed_total")
        };
        let mut probes = 0;
        wait_until(Duration::from_secs(10), "a rejection was logged again", async || {
            let before = suppressed().await;
            assert_eq!(bad(format!("probe-{probes}")).send().await.unwrap().status(), 401);
            probes += 1;
            let after = suppressed().await;
            if after == before { Ok(()) } else { Err(format!("suppressed {before} -> {after}")) }
        })
        .await;
        (flood_time, probes)
    });
    let (lines, text) = lines_of(p);
    assert!(!text.contains("flood-secret") && !text.contains(SCALER_SECRET), "a token in the log");
    let rejected = |prefix: &str| {
        lines
            .iter()
            .filter(|l| l["message"] == "request rejected" && l["request_id"].as_str().unwrap().starts_with(prefix))
            .count()
    };
    let (flood_lines, probe_lines) = (rejected("flood-"), rejected("probe-"));
    let most = (LOGGED_PER_SECOND * (flood_time.as_secs_f64().ceil() + 1.0)) as usize;
    assert!((1..=most).contains(&flood_lines), "{flood_lines} lines in {flood_time:?} (at most {most})");
    let counts: Vec<u64> = lines
        .iter()
        .filter(|l| l["message"] == "rejections not logged")
        .map(|l| l["count"].as_u64().unwrap())
        .collect();
    assert!(!counts.is_empty(), "the unlogged rejections are reported");
    let unlogged: u64 = counts.iter().sum();
    assert_eq!(
        flood_lines + probe_lines + unlogged as usize,
        1000 + probes,
        "every rejection is logged or counted: {counts:?}"
    );
}
