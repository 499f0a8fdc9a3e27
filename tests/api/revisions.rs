//! Revisions: every response carries the revision as `ETag`; `If-Match`
//! makes a PATCH a compare-and-swap (412 when stale), also under concurrency.

use crate::helpers::{StoreKind, TestApp, spawn_app};
use crest::domain::Mode;
use serde_json::json;

async fn patch_if(app: &TestApp, id: &str, if_match: &str, desired: f64) -> (u16, Option<String>, serde_json::Value) {
    let r = app
        .client
        .patch(app.dim_url(id))
        .header("if-match", if_match)
        .json(&json!({"desiredCapacity": desired}))
        .send()
        .await
        .unwrap();
    let etag = r.headers().get("etag").map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), etag, r.json().await.unwrap())
}

async fn etag_and_if_match(kind: StoreKind) {
    let app = spawn_app(kind, |c| c.mode = Mode::Production).await;
    let r = app.client.get(app.dim_url("r")).send().await.unwrap();
    assert_eq!(r.headers()["etag"], "\"1\"", "created on first touch: revision 1");
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body.get("revision").is_none(), "the JSON body stays what AAS expects");

    let (s, etag, _) = patch_if(&app, "r", "\"1\"", 3.0).await;
    assert_eq!((s, etag.as_deref()), (200, Some("\"2\"")));
    let (s, _, b) = patch_if(&app, "r", "\"1\"", 4.0).await;
    assert_eq!(s, 412, "{b}");
    assert!(
        b["message"].as_str().unwrap().contains("If-Match \"1\" does not match: the dimension is at revision 2"),
        "{b}"
    );
    let (_, b) = app.get("r").await;
    assert_eq!(b["desiredCapacity"], 3.0, "a stale PATCH changed nothing");

    let (s, etag, _) = patch_if(&app, "r", "*", 5.0).await;
    assert_eq!((s, etag.as_deref()), (200, Some("\"3\"")));
    let (s, _, b) = patch_if(&app, "r", "3", 6.0).await;
    assert_eq!(s, 400, "unquoted: {b}");
    assert!(b["message"].as_str().unwrap().contains("If-Match must be the ETag of a GET"), "{b}");
    // "0" means: only if it does not exist yet.
    assert_eq!(patch_if(&app, "fresh", "\"0\"", 2.0).await.0, 200);
    assert_eq!(patch_if(&app, "fresh", "\"0\"", 2.0).await.0, 412);
    assert_eq!(patch_if(&app, "absent", "*", 2.0).await.0, 412);
    let r = app.client.head(app.dim_url("r")).send().await.unwrap();
    assert_eq!(r.headers()["etag"], "\"3\"");
    app.stop().await;
}

/// Eight PATCHes with the same If-Match at once: exactly one wins.
async fn concurrent_compare_and_swap_has_one_winner(kind: StoreKind) {
    let app = std::sync::Arc::new(spawn_app(kind, |c| c.mode = Mode::Production).await);
    for round in 0..10 {
        let r = app.client.get(app.dim_url("cas")).send().await.unwrap();
        let etag = r.headers()["etag"].to_str().unwrap().to_owned();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (app, etag) = (app.clone(), etag.clone());
            tasks
                .push(tokio::spawn(async move { patch_if(&app, "cas", &etag, f64::from(round * 10 + i + 2)).await.0 }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 412, 412, 412, 412, 412, 412, 412], "round {round}");
    }
    std::sync::Arc::into_inner(app).unwrap().stop().await;
}

crate::store_tests!(etag_and_if_match, concurrent_compare_and_swap_has_one_winner);
