//! The admin API per store: register with bounds (PUT), bounds enforced on
//! PATCH, list paging and the status filter, DELETE with its history.

use crate::helpers::{StoreKind, TestApp, spawn_app};
use crest::domain::Mode;
use serde_json::{Value, json};

async fn put(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    let r = app.client.put(app.dim_url(id)).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn list(app: &TestApp, query: &str) -> Value {
    let r = app.client.get(app.url(&format!("/v1/scalableTargetDimensions{query}"))).send().await.unwrap();
    assert_eq!(r.status(), 200, "{query}");
    r.json().await.unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["scalableTargetDimensionId"].as_str().unwrap().to_owned())
        .collect()
}

async fn admin_api(kind: StoreKind) {
    let app = spawn_app(kind, |c| {
        c.mode = Mode::Production;
        c.strict = true;
    })
    .await;
    // Strict mode: unknown until registered.
    assert_eq!(app.get("web").await.0, 404);
    let (status, body) = put(
        &app,
        "web",
        json!({"resourceName": "web-service", "dimensionName": "ecs:service:DesiredCount",
               "desiredCapacity": 2.0, "minCapacity": 1.0, "maxCapacity": 10.0}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["revision"].as_u64(), body["minCapacity"].as_f64(), body["maxCapacity"].as_f64()),
        (Some(1), Some(1.0), Some(10.0))
    );
    // What AAS sees is unchanged in shape: no revision, no bounds.
    let (status, aas) = app.get("web").await;
    assert_eq!(status, 200);
    assert_eq!(aas["resourceName"], "web-service");
    assert!(aas.get("minCapacity").is_none() && aas.get("revision").is_none(), "{aas}");
    // Bounds hold for PATCH like AAS's own.
    let (status, b) = app.patch("web", json!({"desiredCapacity": 11.0})).await;
    assert_eq!(status, 400);
    assert_eq!(
        b["message"],
        "desiredCapacity 11.0 is above maxCapacity 10.0 of this dimension; send a value from 1.0 to 10.0"
    );
    let (status, b) = app.patch("web", json!({"desiredCapacity": 0.5})).await;
    assert_eq!(status, 400, "{b}");
    assert!(b["message"].as_str().unwrap().contains("below minCapacity 1.0"), "{b}");
    assert_eq!(app.patch("web", json!({"desiredCapacity": 10.0})).await.0, 200);
    // Updating: 200; tightening bounds below the current desiredCapacity is refused.
    let (status, b) = put(&app, "web", json!({"minCapacity": 1.0, "maxCapacity": 5.0})).await;
    assert_eq!(status, 400, "{b}");
    let (status, b) = put(&app, "web", json!({"version": "v2", "minCapacity": 1.0, "maxCapacity": 20.0})).await;
    assert_eq!((status, b["version"].as_str()), (200, Some("v2")), "{b}");
    assert_eq!(b["revision"], 3);

    // Listing: id order, paging, the status filter.
    for (id, desired) in [("a", 1.0), ("b", 2.0), ("c", 3.0)] {
        assert_eq!(put(&app, id, json!({"desiredCapacity": desired})).await.0, 201);
    }
    assert_eq!(app.patch("b", json!({"desiredCapacity": 7.0})).await.0, 200); // Pending now
    let all = list(&app, "").await;
    assert_eq!(ids(&all), ["a", "b", "c", "web"]);
    assert_eq!(all["nextAfter"], Value::Null);
    let first = list(&app, "?limit=3").await;
    assert_eq!((ids(&first), first["nextAfter"].as_str()), (vec!["a".into(), "b".into(), "c".into()], Some("c")));
    let rest = list(&app, "?limit=3&after=c").await;
    assert_eq!(ids(&rest), ["web"]);
    assert_eq!(ids(&list(&app, "?status=Pending").await), ["b", "web"]);
    assert_eq!(ids(&list(&app, "?status=Failed").await), Vec::<String>::new());

    // DELETE removes the dimension and its history.
    let r = app.client.delete(app.dim_url("web")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(app.get("web").await.0, 404);
    let r = app.client.get(app.url("/v1/scalableTargetDimensions/web/history")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(app.client.delete(app.dim_url("web")).send().await.unwrap().status(), 404);
    // Registered again, it starts over at revision 1 with a fresh history.
    let (status, b) = put(&app, "web", json!({"desiredCapacity": 4.0})).await;
    assert_eq!((status, b["revision"].as_u64()), (201, Some(1)));
    let h: Value =
        app.client.get(app.url("/v1/scalableTargetDimensions/web/history")).send().await.unwrap().json().await.unwrap();
    assert_eq!(h["entries"].as_array().unwrap().len(), 1, "{h}");
    assert_eq!(h["entries"][0]["source"]["method"], "PUT");
    let dir = app.stop().await;
    drop(dir);
}

/// A PUT changes what it names and keeps the rest: bounds set once stay
/// until a PUT sets them again or clears them with an explicit `null`.
async fn put_keeps_bounds_it_does_not_name(kind: StoreKind) {
    let app = spawn_app(kind, |c| {
        c.mode = Mode::Production;
        c.strict = true;
    })
    .await;
    let bounds = |b: &Value| (b["minCapacity"].as_f64(), b["maxCapacity"].as_f64());
    let (status, b) = put(&app, "web", json!({"desiredCapacity": 2.0, "minCapacity": 1.0, "maxCapacity": 10.0})).await;
    assert_eq!((status, bounds(&b)), (201, (Some(1.0), Some(10.0))), "{b}");
    // Only the version: the bounds stay, and still hold for PATCH.
    let (status, b) = put(&app, "web", json!({"version": "v2"})).await;
    assert_eq!((status, b["version"].as_str(), bounds(&b)), (200, Some("v2"), (Some(1.0), Some(10.0))), "{b}");
    let (status, b) = app.patch("web", json!({"desiredCapacity": 50.0})).await;
    assert_eq!(status, 400, "{b}");
    assert_eq!(
        b["message"],
        "desiredCapacity 50.0 is above maxCapacity 10.0 of this dimension; send a value from 1.0 to 10.0"
    );
    // A new bound is checked against the one kept.
    let (status, b) = put(&app, "web", json!({"minCapacity": 20.0})).await;
    assert_eq!((status, b["message"].as_str()), (400, Some("minCapacity 20.0 is above maxCapacity 10.0")), "{b}");
    // An explicit null clears one bound; the other stays.
    let (status, b) = put(&app, "web", json!({"maxCapacity": null})).await;
    assert_eq!((status, bounds(&b), b["revision"].as_u64()), (200, (Some(1.0), None), Some(3)), "{b}");
    assert!(b.get("maxCapacity").is_none(), "{b}");
    let page = list(&app, "").await;
    assert_eq!(bounds(&page["dimensions"][0]), (Some(1.0), None), "{page}");
    let (status, b) = app.patch("web", json!({"desiredCapacity": 50.0})).await;
    assert_eq!((status, b["desiredCapacity"].as_f64()), (200, Some(50.0)), "{b}");
    let (status, b) = app.patch("web", json!({"desiredCapacity": 0.5})).await;
    assert!(status == 400 && b["message"].as_str().unwrap().contains("below minCapacity 1.0"), "{b}");
    // Both null: no bounds at all; a PUT that changes nothing keeps the revision.
    let (status, b) = put(&app, "web", json!({"minCapacity": null, "maxCapacity": null})).await;
    assert_eq!((status, bounds(&b), b["revision"].as_u64()), (200, (None, None), Some(5)), "{b}");
    let (status, b) = put(&app, "web", json!({"maxCapacity": null})).await;
    assert_eq!((status, b["revision"].as_u64()), (200, Some(5)), "{b}");
    assert_eq!(app.patch("web", json!({"desiredCapacity": 0.5})).await.0, 200);
    app.stop().await;
}

crate::store_tests!(admin_api, put_keeps_bounds_it_does_not_name);

/// The OpenAPI schema of the PUT body says what the server accepts: the
/// bounds are optional and may be `null` (which clears them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_request_schema_allows_null_bounds() {
    let app = spawn_app(StoreKind::Memory, |_| {}).await;
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let schema = &doc["components"]["schemas"]["RegisterRequest"];
    let required: Vec<&str> = schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    for field in ["minCapacity", "maxCapacity"] {
        let prop = &schema["properties"][field];
        let types = prop["type"].as_array().map_or_else(|| vec![prop["type"].clone()], Clone::clone);
        assert!(types.contains(&json!("null")) && types.contains(&json!("number")), "{field}: {prop}");
        assert!(!required.contains(&field), "{field} is optional: {schema}");
        let text = prop["description"].as_str().unwrap_or_default();
        assert!(text.contains("null") && text.contains("kept"), "{field} documents absent and null: {prop}");
    }
    app.stop().await;
}
