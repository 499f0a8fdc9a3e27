//! Ids the router must never take as a dimension (issue 15.12): `watch`
//! however it is percent-encoded (the path of the change stream), and ids
//! with invisible characters that look like another id. Sent byte for byte
//! with `raw`, so no URL library decodes or normalises them first.

use crate::helpers::{StoreKind, raw, spawn_app};

const BASE: &str = "/v1/scalableTargetDimensions";

/// `c` as the percent-encoded UTF-8 a client puts in a path.
fn encoded(c: char) -> String {
    c.to_string().bytes().map(|b| format!("%{b:02X}")).collect()
}

/// The status and `message` of `method path` (PATCH with a valid body).
async fn ask(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String) {
    let (head, body) = match method {
        "PATCH" => (format!("PATCH {path} HTTP/1.1\r\nContent-Type: application/json"), r#"{"desiredCapacity":2.0}"#),
        _ => (format!("{method} {path} HTTP/1.1"), ""),
    };
    let (status, headers, text) = raw(addr, &head, body).await;
    assert!(headers.contains("content-type: application/json"), "{method} {path}: {headers}");
    let json: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {text}: {e}"));
    (status, json["message"].as_str().unwrap_or_default().to_owned())
}

/// How many dimensions the list shows.
async fn listed(app: &crate::helpers::TestApp) -> usize {
    let page: serde_json::Value = app.client.get(app.url(BASE)).send().await.unwrap().json().await.unwrap();
    page["dimensions"].as_array().map(Vec::len).unwrap_or_else(|| panic!("{page}"))
}

async fn watch_is_not_an_id_however_it_is_encoded(kind: StoreKind) {
    let app = spawn_app(kind, |_| {}).await;
    for spelling in ["%77atch", "w%61tch", "%77%61%74%63%68", "watc%68"] {
        for method in ["GET", "PATCH"] {
            let (status, message) = ask(app.addr, method, &format!("{BASE}/{spelling}")).await;
            assert_eq!(status, 400, "{method} {spelling}: {message}");
            assert!(message.starts_with("invalid id in the path: "), "{method} {spelling}: {message}");
            assert!(
                message.contains(r#"must not be "watch", however it is percent-encoded"#),
                "{method} {spelling}: {message}"
            );
            assert!(message.ends_with("choose another id"), "{method} {spelling}: {message}");
        }
        let (status, message) = ask(app.addr, "GET", &format!("{BASE}?after={spelling}")).await;
        assert_eq!((status, message.contains(r#"must not be "watch""#)), (400, true), "after={spelling}: {message}");
    }
    // The stream keeps its own path: a PATCH there is not a write to a dimension.
    assert_eq!(ask(app.addr, "PATCH", &format!("{BASE}/watch")).await.0, 405);
    assert_eq!(listed(&app).await, 0, "nothing was created");
    // Ids that merely contain the word are ordinary ids.
    assert_eq!(ask(app.addr, "GET", &format!("{BASE}/%77atch-1")).await.0, 200);
    app.stop().await;
}

async fn invisible_characters_are_refused_with_their_code_point(kind: StoreKind) {
    let app = spawn_app(kind, |_| {}).await;
    let invisible = [
        ('\u{200b}', "U+200B"),
        ('\u{200d}', "U+200D"),
        ('\u{2060}', "U+2060"),
        ('\u{00ad}', "U+00AD"),
        ('\u{034f}', "U+034F"),
        ('\u{115f}', "U+115F"),
        ('\u{3164}', "U+3164"),
        ('\u{fe0f}', "U+FE0F"),
        ('\u{e0001}', "U+E0001"),
    ];
    for (c, name) in invisible {
        for id in [format!("web{}", encoded(c)), format!("{}web", encoded(c)), encoded(c)] {
            for method in ["GET", "PATCH"] {
                let (status, message) = ask(app.addr, method, &format!("{BASE}/{id}")).await;
                assert_eq!(status, 400, "{method} {id}: {message}");
                assert!(
                    message.contains(&format!("must not contain invisible characters (found {name})")),
                    "{method} {id}: {message}"
                );
            }
        }
    }
    assert_eq!(listed(&app).await, 0, "nothing was created");
    // A visible neighbour is fine.
    assert_eq!(ask(app.addr, "GET", &format!("{BASE}/web{}", encoded('\u{3165}'))).await.0, 200);
    app.stop().await;
}

/// `id` percent-encoded byte by byte, as a path segment or query value.
fn escaped(id: &str) -> String {
    id.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// Issue 19: an AAS ResourceId may be 1,600 characters, so an id of 1,600
/// bytes (here 533 three-byte characters, 4,798 bytes percent-encoded) goes
/// through every operation on every store; 1,601 bytes are refused.
async fn ids_of_1600_bytes_round_trip(kind: StoreKind) {
    let app = spawn_app(kind, |_| {}).await;
    let long = format!("{}a", "\u{20ac}".repeat(533));
    let plain = format!("{}b", "x".repeat(1599));
    assert_eq!((long.len(), plain.len()), (1600, 1600));
    let url = |id: &str| app.url(&format!("{BASE}/{}", escaped(id)));
    for (id, desired) in [(&long, 2.0), (&plain, 3.0)] {
        let r = app.client.patch(url(id)).json(&serde_json::json!({"desiredCapacity": desired})).send().await.unwrap();
        assert_eq!(r.status(), 200, "PATCH creates it");
        let b: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            (b["scalableTargetDimensionId"].as_str(), b["scalingStatus"].as_str()),
            (Some(id.as_str()), Some("Pending"))
        );
        let b: serde_json::Value = app.client.get(url(id)).send().await.unwrap().json().await.unwrap();
        assert_eq!(
            (b["scalableTargetDimensionId"].as_str(), b["scalingStatus"].as_str()),
            (Some(id.as_str()), Some("InProgress"))
        );
    }
    let history: serde_json::Value =
        app.client.get(format!("{}/history", url(&long))).send().await.unwrap().json().await.unwrap();
    assert_eq!(history["scalableTargetDimensionId"].as_str(), Some(long.as_str()));
    let revisions: Vec<u64> =
        history["entries"].as_array().unwrap().iter().map(|e| e["revision"].as_u64().unwrap()).collect();
    assert_eq!(revisions, [2, 1], "{history}");
    // The list, a page at a time: its cursor carries a 1,600-byte id.
    let page = |after: Option<String>| {
        let mut query = vec![("limit", "1".to_owned())];
        query.extend(after.map(|a| ("after", a)));
        let r = app.client.get(app.url(BASE)).query(&query).send();
        async move {
            let r = r.await.unwrap();
            assert_eq!(r.status(), 200);
            let page: serde_json::Value = r.json().await.unwrap();
            let ids: Vec<String> = page["dimensions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["scalableTargetDimensionId"].as_str().unwrap().to_owned())
                .collect();
            (ids, page["nextAfter"].as_str().map(str::to_owned))
        }
    };
    let (first, next) = page(None).await;
    assert_eq!(first, [plain.as_str()], "ids sort by their bytes");
    let (second, _) = page(next).await;
    assert_eq!(second, [long.as_str()]);
    // A metric label carries it whole.
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for id in [&long, &plain] {
        assert!(metrics.contains(&format!("dimension=\"{id}\"")), "no series for the {}-byte id", id.len());
    }
    // Delete, and the rest stays.
    let r = app.client.delete(url(&long)).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(app.client.get(format!("{}/history", url(&long))).send().await.unwrap().status(), 404);
    assert_eq!(page(None).await.0, [plain.as_str()]);
    // One byte more is refused, naming the limit, and creates nothing.
    let (status, message) = ask(app.addr, "PATCH", &format!("{BASE}/{}", escaped(&format!("{long}b")))).await;
    assert_eq!(status, 400, "{message}");
    assert_eq!(message, "invalid id in the path: scalableTargetDimensionId is 1601 bytes long; the limit is 1600");
    assert_eq!(listed(&app).await, 1);
    app.stop().await;
}

crate::store_tests!(
    watch_is_not_an_id_however_it_is_encoded,
    invisible_characters_are_refused_with_their_code_point,
    ids_of_1600_bytes_round_trip,
);

/// `/openapi.json` states the same limit for the path's id, the list's
/// `after` and the body's `scalableTargetDimensionId`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_states_the_id_limit() {
    let app = spawn_app(StoreKind::Memory, |_| {}).await;
    let doc: serde_json::Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let schema_of = |path: &str, name: &str| {
        let parameters = doc["paths"][path]["get"]["parameters"].as_array().unwrap_or_else(|| panic!("{path}"));
        parameters.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{path} {name}"))["schema"].clone()
    };
    for schema in [schema_of(&format!("{BASE}/{{id}}"), "id"), schema_of(BASE, "after")] {
        assert_eq!(schema["maxLength"], 1600, "{schema}");
        assert!(schema["pattern"].as_str().unwrap().ends_with("]{1,1600}$"), "{schema}");
    }
    let field = &doc["components"]["schemas"]["Dimension"]["properties"]["scalableTargetDimensionId"];
    assert_eq!(field["maxLength"], 1600, "{field}");
    app.stop().await;
}

/// A plain `GET /v1/scalableTargetDimensions/{id}` takes crest's hot path
/// (no router: `http::hot`); the same request with a query, or with its id
/// percent-encoded, takes the router. Both answer alike (the same status,
/// body and headers but the request id and date) and count under one
/// metric series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hot_path_and_the_router_answer_alike() {
    let app = spawn_app(StoreKind::Memory, |_| {}).await;
    let mut answers = Vec::new();
    for path in [format!("{BASE}/a-b"), format!("{BASE}/a%2Db"), format!("{BASE}/a-b?"), format!("{BASE}/a-b")] {
        let (status, headers, body) = raw(app.addr, &format!("GET {path} HTTP/1.1"), "").await;
        // In any order (the router sets content-length, hyper does on the hot path).
        let mut headers: Vec<&str> =
            headers.lines().filter(|l| !l.starts_with("x-request-id:") && !l.starts_with("date:")).collect();
        headers.sort_unstable();
        answers.push((path, status, headers.join("\n"), body));
    }
    let (_, status, headers, body) = &answers[0];
    assert_eq!(*status, 200, "{headers}\n{body}");
    assert!(headers.contains("etag: \"1\""), "{headers}");
    for (path, s, h, b) in &answers[1..] {
        assert_eq!((s, h, b), (status, headers, body), "{path}");
    }
    let series = r#"crest_http_requests_total{route="/v1/scalableTargetDimensions/{id}",method="GET",status="200"}"#;
    assert_eq!(app.metric(series).await, 4.0);
    app.stop().await;
}
