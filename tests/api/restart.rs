//! State survives a restart on the durable stores.

use crate::helpers::{StoreKind, spawn_with, test_config};
use serde_json::json;

async fn restart_keeps_state(kind: StoreKind) {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(kind, dir.path());
    let app = spawn_with(config.clone(), dir).await;
    app.patch("kept", json!({"desiredCapacity": 5.0})).await;
    let (_, b) = app.get("kept").await;
    assert_eq!(b["scalingStatus"], "InProgress");
    app.patch("other", json!({"desiredCapacity": 0.5})).await;
    let dir = app.stop().await;

    let app = spawn_with(config, dir).await;
    let (_, b) = app.get("kept").await;
    assert_eq!((b["scalingStatus"].as_str(), b["actualCapacity"].as_f64()), (Some("Successful"), Some(5.0)));
    let (_, b) = app.get("other").await;
    assert_eq!((b["scalingStatus"].as_str(), b["desiredCapacity"].as_f64()), (Some("InProgress"), Some(0.5)));
    app.stop().await;
}

mod file {
    #[tokio::test]
    async fn restart_keeps_state() {
        super::restart_keeps_state(crate::helpers::StoreKind::File).await;
    }
}

mod sqlite {
    #[tokio::test]
    async fn restart_keeps_state() {
        super::restart_keeps_state(crate::helpers::StoreKind::Sqlite).await;
    }
}
