//! Trace ids through the real binary: a valid W3C `traceparent` or AWS
//! `X-Amzn-Trace-Id` is on every JSON log line of its request (the change
//! line in the request's span, the access line), and `traceparent` is
//! echoed; an invalid one is ignored: the request is served, no trace id
//! is logged, the header's text is nowhere in the log and not echoed.

use crate::process::start;
use serde_json::{Value, json};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const XRAY: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

#[test]
fn trace_ids_are_on_every_log_line_of_their_request_and_bad_ones_ignored() {
    let p = start(&["--listen", "127.0.0.1:0", "--store", "memory:", "--log-format", "json"], &[]);
    let addr = p.ready_addr();
    let url = format!("http://{addr}/v1/scalableTargetDimensions/traced");
    // A bad header that would be easy to spot in the log, and one that is
    // close to valid (uppercase hex).
    let bad = ["00-BADBADBADBADBADBADBADBADBADBADBA-00f067aa0ba902b7-01", "00-zzzz-INJECTED\tvalue-01"];
    let rt = tokio::runtime::Runtime::new().unwrap();
    let echoed = rt.block_on(async {
        let c = reqwest::Client::new();
        // Each PATCH a change (one that changes nothing logs no change line).
        let patch = |id: &'static str, header: (&'static str, &'static str), desired: u32| {
            let body = json!({"desiredCapacity": desired});
            c.patch(&url).header("x-request-id", id).header(header.0, header.1).json(&body).send()
        };
        let w3c = patch("req-w3c", ("traceparent", TRACEPARENT), 2).await.unwrap();
        let xray = patch("req-xray", ("x-amzn-trace-id", XRAY), 3).await.unwrap();
        let mut echoed = vec![w3c.headers().get("traceparent").cloned(), xray.headers().get("traceparent").cloned()];
        assert_eq!((w3c.status().as_u16(), xray.status().as_u16()), (200, 200));
        for (i, value) in bad.iter().enumerate() {
            let id = ["req-bad-0", "req-bad-1"][i];
            let r = c.get(&url).header("x-request-id", id).header("traceparent", *value).send().await.unwrap();
            assert_eq!(r.status(), 200, "an invalid traceparent is ignored, not refused");
            echoed.push(r.headers().get("traceparent").cloned());
        }
        echoed
    });
    assert_eq!(echoed[0].as_ref().map(|v| v.to_str().unwrap()), Some(TRACEPARENT), "echoed as it came");
    assert_eq!(echoed[1..], [None, None, None], "only a valid traceparent is echoed");

    // Up to the last request's access line.
    let mut raw = Vec::new();
    loop {
        let chunk = p.lines_until("req-bad-1");
        let done = chunk.last().is_some_and(|l| l.contains(r#""message":"request""#));
        raw.extend(chunk);
        if done {
            break;
        }
    }
    let lines: Vec<Value> = raw.iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let of = |id: &str| lines.iter().filter(|v| v["request_id"] == id).collect::<Vec<_>>();
    for (id, trace_id, xray) in [
        ("req-w3c", "4bf92f3577b34da6a3ce929d0e0e4736", None),
        ("req-xray", "5759e988bd862e3fe1be46a994272793", Some("1-5759e988-bd862e3fe1be46a994272793")),
    ] {
        let mine = of(id);
        let messages: Vec<&str> = mine.iter().map(|v| v["message"].as_str().unwrap()).collect();
        assert!(messages.contains(&"dimension changed") && messages.contains(&"request"), "{id}: {messages:?}");
        for v in mine {
            assert_eq!(v["trace_id"], trace_id, "{id}: {v}");
            assert_eq!(v["xray_trace_id"].as_str(), xray, "{id}: {v}");
        }
    }
    // As the README's Operations show it: the example's traceparent, and
    // the request's JSON lines ending with its trace id.
    let ending = r#""trace_id":"4bf92f3577b34da6a3ce929d0e0e4736""#;
    let readme = crate::readme::readme();
    let ops = crate::readme::section(&readme, "## Operations");
    assert!(ops.contains(TRACEPARENT) && ops.contains(ending), "the README's trace id example");
    let w3c_lines = raw.iter().filter(|l| l.contains(r#""request_id":"req-w3c""#));
    assert!(w3c_lines.into_iter().all(|l| l.ends_with(&format!("{ending}}}"))), "{raw:?}");
    for id in ["req-bad-0", "req-bad-1"] {
        let mine = of(id);
        assert!(!mine.is_empty(), "{id}: its access line is logged");
        assert!(mine.iter().all(|v| v.get("trace_id").is_none() && v.get("xray_trace_id").is_none()), "{mine:?}");
    }
    p.signal("-TERM");
    let (_, rest) = p.finish();
    let all = format!("{}\n{rest}", raw.join("\n"));
    for needle in ["BADBAD", "INJECTED", "zzzz"] {
        assert!(!all.contains(needle), "the invalid header's text {needle:?} is in the log");
    }
}
