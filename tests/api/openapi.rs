//! `/openapi.json` says what crest accepts: it validates with
//! openapi-spec-validator, lists exactly the router's routes, and its
//! request schemas, parameters and security are judged twice, by the
//! document (Python `jsonschema` and `re`) and by crest itself, and the
//! two verdicts must agree.

use crate::helpers::{StoreKind, TestApp, raw, spawn_app};
use crate::operations::python;
use crest::auth::{AuthConfig, Role, Token, hash};
use crest::domain::Mode;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

async fn document(app: &TestApp, token: Option<&str>) -> Value {
    let mut req = app.client.get(app.url("/openapi.json"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The `in: query` (or header, path) parameter `name` of `operation_id`.
fn parameter<'d>(doc: &'d Value, operation_id: &str, name: &str) -> &'d Value {
    let operations = doc["paths"].as_object().unwrap().values().flat_map(|item| item.as_object().unwrap().values());
    let operation = operations.clone().find(|op| op["operationId"] == operation_id).unwrap();
    operation["parameters"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap()
}

/// `/openapi.json` validates with openapi-spec-validator, documents exactly
/// the router's paths, and every documented operation is routed (no 404
/// "no route", no 405).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_router() {
    let app = spawn_app(StoreKind::Memory, |_| {}).await;
    let doc = document(&app, None).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);
    let documented: BTreeSet<&str> = doc["paths"].as_object().unwrap().keys().map(String::as_str).collect();
    let routed: BTreeSet<&str> = crest::http::route_paths(true).into_iter().collect();
    assert_eq!(documented, routed, "every route documented, nothing else");
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", "doc-check").replace("{token}", "tok");
        for method in item.as_object().unwrap().keys() {
            if path.ends_with("/watch") {
                // An endless event stream: check the head only.
                let r = app.client.get(app.url(&concrete)).send().await.unwrap();
                assert_eq!(r.status(), 200, "{method} {path}");
                continue;
            }
            let body = match method.as_str() {
                "patch" => r#"{"desiredCapacity": 2}"#,
                "put" => r#"{"maxCapacity": 100}"#,
                _ => "",
            };
            let head = format!("{} {concrete} HTTP/1.1\r\nContent-Type: application/json", method.to_uppercase());
            let (status, _, text) = raw(app.addr, &head, body).await;
            assert!(status != 405 && !text.contains("no route for"), "{method} {path}: {status} {text}");
        }
    }
    // Every error response documents the JSON error body.
    let text = doc.to_string();
    assert!(text.contains("\"ErrorBody\""), "ErrorBody schema present");
    // The contract the descriptions point to is one a reader of the
    // document can open (the README), not a file outside the repository.
    assert!(!text.contains("CONTRACT.md"), "no reference to a CONTRACT.md");
    python(
        "openapi_spec_validator",
        "import sys, json\nfrom openapi_spec_validator import validate\nvalidate(json.load(sys.stdin))\nprint('valid')",
        &text,
    );
    app.stop().await;
}

/// Judges each `(schema, body)` by the document (Python `jsonschema`,
/// draft 2020-12): true when the body is valid. None: not installed.
fn judged_by_document(doc: &Value, cases: &[(&str, Value)]) -> Option<Vec<bool>> {
    const JUDGE: &str = "import sys, json\n\
from jsonschema import Draft202012Validator\n\
d = json.load(sys.stdin)\n\
judge = lambda name, body: Draft202012Validator({'$ref': '#/components/schemas/' + name, 'components': d['components']}).is_valid(body)\n\
print(json.dumps([judge(name, body) for name, body in d['cases']]))";
    let input = json!({"components": doc["components"], "cases": cases});
    Some(serde_json::from_str(&python("jsonschema", JUDGE, &input.to_string())?).unwrap())
}

/// The PATCH and PUT bodies: no PATCH field is nullable and a PATCH body
/// needs one of its fields; a PUT body may be `{}` and its bounds `null`.
/// Each sample body is sent to crest (production mode, a fresh dimension
/// each) and judged by the document: the verdicts agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_are_what_crest_accepts() {
    let app = spawn_app(StoreKind::Memory, |c| c.mode = Mode::Production).await;
    let doc = document(&app, None).await;
    let patch = &doc["components"]["schemas"]["PatchRequest"];
    assert_eq!(patch["minProperties"], 1, "{patch}");
    for (name, field) in patch["properties"].as_object().unwrap() {
        assert!(!field.to_string().contains("null"), "PATCH {name} is never null: {field}");
    }
    let put = &doc["components"]["schemas"]["RegisterRequest"];
    assert!(put.get("minProperties").is_none(), "PUT {{}} registers with the defaults: {put}");

    let long = |n: usize| "x".repeat(n);
    let cases: Vec<(&str, Value)> = vec![
        ("PatchRequest", json!({})),
        ("PatchRequest", json!({"colour": "red"})),
        ("PatchRequest", json!([{"desiredCapacity": 2}])),
        ("PatchRequest", json!({"desiredCapacity": null})),
        ("PatchRequest", json!({"actualCapacity": null})),
        ("PatchRequest", json!({"scalingStatus": null})),
        ("PatchRequest", json!({"scalingStatus": "Failed", "failureReason": null})),
        ("PatchRequest", json!({"desiredCapacity": 2})),
        ("PatchRequest", json!({"desiredCapacity": 2.5, "colour": "red"})),
        ("PatchRequest", json!({"desiredCapacity": -1})),
        ("PatchRequest", json!({"desiredCapacity": "2"})),
        ("PatchRequest", json!({"actualCapacity": 0})),
        ("PatchRequest", json!({"scalingStatus": "InProgress"})),
        ("PatchRequest", json!({"scalingStatus": "Done"})),
        ("PatchRequest", json!({"scalingStatus": "Failed", "failureReason": "quota"})),
        ("PatchRequest", json!({"scalingStatus": "Successful", "failureReason": "quota"})),
        ("PatchRequest", json!({"failureReason": "quota"})),
        ("PatchRequest", json!({"scalingStatus": "Failed", "failureReason": 7})),
        ("PatchRequest", json!({"scalingStatus": "Failed", "failureReason": "a\u{0}b"})),
        ("PatchRequest", json!({"scalingStatus": "Failed", "failureReason": long(4096)})),
        ("PatchRequest", json!({"scalingStatus": "Failed", "failureReason": long(4097)})),
        ("RegisterRequest", json!({})),
        ("RegisterRequest", json!({"minCapacity": null, "maxCapacity": null})),
        ("RegisterRequest", json!({"maxCapacity": 5, "version": "v2", "resourceName": "web"})),
        ("RegisterRequest", json!({"version": null, "desiredCapacity": null})),
        ("RegisterRequest", json!({"version": ""})),
        ("RegisterRequest", json!({"dimensionName": "a\u{1}b"})),
        ("RegisterRequest", json!({"resourceName": "a\u{85}b"})),
        ("RegisterRequest", json!({"version": long(1024)})),
        ("RegisterRequest", json!({"version": long(1025)})),
        ("RegisterRequest", json!({"minCapacity": -1})),
        ("RegisterRequest", json!({"maxCapacity": "5"})),
        ("RegisterRequest", json!({"colour": "red"})),
    ];
    judge_both(&app, &doc, &cases).await;
    app.stop().await;
}

/// Sends each `(schema, body)` to crest (PATCH or PUT, a fresh dimension
/// each) and judges it by the document: the verdicts agree.
async fn judge_both(app: &TestApp, doc: &Value, cases: &[(&str, Value)]) {
    let Some(documented) = judged_by_document(doc, cases) else { return };
    for (n, ((schema, body), documented)) in cases.iter().zip(documented).enumerate() {
        let url = app.dim_url(&format!("body-{n}"));
        let req = if *schema == "PatchRequest" { app.client.patch(url) } else { app.client.put(url) };
        let r = req.json(body).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert!(status == 400 || (200..300).contains(&status), "{schema} {body}: {status} {text}");
        let accepted = status != 400;
        assert_eq!(documented, accepted, "{schema} {body}: the document says {documented}, crest {status} {text}");
    }
}

/// A demo server's document: a PATCH body sets desiredCapacity and carries
/// none of the scaler's fields, which crest refuses there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_patch_bodies_are_what_crest_accepts() {
    let app = spawn_app(StoreKind::Memory, |_| {}).await;
    let doc = document(&app, None).await;
    let patch = &doc["components"]["schemas"]["PatchRequest"];
    assert_eq!(patch["minProperties"], 1, "{patch}");
    assert!(patch["description"].as_str().unwrap().contains("demo mode"), "{patch}");
    let cases: Vec<(&str, Value)> = vec![
        ("PatchRequest", json!({"desiredCapacity": 2})),
        ("PatchRequest", json!({"desiredCapacity": 3, "colour": "red"})),
        ("PatchRequest", json!({})),
        ("PatchRequest", json!({"colour": "red"})),
        ("PatchRequest", json!({"desiredCapacity": null})),
        ("PatchRequest", json!({"actualCapacity": 0})),
        ("PatchRequest", json!({"desiredCapacity": 2, "scalingStatus": "Pending"})),
        ("PatchRequest", json!({"scalingStatus": "Failed", "failureReason": "quota"})),
        ("PatchRequest", json!({"desiredCapacity": 2, "failureReason": "quota"})),
    ];
    judge_both(&app, &doc, &cases).await;
    app.stop().await;
}

/// Durations in every unit crest knows, around its longest wait (2 s here):
/// the pattern matches a text exactly when `n * unit <= max`.
const WAIT_PATTERN_CHECK: &str = r#"
import sys, json, re
d = json.load(sys.stdin)
pattern, max_ns = re.compile(d['pattern']), d['max_ns']
units = {1: ['nanos', 'nsec', 'ns'], 10**3: ['usec', 'us', '\u00b5s'], 10**6: ['millis', 'msec', 'ms'],
  10**9: ['seconds', 'second', 'secs', 'sec', 's'], 60 * 10**9: ['minutes', 'minute', 'min', 'mins', 'm'],
  3600 * 10**9: ['hours', 'hour', 'hr', 'hrs', 'h'], 86400 * 10**9: ['days', 'day', 'd'],
  604800 * 10**9: ['weeks', 'week', 'wk', 'wks', 'w'], 2630016 * 10**9: ['months', 'month', 'M'],
  31557600 * 10**9: ['years', 'year', 'yr', 'yrs', 'y']}
wrong = []
for mult, names in units.items():
    top = max_ns // mult
    numbers = set(range(min(top, 1200) + 3)) | set(range(max(top - 1200, 0), top + 3)) | {top * 10, 10**25}
    for n in sorted(numbers):
        texts = [str(n) + name for name in names] + ['00' + str(n) + names[0], ' ' + str(n) + ' ' + names[-1] + '\t']
        wrong += [t for t in texts if bool(pattern.search(t)) != (n * mult <= max_ns)]
print(json.dumps({'wrong': wrong[:20], 'verdicts': [bool(pattern.search(t)) for t in d['samples']]}))
"#;

/// Query parameters: `wait` is a duration crest accepts, up to its longest
/// wait (request_timeout − 1 s); `watch?id=` is an id, never empty;
/// `after` and `before` are revisions. The document and crest agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_parameters_are_what_crest_accepts() {
    let app = spawn_app(StoreKind::Memory, |c| c.request_timeout = Duration::from_secs(3)).await;
    let doc = document(&app, None).await;
    let wait = &parameter(&doc, "getDimension", "wait")["schema"];
    let pattern = wait["pattern"].as_str().unwrap_or_else(|| panic!("wait has a pattern: {wait}"));
    // Gaps the pattern leaves, on the safe side: humantime also adds up
    // several numbers and takes fractions.
    let gaps = ["0.5s", "1s 500ms", "1 0ms"];
    let samples = [
        "0",
        "2s",
        "3s",
        "2000ms",
        "2001ms",
        "0h",
        "1m",
        "002s",
        "2000000us",
        "2000000\u{b5}s",
        "2000000\u{3bc}s",
        "2000000000ns",
        "2000000001ns",
        "2 s",
        " 2s\t",
        "2seconds",
        "",
        "s",
        "1",
        "-1s",
        "1e3ms",
        "0x1s",
        "1S",
        "00",
        " 0",
        "2 s 1",
        "+1s",
    ];
    let all: Vec<&str> = samples.iter().chain(&gaps).copied().collect();
    let input = json!({"pattern": pattern, "max_ns": 2_000_000_000u64, "samples": all});
    if let Some(out) = python("re", WAIT_PATTERN_CHECK, &input.to_string()) {
        let out: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(out["wrong"], json!([]), "the pattern's verdicts on these are wrong: {pattern}");
        assert_eq!(app.get("w").await.0, 200);
        for (text, documented) in all.iter().zip(out["verdicts"].as_array().unwrap()) {
            // after=0: the answer comes at once (the revision is past 0).
            let r = app.dim_url("w");
            let r = app.client.get(r).query(&[("wait", *text), ("after", "0")]).send().await.unwrap();
            let accepted = r.status() == 200;
            assert!(accepted || r.status() == 400, "wait={text:?}: {}", r.status());
            let documented = documented.as_bool().unwrap();
            if gaps.contains(text) {
                assert!(accepted && !documented, "wait={text:?} is a gap of the pattern");
            } else {
                assert_eq!(documented, accepted, "wait={text:?}: the pattern says {documented}, crest {}", r.status());
            }
        }
    }
    // The stream's id: an id, never empty.
    let id = &parameter(&doc, "watchDimensions", "id")["schema"];
    assert_eq!((id["minLength"].as_u64(), id["pattern"].is_string()), (Some(1), true), "{id}");
    let r = app.client.get(app.url("/v1/scalableTargetDimensions/watch?id=")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    // Revisions: the ranges crest checks.
    let max = crest::domain::MAX_REVISION;
    for (operation, name, minimum) in [("getDimension", "after", 0), ("getDimensionHistory", "before", 1)] {
        let schema = &parameter(&doc, operation, name)["schema"];
        assert_eq!((schema["minimum"].as_u64(), schema["maximum"].as_u64()), (Some(minimum), Some(max)), "{schema}");
        assert!(!schema.to_string().contains("null"), "{name} is absent or a number, never null: {schema}");
    }
    app.stop().await;
}

/// The security schemes (bearer tokens, client certificates) and each
/// operation's requirement: none for the public paths. With a token
/// configured, crest agrees: a secured operation without credentials is a
/// 401, a public one is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_states_its_security() {
    const SECRET: &str = "openapi-check-token-0123456789";
    let app = spawn_app(StoreKind::Memory, |c| {
        let token = Token { name: "doc".into(), role: Role::Admin, sha256: hash(SECRET) };
        c.auth = AuthConfig { tokens: vec![token], ..AuthConfig::default() };
    })
    .await;
    let doc = document(&app, Some(SECRET)).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearerAuth"]["type"], "http", "{schemes}");
    assert_eq!(schemes["bearerAuth"]["scheme"], "bearer", "{schemes}");
    assert_eq!(schemes["mutualTLS"]["type"], "mutualTLS", "{schemes}");
    let description = doc["info"]["description"].as_str().unwrap();
    assert!(description.contains("only when"), "says when security applies: {description}");
    let mut public = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let security = operation["security"].as_array().unwrap_or_else(|| panic!("{method} {path}: security"));
            let concrete = path.replace("{id}", "sec-check").replace("{token}", "tok");
            let r = app.client.request(method.to_uppercase().parse().unwrap(), app.url(&concrete));
            let r = match method.as_str() {
                "patch" | "put" => r.json(&json!({"desiredCapacity": 2})),
                _ => r,
            };
            let status = r.send().await.unwrap().status();
            if security.is_empty() {
                public.insert(path.as_str());
                assert_ne!(status, 401, "{method} {path} is public");
            } else {
                let want = [json!({"bearerAuth": []}), json!({"mutualTLS": []})];
                assert!(want.iter().all(|w| security.contains(w)), "{method} {path}: {security:?}");
                assert_eq!(status, 401, "{method} {path} needs credentials");
                assert!(operation["responses"]["401"].is_object(), "{method} {path} documents its 401");
                assert!(operation["responses"]["403"].is_object(), "{method} {path} documents its 403");
            }
        }
    }
    assert_eq!(public, BTreeSet::from(["/healthz", "/livez", "/readyz", "/.well-known/acme-challenge/{token}"]));
    app.stop().await;
}

/// The id pattern (path `{id}`, the list's `after`, the stream's `id`)
/// matches exactly the ids `DimensionId::parse` takes, judged by Python's
/// `re` (a Unicode-aware engine, as JSON Schema validators are).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_pattern_is_what_crest_accepts() {
    let app = spawn_app(StoreKind::Memory, |_| {}).await;
    let doc = document(&app, None).await;
    let pattern = parameter(&doc, "getDimension", "id")["schema"]["pattern"].as_str().unwrap().to_owned();
    for (operation, name) in [("listDimensions", "after"), ("watchDimensions", "id")] {
        assert_eq!(parameter(&doc, operation, name)["schema"]["pattern"], pattern, "{operation} {name}");
    }
    let ids: Vec<String> = [
        "web",
        "1-23456789",
        "a.b",
        "...",
        "watcher",
        "caf\u{e9}",
        "\u{1f600}",
        ".",
        "..",
        "watch",
        "a/b",
        "a\\b",
        "",
        "a\u{7}",
        "a\u{7f}",
        "a\u{85}",
        "a\u{ad}",
        "a\u{200b}",
        "a\u{202e}",
        "a\u{feff}",
        "a\u{110bd}",
        "a\u{13431}",
        "a\u{1d17a}",
        "a\u{1d17b}",
        "a\u{e0001}",
        "a\u{e0fff}",
        "a\u{e1000}",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(["x".repeat(1600), "x".repeat(1601)])
    .collect();
    const JUDGE: &str = "import sys, json, re\nd = json.load(sys.stdin)\np = re.compile(d['pattern'])\n\
        print(json.dumps([bool(p.search(i)) for i in d['ids']]))";
    let input = json!({"pattern": pattern, "ids": ids});
    if let Some(out) = python("re", JUDGE, &input.to_string()) {
        let documented: Vec<bool> = serde_json::from_str(&out).unwrap();
        for (id, documented) in ids.iter().zip(documented) {
            let accepted = crest::domain::DimensionId::parse(id).is_ok();
            assert_eq!(documented, accepted, "{id:?}: the pattern says {documented}, DimensionId::parse {accepted}");
        }
    }
    app.stop().await;
}
