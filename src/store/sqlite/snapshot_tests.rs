//! The readers' kept snapshots (`reader`): never stale when used, and never
//! holding the WAL back once idle. Real files, the real store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{SqliteStore, cache};
use crate::domain::{Capacity, Defaults, Dimension, DimensionId, Outcome, Source, TransitionError, change};
use crate::store::{Store, StoreOptions};
use std::time::{Duration, Instant};

fn id(s: &str) -> DimensionId {
    DimensionId::parse(s).unwrap()
}

/// desired := desired + 1 (creating the dimension at 0 first).
fn increment(current: Option<&Dimension>, target: &DimensionId) -> Result<Outcome, TransitionError> {
    let old = current.cloned().unwrap_or_else(|| {
        let mut d = Dimension::new(target.clone(), &Defaults::default());
        d.desired_capacity = Capacity::new(0.0).unwrap();
        d
    });
    let mut new = old.clone();
    new.desired_capacity = Capacity::new(old.desired_capacity.get() + 1.0).unwrap();
    new.revision = old.revision + 1;
    let changes = change::diff(&old, &new);
    Ok(Outcome { dimension: new, changes, created: current.is_none() })
}

async fn bump(s: &SqliteStore, target: &DimensionId) -> u64 {
    s.update(target, &|c| increment(c, target), &Source::method("PATCH")).await.unwrap().dimension.revision
}

async fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&dir.path().join("s.db").display().to_string(), &StoreOptions::default()).await.unwrap()
}

/// A reader that began its snapshot before a commit never answers from it
/// after the commit: a dimension no longer in the memory cache is read as
/// committed. (Many rounds, each a few milliseconds: the checkpointer's
/// bump every 250 ms cannot hide a stale snapshot in all of them.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_never_hides_an_answered_commit() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir).await;
    let (a, b) = (id("a"), id("b"));
    bump(&s, &a).await;
    bump(&s, &b).await;
    for round in 2..=60 {
        cache::clear(&s.cache);
        // Read from SQLite: the reader's snapshot is taken here, then kept.
        assert!(s.get(&a).await.unwrap().is_some());
        assert_eq!(bump(&s, &b).await, round);
        cache::clear(&s.cache);
        let read = s.get(&b).await.unwrap().unwrap();
        assert_eq!(read.revision, round, "round {round}: the read showed a snapshot from before the commit");
    }
    s.close().await;
}

/// (frames in the WAL, frames copied into the database) after a passive
/// checkpoint on a connection of our own.
fn wal_frames(path: &std::path::Path) -> (i64, i64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| Ok((r.get(1)?, r.get(2)?))).unwrap()
}

/// A reader left idle with its snapshot does not keep the WAL from being
/// copied whole into the database (after which the next commit starts the
/// WAL over): the checkpointer releases idle snapshots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_snapshot_does_not_hold_the_wal_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir).await;
    let (a, b) = (id("a"), id("b"));
    bump(&s, &a).await;
    bump(&s, &b).await;
    cache::clear(&s.cache);
    assert!(s.get(&a).await.unwrap().is_some(), "a reader now holds a snapshot");
    // Commits after it; b is cached, so no read refreshes the snapshot.
    for _ in 0..200 {
        bump(&s, &b).await;
    }
    let path = dir.path().join("s.db");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (log, copied) = wal_frames(&path);
        if log == copied {
            break;
        }
        assert!(Instant::now() < deadline, "after 10 s only {copied} of the WAL's {log} frames could be copied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.close().await;
}
