//! `follow`: LISTENs for the changes other replicas commit and publishes
//! each changed dimension to the feed, reconnecting after an outage; every
//! wait before a retry gives way to shutdown.

use super::{CHANNEL, PostgresStore};
use crate::domain::DimensionId;
use crate::watch::Feed;
use sqlx::postgres::PgListener;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long `follow` waits before it tries LISTEN again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// LISTENs on a connection of its own and publishes each changed
/// dimension as read back from the table (so the feed only ever shows
/// committed state); reconnects after an outage. Returns at `shutdown`.
pub(super) async fn follow(store: &PostgresStore, feed: &Feed, shutdown: &CancellationToken) {
    while !shutdown.is_cancelled() {
        let mut listener = match PgListener::connect_with(&store.pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "postgres: cannot LISTEN for changes from other replicas; retrying");
                if !pause(shutdown).await {
                    return;
                }
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "postgres: LISTEN failed; retrying");
            if !pause(shutdown).await {
                return;
            }
            continue;
        }
        if !relay(store, &mut listener, feed, shutdown).await {
            return;
        }
    }
}

/// Waits before a retry: true when it is time, false when shutdown came first.
async fn pause(shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(RETRY_AFTER) => true,
        () = shutdown.cancelled() => false,
    }
}

/// Publishes each notification of `listener` until the connection is lost
/// (true: reconnect) or shutdown (false).
async fn relay(store: &PostgresStore, listener: &mut PgListener, feed: &Feed, shutdown: &CancellationToken) -> bool {
    loop {
        let notification = tokio::select! {
            n = listener.try_recv() => n,
            () = shutdown.cancelled() => return false,
        };
        match notification {
            Ok(Some(n)) => {
                let Ok(id) = DimensionId::stored(n.payload()) else { continue };
                match store.reads.get(&id).await {
                    Ok(Some(d)) => feed.publish(&d),
                    Ok(None) => feed.forget(&id),
                    Err(e) => tracing::warn!(error = %e, "postgres: cannot read a changed dimension"),
                }
            }
            // The connection dropped: notifications in the gap are lost
            // (long-polls still time out with the current state).
            Ok(None) => {
                tracing::warn!("postgres: the LISTEN connection dropped; reconnecting");
                return true;
            }
            Err(e) => {
                tracing::warn!(error = %e, "postgres: LISTEN failed; reconnecting");
                return pause(shutdown).await;
            }
        }
    }
}
