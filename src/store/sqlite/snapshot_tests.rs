//! The readers' kept snapshots (`reader`): never stale when used, never
//! holding the WAL back once idle, and none kept while writes go on (the
//! WAL must keep starting over). Real files, the real store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{SqliteStore, cache};
use crate::domain::{Defaults, Dimension, DimensionId, Event, Mode, Patch, Policy, Source, lifecycle};
use crate::store::{Store, StoreOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

fn id(s: &str) -> DimensionId {
    DimensionId::parse(s).unwrap()
}

/// Stores a change of `target` as a PATCH does (`lifecycle::apply`):
/// desiredCapacity set to a value no earlier call used. Answers the new
/// revision.
async fn bump(s: &SqliteStore, target: &DimensionId) -> u64 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let desired = f64::from(NEXT.fetch_add(1, Ordering::Relaxed));
    let patch = Patch::from_json(&serde_json::json!({ "desiredCapacity": desired })).unwrap();
    let policy = Policy { mode: Mode::Production, strict: false, defaults: Defaults::default() };
    let step = |c: Option<&Dimension>| lifecycle::apply(c, target, Event::Patch(&patch), &policy, SystemTime::now());
    s.update(target, &step, &Source::method("PATCH")).await.unwrap().dimension.revision
}

async fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&dir.path().join("s.db").display().to_string(), &StoreOptions::default()).await.unwrap()
}

/// Waits (at most 10 s) until the checkpointer has copied every commit:
/// then readers keep their snapshots.
async fn until_quiet(s: &SqliteStore) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.readers.quiet() {
        assert!(Instant::now() < deadline, "no complete checkpoint within 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A reader that kept its snapshot from before a commit never answers from
/// it after the commit: a dimension no longer in the memory cache is read
/// as committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_snapshot_never_hides_an_answered_commit() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir).await;
    let (a, b) = (id("a"), id("b"));
    bump(&s, &a).await;
    bump(&s, &b).await;
    for round in 2..=8 {
        until_quiet(&s).await;
        cache::clear(&s.cache);
        // Read from SQLite: the reader's snapshot is taken here, and kept.
        assert!(s.get(&a).await.unwrap().is_some());
        assert!(s.readers.kept() >= 1, "round {round}: no snapshot was kept");
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
    until_quiet(&s).await;
    cache::clear(&s.cache);
    assert!(s.get(&a).await.unwrap().is_some());
    assert!(s.readers.kept() >= 1, "a reader now keeps a snapshot");
    // Commits after it; b is cached, so no read drops the snapshot.
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

/// The WAL's salt (header bytes 16..24): SQLite changes it each time a
/// commit starts the WAL over from its beginning.
fn wal_salt(path: &std::path::Path) -> Option<[u8; 8]> {
    let header = std::fs::read(path).ok()?;
    header.get(16..24).map(|s| s.try_into().unwrap())
}

/// Reads from SQLite and writes at the same time, without a pause: the WAL
/// still starts over (as it did before readers kept snapshots), instead of
/// growing for as long as the load lasts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_reads_and_writes_together_the_wal_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(&dir).await);
    let ids: Vec<DimensionId> = (0..50).map(|i| id(&format!("r{i}"))).collect();
    for i in &ids {
        bump(&s, i).await;
    }
    until_quiet(&s).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for worker in 0..2 {
        let (s, ids, stop) = (s.clone(), ids.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let mut n = worker;
            while !stop.load(Ordering::Relaxed) {
                cache::clear(&s.cache);
                assert!(s.get(&ids[n % ids.len()]).await.unwrap().is_some());
                n += 1;
            }
        }));
    }
    let (writer, w, halt) = (s.clone(), id("w"), stop.clone());
    load.push(tokio::spawn(async move {
        while !halt.load(Ordering::Relaxed) {
            bump(&writer, &w).await;
        }
    }));
    let wal = dir.path().join("s.db-wal");
    let first = loop {
        if let Some(salt) = wal_salt(&wal) {
            break salt;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if wal_salt(&wal).is_some_and(|salt| salt != first) {
            break;
        }
        let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert!(Instant::now() < deadline, "the WAL never started over in 15 s of load; it is {size} bytes");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    s.close().await;
}
