//! The access line from the real binary: one line per answered request,
//! the same fields in text and JSON, and `--access-log off` turns it off
//! without turning off the change lines.

use crate::process::{Proc, start};
use crate::readme::glob;
use serde_json::Value;

const SECRET: &str = "aas-bot-secret-0123456789abcdef";

/// crest with a token `aas-bot` (role aas), logging in `format`, plus `extra`.
fn serve(format: &str, extra: &[&str]) -> (Proc, String) {
    let mut args = vec!["--listen", "127.0.0.1:0", "--store", "memory:", "--mode", "production"];
    args.extend_from_slice(&["--log-format", format, "--token", "aas-bot:aas:env:CREST_TEST_AAS_TOKEN"]);
    args.extend_from_slice(extra);
    let p = start(&args, &[("CREST_TEST_AAS_TOKEN", SECRET)]);
    let ready = p.wait_for("crest ready");
    let addr = match format {
        "json" => serde_json::from_str::<Value>(&ready).unwrap()["listen"].as_str().unwrap().to_owned(),
        _ => ready.split("listen=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned(),
    };
    (p, addr)
}

/// A PATCH then a GET of `web` with request ids `patch-1` and `get-1`; the
/// GET's body length.
fn requests(addr: &str) -> usize {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let url = format!("http://{addr}/v1/scalableTargetDimensions/web");
        let body = serde_json::json!({"desiredCapacity": 3});
        let r = c.patch(&url).bearer_auth(SECRET).header("x-request-id", "patch-1").json(&body).send().await;
        assert_eq!(r.unwrap().status(), 200);
        let r = c.get(&url).bearer_auth(SECRET).header("x-request-id", "get-1").send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap().len()
    })
}

/// Stops `p`; every line it wrote after `crest ready`.
fn stop(p: Proc) -> Vec<String> {
    p.signal("-TERM");
    let (code, log) = p.finish();
    assert_eq!(code, Some(0), "{log}");
    log.lines().map(str::to_owned).collect()
}

#[test]
fn the_text_access_line_has_its_fields_once() {
    let (p, addr) = serve("text", &[]);
    let bytes = requests(&addr);
    let lines = stop(p);
    let access: Vec<&String> = lines.iter().filter(|l| l.contains(" crest::access: request ")).collect();
    assert_eq!(access.len(), 2, "one access line per request: {lines:#?}");
    let want = format!(
        "… INFO crest::access: request method=GET route=/v1/scalableTargetDimensions/{{id}} id=web status=200 \
         latency_ms=… bytes={bytes} request_id=get-1 client=127.0.0.1:… who=\"token:aas-bot\""
    );
    assert!(glob(&want, access[1]), "want {want}\ngot  {}", access[1]);
    assert!(
        access[0].contains(" request method=PATCH ") && access[0].contains(" request_id=patch-1 "),
        "{}",
        access[0]
    );
    assert!(!lines.iter().any(|l| l.contains("finished processing request")), "{lines:#?}");
    assert!(!lines.iter().any(|l| l.contains(SECRET)), "a token in the log");
}

#[test]
fn the_json_access_line_has_the_same_fields() {
    let (p, addr) = serve("json", &[]);
    let bytes = requests(&addr);
    let lines: Vec<Value> = stop(p).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let access: Vec<&Value> = lines.iter().filter(|l| l["target"] == "crest::access").collect();
    assert_eq!(access.len(), 2, "{lines:#?}");
    let get = access[1];
    let keys: Vec<&str> = get.as_object().unwrap().keys().map(String::as_str).collect();
    let want = [
        "bytes",
        "client",
        "id",
        "latency_ms",
        "level",
        "message",
        "method",
        "request_id",
        "route",
        "status",
        "target",
        "timestamp",
        "who",
    ];
    assert_eq!(keys, want, "no span fields, nothing twice: {get}");
    assert_eq!(get["message"], "request", "{get}");
    assert_eq!(get["level"], "INFO", "{get}");
    assert_eq!(get["method"], "GET", "{get}");
    assert_eq!(get["route"], "/v1/scalableTargetDimensions/{id}", "{get}");
    assert_eq!(get["id"], "web", "{get}");
    assert_eq!(get["status"], 200, "{get}");
    assert!(get["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{get}");
    assert_eq!(get["bytes"], bytes, "{get}");
    assert_eq!(get["request_id"], "get-1", "{get}");
    assert!(get["client"].as_str().unwrap().starts_with("127.0.0.1:"), "{get}");
    assert_eq!(get["who"], "token:aas-bot", "{get}");
    assert_eq!(access[0]["method"], "PATCH", "{}", access[0]);
    // The PATCH body is a DEBUG line now, not at the default level.
    assert!(!lines.iter().any(|l| l["message"] == "patch body"), "{lines:#?}");
}

/// `--access-log off`: no access line, the change line still there.
#[test]
fn the_access_log_turns_off_alone() {
    let (p, addr) = serve("json", &["--access-log", "off"]);
    requests(&addr);
    let lines: Vec<Value> = stop(p).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!lines.iter().any(|l| l["target"] == "crest::access"), "{lines:#?}");
    let changed = lines.iter().find(|l| l["message"] == "dimension changed").expect("the change line");
    assert_eq!(changed["request_id"], "patch-1", "{changed}");
}
