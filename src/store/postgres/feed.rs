//! `follow`: the changes other replicas commit, found by polling the
//! `changes` table every `store_poll_interval`, and published to the feed.
//! LISTEN would need a session of its own, which a transaction pooler
//! (PgBouncer, RDS Proxy) does not give: through one it hears nothing.
//!
//! Every change appends (transaction id, dimension id) to `changes` in the
//! statement that makes it. Each poll reads, in one statement, the current
//! snapshot and the ids written by transactions the previous poll's snapshot
//! did not see: a transaction that commits late (after a later one) is
//! still found, by the first poll whose snapshot sees it. A poll that fails
//! starts afresh (changes in the gap are not replayed: a long-poll still
//! ends at its timeout with the current state). Rows older than
//! [`KEEP_CHANGES`] are deleted by each replica now and then.

use super::PostgresStore;
use super::sql::Sql;
use crate::domain::DimensionId;
use crate::watch::Feed;
use sqlx::Row;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long rows of `changes` are kept: far longer than any poll interval.
const KEEP_CHANGES: &str = "10 minutes";
/// How often each replica trims `changes`.
const TRIM_EVERY: Duration = Duration::from_secs(60);

/// Polls until `shutdown`; see the module documentation.
pub(super) async fn follow(store: &PostgresStore, feed: &Feed, shutdown: &CancellationToken) {
    let mut since: Option<String> = None;
    let mut failing = false;
    let mut trimmed = Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep(store.poll_interval) => {}
            () = shutdown.cancelled() => return,
        }
        if !store.is_ready() {
            continue;
        }
        match poll(store, since.as_deref()).await {
            Ok((snapshot, ids)) => {
                if failing {
                    tracing::info!("postgres: reading the changes of other replicas again");
                    failing = false;
                }
                since = Some(snapshot);
                publish(store, feed, ids).await;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "postgres: cannot read the changes of other replicas; retrying");
                    failing = true;
                }
                since = None;
            }
        }
        if trimmed.elapsed() >= TRIM_EVERY {
            trimmed = Instant::now();
            let trim = format!("DELETE FROM changes WHERE at < now() - interval '{KEEP_CHANGES}'");
            if let Err(e) = store.pool.run(&trim).await {
                tracing::debug!(error = %e, "postgres: cannot trim the changes table");
            }
        }
    }
}

/// The current snapshot and the ids changed since the snapshot `since`.
async fn poll(store: &PostgresStore, since: Option<&str>) -> Result<(String, Vec<String>), crate::store::StoreError> {
    let sql = match since {
        None => Sql::new("SELECT pg_current_snapshot()::text AS snapshot, NULL::text AS id"),
        Some(prev) => Sql::new("SELECT pg_current_snapshot()::text AS snapshot, NULL::text AS id UNION ALL ")
            .sql("SELECT NULL, c.id FROM (SELECT DISTINCT dimension_id AS id FROM changes, (SELECT ")
            .text(prev)?
            .sql(
                "::pg_snapshot AS s) p WHERE xid >= pg_snapshot_xmin(p.s) AND NOT pg_visible_in_snapshot(xid, p.s)) c",
            ),
    };
    let rows = store.pool.run(sql.as_str()).await?;
    let mut snapshot = None;
    let mut ids = Vec::new();
    for row in rows {
        match (row.try_get::<Option<String>, _>("snapshot"), row.try_get::<Option<String>, _>("id")) {
            (Ok(Some(s)), _) => snapshot = Some(s),
            (_, Ok(Some(id))) => ids.push(id),
            _ => {}
        }
    }
    let snapshot = snapshot.ok_or_else(|| crate::store::StoreError::Unavailable("postgres: no snapshot".into()))?;
    Ok((snapshot, ids))
}

/// Publishes each changed dimension as read back from the table (so the
/// feed only ever shows committed state).
async fn publish(store: &PostgresStore, feed: &Feed, ids: Vec<String>) {
    for id in ids {
        let Ok(id) = DimensionId::stored(&id) else { continue };
        match store.reads.get(&id).await {
            Ok(Some(d)) => feed.publish(&d),
            Ok(None) => feed.forget(&id),
            Err(e) => tracing::warn!(error = %e, "postgres: cannot read a changed dimension"),
        }
    }
}
