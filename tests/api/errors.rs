//! Every error case of the README (the Errors table): status, JSON
//! `{"message"}` and its text.

use crate::helpers::{StoreKind, raw, spawn_app};

const P: &str = "/v1/scalableTargetDimensions/e-1";

/// (method, path, content type, body, status, substring of the message)
type Case = (&'static str, &'static str, Option<&'static str>, &'static str, u16, &'static str);
#[rustfmt::skip]
const CASES: &[Case] = &[
    ("PATCH", P, Some("application/json"), "{nope", 400, "request body is not valid JSON"),
    ("PATCH", P, Some("application/json"), "", 400, "request body is empty"),
    ("PATCH", P, Some("application/json"), "[2.0]", 400, "must be a JSON object"),
    ("PATCH", P, Some("application/json"), "{}", 400, "none of the fields desiredCapacity"),
    ("PATCH", P, Some("application/json"), r#"{"foo":1}"#, 400, "none of the fields"),
    ("PATCH", P, Some("application/json"), r#"{"desiredCapacity":"2"}"#, 400, "desiredCapacity must be a number, got a string"),
    ("PATCH", P, Some("application/json"), r#"{"desiredCapacity":-1}"#, 400, "desiredCapacity must be a finite number >= 0, got -1"),
    ("PATCH", P, Some("application/json"), r#"{"actualCapacity":-0.5}"#, 400, "actualCapacity must be a finite number >= 0"),
    ("PATCH", P, Some("application/json"), r#"{"desiredCapacity":NaN}"#, 400, "not valid JSON"),
    ("PATCH", P, Some("application/json"), r#"{"desiredCapacity":Infinity}"#, 400, "not valid JSON"),
    ("PATCH", P, Some("application/json"), r#"{"desiredCapacity":1e999}"#, 400, "not valid JSON"),
    ("PATCH", P, Some("application/json"), r#"{"scalingStatus":"Done"}"#, 400, "scalingStatus must be one of Pending, InProgress, Successful, Failed"),
    ("PATCH", P, Some("application/json"), r#"{"scalingStatus":null}"#, 400, "scalingStatus must be a string"),
    ("PATCH", P, Some("application/json"), r#"{"failureReason":7}"#, 400, "failureReason must be a string"),
    ("PATCH", P, Some("application/json"), r#"{"scalingStatus":"Failed","failureReason":"a\u0000b"}"#, 400, "must not contain NUL"),
    ("PATCH", P, Some("text/plain"), r#"{"desiredCapacity":2}"#, 415, "Content-Type: application/json"),
    ("PATCH", P, Some("application/xml"), "<d>2</d>", 415, "Content-Type \\\"application/xml\\\" is not supported"),
    ("PATCH", P, Some("multipart/form-data; boundary=x"), "--x--", 415, "Content-Type: application/json"),
    ("PATCH", P, Some("application/x-www-form-urlencoded"), "desiredCapacity=2", 400, "not valid JSON"),
    ("DELETE", P, None, "", 404, "no scalable target dimension"),
    ("POST", P, Some("application/json"), "{}", 405, "method POST is not allowed here; use GET, HEAD, PATCH, PUT, DELETE"),
    ("PUT", P, Some("text/plain"), "{}", 415, "Content-Type \\\"text/plain\\\" is not supported"),
    ("PUT", P, Some("application/json"), r#"{"colour":1}"#, 400, "unknown field `colour`"),
    ("PUT", P, Some("application/json"), r#"{"minCapacity":5,"maxCapacity":2}"#, 400, "minCapacity 5.0 is above maxCapacity 2.0"),
    ("PUT", P, Some("application/json"), r#"{"maxCapacity":-1}"#, 400, "capacity must be a finite number >= 0"),
    ("PUT", P, Some("application/json"), r#"{"resourceName":""}"#, 400, "resourceName must be 1-1024 bytes"),
    ("GET", "/v1/scalableTargetDimensions?limit=0", None, "", 400, "limit must be between 1 and 1000"),
    ("GET", "/v1/scalableTargetDimensions?status=Done", None, "", 400, "invalid query"),
    ("GET", "/v1/scalableTargetDimensions/watch?id=%2E%2E", None, "", 400, "must not be '.' or '..'"),
    ("GET", "/v1/scalableTargetDimensions/..", None, "", 400, "must not be '.' or '..'"),
    ("GET", "/v1/scalableTargetDimensions/%2e%2E", None, "", 400, "must not be '.' or '..'"),
    ("GET", "/v1/scalableTargetDimensions/.", None, "", 400, "must not be '.' or '..'"),
    ("GET", "/v1/scalableTargetDimensions/..%2Fetc%2Fpasswd", None, "", 400, "must not contain '/'"),
    ("GET", "/v1/scalableTargetDimensions/a%5Cb", None, "", 400, "must not contain '/' or '\\\\'"),
    ("GET", "/v1/scalableTargetDimensions/a%0AInjected", None, "", 400, "control characters"),
    ("GET", "/v1/scalableTargetDimensions/a%00b", None, "", 400, "control characters"),
    ("GET", "/v1/scalableTargetDimensions/%FF%FE", None, "", 400, "invalid id in the path"),
    ("GET", "/v1/scalableTargetDimensions/", None, "", 404, "no route for"),
    ("GET", "/v1/scalableTargetDimensions/a/b", None, "", 404, "no route for"),
    ("GET", "/v1/scalableTargetDimension", None, "", 404, "the API is /v1/scalableTargetDimensions/{id}"),
    ("GET", "/nowhere", None, "", 404, "no route for"),
    ("POST", "/healthz", None, "", 405, "method POST is not allowed here; use GET, HEAD"),
    ("DELETE", "/readyz", None, "", 405, "method DELETE is not allowed here; use GET, HEAD"),
];

async fn every_error_is_json_with_a_precise_message(kind: StoreKind) {
    let app = spawn_app(kind, |_| {}).await;
    for (method, path, ctype, body, status, want) in CASES {
        let mut head = format!("{method} {path} HTTP/1.1");
        if let Some(c) = ctype {
            head.push_str(&format!("\r\nContent-Type: {c}"));
        }
        let (got, headers, text) = raw(app.addr, &head, body).await;
        assert_eq!(got, *status, "{method} {path} {body}: {text}");
        assert!(headers.contains("content-type: application/json"), "{method} {path}: {headers}");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let message = json["message"].as_str().unwrap_or_else(|| panic!("no message in {text}"));
        assert!(text.contains(want), "{method} {path} {body}: {message:?} lacks {want:?}");
        if *status == 405 {
            let allow = if path.starts_with("/v1/") { "allow: get, head, patch" } else { "allow: get, head" };
            assert!(headers.contains(allow), "{headers}");
        }
    }
    // Nothing above created or changed the dimension.
    let (_, b) = app.get("e-1").await;
    assert_eq!((b["scalingStatus"].as_str(), b["desiredCapacity"].as_f64()), (Some("Successful"), Some(1.0)));
    app.stop().await;
}

/// Ids at the limits: 1,600 bytes pass (an AAS ResourceId may be that long), 1,601 do not.
async fn id_length_limit(kind: StoreKind) {
    let app = spawn_app(kind, |_| {}).await;
    let ok = "x".repeat(1600);
    assert_eq!(app.get(&ok).await.0, 200);
    let (s, b) = app.get(&"x".repeat(1601)).await;
    assert_eq!(s, 400);
    let want = "invalid id in the path: scalableTargetDimensionId is 1601 bytes long; the limit is 1600";
    assert_eq!(b["message"].as_str(), Some(want), "{b}");
    // Percent-encoded spaces and unicode are fine, and the id comes back decoded.
    let (s, b) = app.get("my%20service%C3%A9").await;
    assert_eq!((s, b["scalableTargetDimensionId"].as_str()), (200, Some("my serviceé")));
    app.stop().await;
}

/// Accepted content types: JSON with parameters, none at all, +json.
async fn accepted_content_types(kind: StoreKind) {
    let app = spawn_app(kind, |_| {}).await;
    for (i, ctype) in
        [Some("application/json; charset=utf-8"), Some("Application/JSON"), None, Some("application/merge-patch+json")]
            .into_iter()
            .enumerate()
    {
        let mut head = format!("PATCH {P} HTTP/1.1");
        if let Some(c) = ctype {
            head.push_str(&format!("\r\nContent-Type: {c}"));
        }
        let body = format!(r#"{{"desiredCapacity": {}.0, "unknownField": true}}"#, i + 2);
        let (status, _, text) = raw(app.addr, &head, &body).await;
        assert_eq!(status, 200, "{ctype:?}: {text}");
        assert!(text.contains(&format!(r#""desiredCapacity":{}.0"#, i + 2)), "{text}");
    }
    app.stop().await;
}

/// 64 KiB is the limit: over it is 413, even when the body would be valid.
async fn body_limit(kind: StoreKind) {
    let app = spawn_app(kind, |_| {}).await;
    let pad = " ".repeat(64 * 1024);
    let body = format!(r#"{{"desiredCapacity": 2.0}}{pad}"#);
    let r = app
        .client
        .patch(app.dim_url("big"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let b: serde_json::Value = r.json().await.unwrap();
    assert!(b["message"].as_str().unwrap().contains("larger than 65536 bytes"), "{b}");
    // PUT reads its body the same way: a JSON 413, not axum's text.
    let put = format!(r#"{{"maxCapacity": 2.0}}{pad}"#);
    let r =
        app.client.put(app.dim_url("big")).header("content-type", "application/json").body(put).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let b: serde_json::Value = r.json().await.unwrap();
    assert!(b["message"].as_str().unwrap().contains("larger than 65536 bytes"), "{b}");
    let small = format!(r#"{{"desiredCapacity": 2.0}}{}"#, " ".repeat(60 * 1024));
    let r = app
        .client
        .patch(app.dim_url("big"))
        .header("content-type", "application/json")
        .body(small)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}

crate::store_tests!(every_error_is_json_with_a_precise_message, id_length_limit, accepted_content_types, body_limit);
