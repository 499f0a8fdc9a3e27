//! Lost updates: concurrent GETs in demo mode must each advance the state
//! once. The reference server answered 500 to a third of such requests.

use crate::helpers::{StoreKind, spawn_app};
use serde_json::json;

const ROUNDS: usize = 200;

/// PATCH a new desired, then exactly two concurrent GETs: one must see
/// InProgress and the other Successful with actual == desired. A lost update
/// leaves it InProgress.
async fn two_concurrent_gets_always_finish_the_scaling(kind: StoreKind) {
    let app = spawn_app(kind, |_| {}).await;
    for round in 0..ROUNDS {
        let desired = (round + 2) as f64;
        let (s, b) = app.patch("race", json!({"desiredCapacity": desired})).await;
        assert_eq!((s, b["scalingStatus"].as_str()), (200, Some("Pending")), "round {round}");
        let (a, b) = tokio::join!(app.get("race"), app.get("race"));
        assert_eq!((a.0, b.0), (200, 200));
        let mut seen = [a.1["scalingStatus"].as_str().unwrap(), b.1["scalingStatus"].as_str().unwrap()];
        seen.sort_unstable();
        assert_eq!(seen, ["InProgress", "Successful"], "round {round}: {a:?} {b:?}");
        let r = app.client.head(app.dim_url("race")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let (_, now) = app.get("race").await;
        assert_eq!(now["scalingStatus"], "Successful", "round {round}");
        assert_eq!(now["actualCapacity"].as_f64(), Some(desired), "round {round}");
    }
    app.stop().await;
}

/// 32 clients mixing PATCH and GET on one id never get a 5xx (or any error).
async fn thirty_two_clients_hammering_one_id(kind: StoreKind) {
    let app = std::sync::Arc::new(spawn_app(kind, |_| {}).await);
    let mut tasks = Vec::new();
    for client in 0..32 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                let (s, b) = if i % 3 == 0 {
                    app.patch("hot", json!({"desiredCapacity": (client * 100 + i) as f64})).await
                } else {
                    app.get("hot").await
                };
                assert_eq!(s, 200, "client {client} request {i}: {b}");
                assert_eq!(b["scalableTargetDimensionId"], "hot");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let app = std::sync::Arc::into_inner(app).unwrap();
    app.stop().await;
}

crate::store_tests!(two_concurrent_gets_always_finish_the_scaling, thirty_two_clients_hammering_one_id);
