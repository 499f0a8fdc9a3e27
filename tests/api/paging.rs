//! Paging cursors on every store: the admin list's `nextAfter` and the
//! history's `nextBefore` are null exactly when nothing follows, also on a
//! last page that happens to be exactly full.

use crate::helpers::{StoreKind, TestApp, spawn_app};
use crest::domain::Mode;
use serde_json::{Value, json};

async fn page(app: &TestApp, path: &str) -> Value {
    let r = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

fn ids(page: &Value) -> Vec<&str> {
    page["dimensions"].as_array().unwrap().iter().map(|d| d["scalableTargetDimensionId"].as_str().unwrap()).collect()
}

fn revisions(page: &Value) -> Vec<u64> {
    page["entries"].as_array().unwrap().iter().map(|e| e["revision"].as_u64().unwrap()).collect()
}

async fn list_cursor_is_null_when_nothing_follows(kind: StoreKind) {
    let app = spawn_app(kind, |c| c.mode = Mode::Production).await;
    const LIST: &str = "/v1/scalableTargetDimensions";
    for id in ["a", "b"] {
        assert_eq!(app.patch(id, json!({"desiredCapacity": 2.0})).await.0, 200);
    }
    let full = page(&app, &format!("{LIST}?limit=2")).await;
    assert_eq!((ids(&full), &full["nextAfter"]), (vec!["a", "b"], &Value::Null), "exactly full, nothing after");

    // One more dimension: the same page now has a cursor, and the next page
    // holds that one (and is the last).
    assert_eq!(app.patch("c", json!({"desiredCapacity": 2.0})).await.0, 200);
    let first = page(&app, &format!("{LIST}?limit=2")).await;
    assert_eq!((ids(&first), first["nextAfter"].as_str()), (vec!["a", "b"], Some("b")));
    let next = page(&app, &format!("{LIST}?limit=2&after=b")).await;
    assert_eq!((ids(&next), &next["nextAfter"]), (vec!["c"], &Value::Null));
    let next = page(&app, &format!("{LIST}?limit=1&after=b")).await;
    assert_eq!((ids(&next), &next["nextAfter"]), (vec!["c"], &Value::Null), "a full last page after a cursor");

    // With the status filter, only matching dimensions count as following.
    assert_eq!(app.patch("b", json!({"scalingStatus": "Successful"})).await.0, 200);
    let pending = page(&app, &format!("{LIST}?status=Pending&limit=2")).await;
    assert_eq!((ids(&pending), &pending["nextAfter"]), (vec!["a", "c"], &Value::Null));
    let pending = page(&app, &format!("{LIST}?status=Pending&limit=1")).await;
    assert_eq!((ids(&pending), pending["nextAfter"].as_str()), (vec!["a"], Some("a")));
    app.stop().await;
}

async fn history_cursor_is_null_when_nothing_follows(kind: StoreKind) {
    let app = spawn_app(kind, |c| c.mode = Mode::Production).await;
    const HISTORY: &str = "/v1/scalableTargetDimensions/h/history";
    for desired in [2.0, 3.0] {
        assert_eq!(app.patch("h", json!({"desiredCapacity": desired})).await.0, 200);
    }
    let full = page(&app, &format!("{HISTORY}?limit=2")).await;
    assert_eq!((revisions(&full), &full["nextBefore"]), (vec![2, 1], &Value::Null), "exactly full, nothing older");

    // One more change: the same page now has a cursor, and the next page
    // holds the oldest entry (and is the last).
    assert_eq!(app.patch("h", json!({"desiredCapacity": 4.0})).await.0, 200);
    let first = page(&app, &format!("{HISTORY}?limit=2")).await;
    assert_eq!((revisions(&first), first["nextBefore"].as_u64()), (vec![3, 2], Some(2)));
    let next = page(&app, &format!("{HISTORY}?limit=2&before=2")).await;
    assert_eq!((revisions(&next), &next["nextBefore"]), (vec![1], &Value::Null));
    let next = page(&app, &format!("{HISTORY}?limit=1&before=2")).await;
    assert_eq!((revisions(&next), &next["nextBefore"]), (vec![1], &Value::Null), "a full last page after a cursor");
    app.stop().await;
}

crate::store_tests!(list_cursor_is_null_when_nothing_follows, history_cursor_is_null_when_nothing_follows);
