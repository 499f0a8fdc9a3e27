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

crate::store_tests!(watch_is_not_an_id_however_it_is_encoded, invisible_characters_are_refused_with_their_code_point);
