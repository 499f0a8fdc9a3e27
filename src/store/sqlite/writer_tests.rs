//! The writer's group commit (`commit_group`): a change that fails is
//! undone alone, the rest of its group is stored. A real file, migrated by
//! the real store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{Op, commit_group};
use crate::domain::{Defaults, Dimension, DimensionId, HistoryEntry, Retention, Source};
use crate::store::sqlite::SqliteStore;
use crate::store::sqlite::connection::open_connection;
use crate::store::sqlite::integrity::Damage;
use crate::store::sqlite::reader::Commits;
use crate::store::{Store, StoreError, StoreOptions};
use std::time::SystemTime;
use tokio::sync::oneshot;

/// A new dimension `id` to insert, and where its answer arrives.
fn insert(id: &str) -> (Op, oneshot::Receiver<Result<bool, StoreError>>) {
    let id = DimensionId::parse(id).unwrap();
    let mut dimension = Dimension::new(id, &Defaults::default());
    dimension.revision = 1;
    let entry = HistoryEntry {
        revision: 1,
        time: SystemTime::now(),
        created: true,
        source: Source::method("PATCH"),
        changes: Vec::new(),
    };
    let (reply, answer) = oneshot::channel();
    (
        Op::Put { dimension: Box::new(dimension), expected: None, same_status: false, entry: Box::new(entry), reply },
        answer,
    )
}

/// A writer's connection to a file in `dir` that the store created and
/// migrated (and closed).
async fn migrated(dir: &tempfile::TempDir) -> rusqlite::Connection {
    let path = dir.path().join("w.db");
    let store = SqliteStore::open(&path.display().to_string(), &StoreOptions::default()).await.unwrap();
    store.close().await;
    drop(store);
    open_connection(&path, false).unwrap()
}

fn ids(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut s = conn.prepare(sql).unwrap();
    s.query_map([], |r| r.get(0)).unwrap().collect::<rusqlite::Result<_>>().unwrap()
}

/// The failing change has already written its dimension when its history
/// entry is refused: that row must go, the others' rows and entries stay.
#[tokio::test]
async fn a_failing_change_is_undone_alone_and_its_group_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = migrated(&dir).await;
    conn.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON history WHEN NEW.dimension_id = 'bad' \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
    )
    .unwrap();
    let (ops, mut answers): (Vec<_>, Vec<_>) = ["a", "bad", "c"].into_iter().map(insert).unzip();
    let commits = Commits::default();
    let delta = commit_group(&mut conn, ops, &Retention::default(), &Damage::new("w.db"), &commits);

    assert_eq!(delta, 2, "two dimensions created");
    assert_eq!(commits.count(), 1, "one commit");
    assert!(matches!(answers[0].try_recv(), Ok(Ok(true))));
    let refused = answers[1].try_recv().unwrap().expect_err("the refused change fails");
    assert!(refused.to_string().contains("refused by the test"), "{refused}");
    assert!(matches!(answers[2].try_recv(), Ok(Ok(true))));
    assert_eq!(ids(&conn, "SELECT id FROM dimensions ORDER BY id"), ["a", "c"]);
    assert_eq!(ids(&conn, "SELECT dimension_id FROM history ORDER BY dimension_id"), ["a", "c"]);

    // A group where nothing fails: all stored, in one more commit.
    let (ops, answers): (Vec<_>, Vec<_>) = ["d", "e"].into_iter().map(insert).unzip();
    assert_eq!(commit_group(&mut conn, ops, &Retention::default(), &Damage::new("w.db"), &commits), 2);
    for mut answer in answers {
        assert!(matches!(answer.try_recv(), Ok(Ok(true))));
    }
    assert_eq!(commits.count(), 2);
    assert_eq!(ids(&conn, "SELECT id FROM dimensions ORDER BY id"), ["a", "c", "d", "e"]);
}

/// The dimension `id` (stored at `revision` - 1) changed to `value`, with
/// its history entry `revision` at `time`.
fn update(id: &str, revision: u64, value: f64, time: SystemTime) -> (Op, oneshot::Receiver<Result<bool, StoreError>>) {
    let (op, answer) = insert(id);
    let Op::Put { mut dimension, mut entry, reply, .. } = op else { unreachable!() };
    dimension.revision = revision;
    dimension.desired_capacity = crate::domain::Capacity::new(value).unwrap();
    entry.revision = revision;
    entry.created = false;
    entry.time = time;
    (Op::Put { dimension, expected: Some(revision - 1), same_status: true, entry, reply }, answer)
}

fn revisions(conn: &rusqlite::Connection, id: &str) -> Vec<i64> {
    let mut s = conn.prepare("SELECT revision FROM history WHERE dimension_id = ?1 ORDER BY revision").unwrap();
    s.query_map([id], |r| r.get(0)).unwrap().collect::<rusqlite::Result<_>>().unwrap()
}

/// After a change, the history keeps the newest `keep` entries and drops
/// the run of entries older than `max_age` at its start (the clock may go
/// back: an old entry after a newer one stays, reads hide it).
#[tokio::test]
async fn the_trim_drops_what_is_beyond_the_count_or_the_age_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = migrated(&dir).await;
    let (damage, commits) = (Damage::new("w.db"), Commits::default());
    let hour = std::time::Duration::from_secs(3600);
    let retention = Retention { keep: 3, max_age: hour };
    let now = SystemTime::now();
    let group = |conn: &mut rusqlite::Connection, retention: &Retention, ops: Vec<_>| {
        let (ops, answers): (Vec<_>, Vec<oneshot::Receiver<Result<bool, StoreError>>>) = ops.into_iter().unzip();
        commit_group(conn, ops, retention, &damage, &commits);
        for mut answer in answers {
            assert!(matches!(answer.try_recv(), Ok(Ok(true))));
        }
    };
    group(&mut conn, &retention, vec![insert("a"), insert("b")]);
    // a: entries 2 and 3 two hours old, 4 now, 5 two hours old again.
    let old = now - 2 * hour;
    for (r, time) in [(2, old), (3, old), (4, now), (5, old), (6, now)] {
        group(&mut conn, &retention, vec![update("a", r, 1.0 + f64::from(u32::try_from(r).unwrap()), time)]);
    }
    assert_eq!(revisions(&conn, "a"), [4, 5, 6], "the count kept (3), and 1-3 by age");
    // b: the count.
    for r in 2..=6 {
        group(&mut conn, &retention, vec![update("b", r, 1.0 + f64::from(u32::try_from(r).unwrap()), now)]);
    }
    assert_eq!(revisions(&conn, "b"), [4, 5, 6]);
    let retention = Retention { keep: 100, max_age: hour };
    group(&mut conn, &retention, vec![update("b", 7, 9.0, now + 3 * hour)]);
    assert_eq!(revisions(&conn, "b"), [7], "all older than the age kept but the entry just written");
}

/// 500 dimensions, each changed `changes` times (revisions 2 ..), then the
/// WAL emptied: a file where the history spans many pages.
fn changed_often(conn: &mut rusqlite::Connection, changes: u64) -> (Damage, Commits) {
    let (damage, commits) = (Damage::new("w.db"), Commits::default());
    let ids: Vec<String> = (0..500).map(|i| format!("id-{i}")).collect();
    let (ops, _answers): (Vec<_>, Vec<_>) = ids.iter().map(|id| insert(id)).unzip();
    commit_group(conn, ops, &Retention::default(), &damage, &commits);
    for revision in 2..2 + changes {
        let (ops, _answers): (Vec<_>, Vec<_>) =
            ids.iter().map(|id| update(id, revision, 2.0, SystemTime::now())).unzip();
        commit_group(conn, ops, &Retention::default(), &damage, &commits);
    }
    let entries: i64 = conn.query_row("SELECT count(*) FROM history", [], |r| r.get(0)).unwrap();
    assert_eq!(entries, 500 * (1 + i64::try_from(changes).unwrap()), "every change of the setup stored");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    (damage, commits)
}

/// The pages written to the WAL (frame headers: the page number, 4 bytes
/// big-endian), each named by its table or index (SQLite's `dbstat`).
fn wal_pages(conn: &rusqlite::Connection, dir: &tempfile::TempDir) -> Vec<(String, u32)> {
    let page: u32 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    let wal = std::fs::read(dir.path().join("w.db-wal")).unwrap();
    let mut s = conn.prepare("SELECT name FROM dbstat WHERE pageno = ?1").unwrap();
    let mut pages: Vec<(String, u32)> = wal
        .get(32..)
        .unwrap_or_default()
        .chunks(24 + page as usize)
        .map(|frame| u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]))
        .map(|n| (s.query_row([n], |r| r.get(0)).unwrap(), n))
        .collect();
    pages.sort();
    pages.dedup();
    pages
}

/// A change writes three pages: its dimension's row, the history's last
/// page (entries are appended, migration 11) and the history's index entry
/// (small; the trim writes nothing when nothing goes).
#[tokio::test]
async fn a_change_writes_three_pages() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = migrated(&dir).await;
    let (damage, commits) = changed_often(&mut conn, 1);
    let (ops, mut answers): (Vec<_>, Vec<_>) = [update("id-250", 3, 3.0, SystemTime::now())].into_iter().unzip();
    commit_group(&mut conn, ops, &Retention::default(), &damage, &commits);
    assert!(matches!(answers[0].try_recv(), Ok(Ok(true))));
    let names: Vec<String> = wal_pages(&conn, &dir).into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["dimensions", "history", "sqlite_autoindex_history_1"], "pages one change wrote to the WAL");
}

/// The changes of a group, to dimensions spread over the file, append
/// their history entries to the history's last page (and a new one when it
/// fills), instead of each writing its entry into its own dimension's page
/// in the middle of the history (which made commits and checkpoints copy
/// scattered pages).
#[tokio::test]
async fn a_group_appends_its_history_entries_together() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = migrated(&dir).await;
    let (damage, commits) = changed_often(&mut conn, 20);
    let (ops, answers): (Vec<_>, Vec<_>) =
        (0..50).map(|i| update(&format!("id-{}", i * 10), 22, 3.0, SystemTime::now())).unzip();
    commit_group(&mut conn, ops, &Retention::default(), &damage, &commits);
    for mut answer in answers {
        assert!(matches!(answer.try_recv(), Ok(Ok(true))));
    }
    let history = wal_pages(&conn, &dir).into_iter().filter(|(name, _)| name == "history").count();
    // the last page, a new one, and the page above them that points to both
    assert!((1..=3).contains(&history), "the group's 50 history entries went to {history} pages");
}

/// The writer's and the reader's history statements are compiled once:
/// binding other values does not make SQLite compile them again (it did
/// at every use for `... WHERE dimension_id = ?1 ORDER BY revision`).
#[tokio::test]
async fn history_statements_are_not_compiled_again_per_use() {
    use rusqlite::StatementStatus::RePrepare;
    let dir = tempfile::tempdir().unwrap();
    let conn = migrated(&dir).await;
    conn.execute_batch(
        "INSERT INTO history (dimension_id, revision, at, method, changes) VALUES \
         ('a', 1, 5, 'PATCH', '[]'), ('a', 2, 6, 'PATCH', '[]'), ('b', 1, 5, 'PATCH', '[]')",
    )
    .unwrap();
    for (sql, values) in [
        (super::OLDEST_ENTRY, 1),
        (super::OLDEST_RECENT_ENTRY, 2),
        (super::TRIM_HISTORY, 2),
        (crate::store::sqlite::reader::HISTORY_PAGE, 4),
    ] {
        for round in 0..4_i64 {
            let mut s = conn.prepare_cached(sql).unwrap();
            s.raw_bind_parameter(1, if round % 2 == 0 { "a" } else { "b" }).unwrap();
            for i in 2..=values {
                s.raw_bind_parameter(i, round + 1).unwrap();
            }
            let mut rows = s.raw_query();
            while rows.next().unwrap().is_some() {}
        }
        assert_eq!(conn.prepare_cached(sql).unwrap().get_status(RePrepare), 0, "compiled again: {sql}");
    }
}
