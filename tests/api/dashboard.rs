//! deploy/grafana/crest.json against a real crest: every metric name in
//! every PromQL expression of the dashboard (panels and variables) is a
//! sample name of `/metrics` after a walkthrough of a crest that has all
//! its parts on: the API (a scaling to its end, an error), HTTPS with a
//! certificate from ACME (pebble) and a pinned client certificate, and a
//! Postgres store (the pool).

use crate::acme::{acme_config, wait_for_cert};
use crate::helpers::StoreKind;
use crate::helpers::{spawn_with, test_config};
use crate::pebble::{Pebble, free_port};
use crate::wait::wait_until;
use crest::acme::AcmeChallenge;
use crest::secret::Secret;
use crest::tls::{ClientAuth, TlsOptions};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

const DASHBOARD: &str = include_str!("../../deploy/grafana/crest.json");

/// PromQL words that are not metric names: keywords, and the aggregation
/// operators (`sum by (x) (...)`: not followed by `(`).
const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// The metric names in a PromQL expression: identifiers that are not a
/// function (followed by `(`), a keyword, a label name (in `{...}` or in
/// the list after `by`, `on`...), a string, a range or a number.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_past(&chars, i + 1, c, Some('\\'));
        } else if c == '{' {
            // Label matchers: their strings may hold `}`.
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '}' {
                j = if chars[j] == '"' { skip_past(&chars, j + 1, '"', Some('\\')) } else { j + 1 };
            }
            i = j + 1;
        } else if c == '[' {
            i = skip_past(&chars, i + 1, ']', None);
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | '_')) {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' || c == '$' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | ':' | '$')) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while chars.get(next).is_some_and(|c| c.is_whitespace()) {
                next += 1;
            }
            let call = chars.get(next) == Some(&'(');
            if ["by", "without", "on", "ignoring", "group_left", "group_right"].contains(&word.as_str()) && call {
                i = skip_past(&chars, next + 1, ')', None);
            } else if !call && !word.starts_with('$') && !KEYWORDS.contains(&word.to_ascii_lowercase().as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The index after the first `end` at or after `from` (`escape` skips the
/// character after it).
fn skip_past(chars: &[char], mut from: usize, end: char, escape: Option<char>) -> usize {
    while from < chars.len() && chars[from] != end {
        from += if Some(chars[from]) == escape { 2 } else { 1 };
    }
    from + 1
}

/// Every PromQL expression of the dashboard: panel targets, and the metric
/// selectors of `label_values(SELECTOR, label)` variables.
fn expressions(dashboard: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            out.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = var["query"]["query"].as_str() {
            let inner = query.strip_prefix("label_values(").and_then(|q| q.rsplit_once(',')).unwrap().0;
            out.push(inner.to_owned());
        }
    }
    out
}

/// Sample names on a scrape (`name{labels} value` and `name value` lines).
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
        .collect()
}

/// The names of `exprs` that are not in `scraped`, with their expression.
fn missing(exprs: &[String], scraped: &BTreeSet<String>) -> Vec<(String, String)> {
    exprs
        .iter()
        .flat_map(|e| metric_names(e).into_iter().filter(|n| !scraped.contains(n)).map(move |n| (n, e.clone())))
        .collect()
}

#[test]
fn promql_metric_names_are_extracted() {
    let expr = r#"max by (dimension) (crest_a{job=~"$job", x="}"} and on (instance, dimension) (crest_b{status=~"P|I"} == 1)) / ignoring(le) histogram_quantile(0.99, sum by (le) (rate(crest_c_bucket[$__rate_interval]))) - time() + 1e3 offset 5m"#;
    let want: BTreeSet<String> = ["crest_a", "crest_b", "crest_c_bucket"].map(String::from).into();
    assert_eq!(metric_names(expr), want);
}

#[test]
fn every_panel_has_a_query_and_uses_the_datasource_variable() {
    let d: Value = serde_json::from_str(DASHBOARD).unwrap();
    assert_eq!(d["__inputs"][0]["name"], "DS_PROMETHEUS");
    for panel in d["panels"].as_array().unwrap().iter().filter(|p| p["type"] != "row") {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}", panel["title"]);
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${DS_PROMETHEUS}", "{}", panel["title"]);
            assert!(!metric_names(t["expr"].as_str().unwrap()).is_empty(), "{}: no metric", panel["title"]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_of_the_dashboard_is_in_a_real_scrape() {
    let test = "every_metric_of_the_dashboard_is_in_a_real_scrape";
    if !crate::pebble::available(test) || !crate::pg::available(test).await {
        return;
    }
    let db = crate::pg::TestDb::create().await;
    let ports = (free_port(), free_port());
    let pebble = Pebble::start(ports.0, ports.1, None).await;
    let dir = tempfile::tempdir().unwrap();
    let pin = crate::certs::Ca::new("scaler CA").client("scaler").write(dir.path(), "pinned").0;
    let mut config = test_config(StoreKind::Memory, dir.path());
    config.store = Secret::new(db.url.clone());
    config.listen = SocketAddr::from(([127, 0, 0, 1], ports.0));
    config.http_api = true;
    config.acme = Some(acme_config(&pebble, AcmeChallenge::Http01));
    config.tls = Some(TlsOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], ports.1)),
        cert: None,
        key: None,
        acme_tls_alpn: false,
        client_ca: vec![],
        client_cert_pin: vec![pin],
        client_auth: ClientAuth::Optional,
        handshake_timeout: Duration::from_secs(10),
        reload_interval: Duration::from_secs(3600),
    });
    let app = spawn_with(config, dir).await;
    let root = pebble.issuing_root().await;
    wait_for_cert(&root, app.tls_addr.unwrap(), Duration::from_secs(30), None).await;

    // The walkthrough: a demo scaling to its end, a refused PATCH, health.
    assert_eq!(app.patch("dash", json!({"desiredCapacity": 3.0})).await.0, 200);
    assert_eq!(app.get("dash").await.1["scalingStatus"], "InProgress");
    assert_eq!(app.get("dash").await.1["scalingStatus"], "Successful");
    assert_eq!(app.patch("dash", json!({"desiredCapacity": -1})).await.0, 400);
    for path in ["/livez", "/readyz"] {
        assert_eq!(app.client.get(app.url(path)).send().await.unwrap().status(), 200, "{path}");
    }
    let d: Value = serde_json::from_str(DASHBOARD).unwrap();
    let exprs = expressions(&d);
    assert!(exprs.len() > 20, "{exprs:?}");
    // ACME sets its renewal time just after it installed the certificate.
    let scraped = wait_until(Duration::from_secs(20), "dashboard metrics crest does not serve", async || {
        let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        let scraped = sample_names(&text);
        match missing(&exprs, &scraped) {
            absent if absent.is_empty() => Ok(scraped),
            absent => Err(format!("{absent:#?}\nscrape:\n{text}")),
        }
    })
    .await;
    // The check can fail: a name crest does not have is reported.
    let bogus = ["rate(crest_no_such_metric_total[5m])".to_owned()];
    assert_eq!(missing(&bogus, &scraped).len(), 1);
    app.stop().await;
    drop(db);
}
