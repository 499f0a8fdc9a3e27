//! The writer's group commit (`commit_group`): a change that fails is
//! undone alone, the rest of its group is stored. A real file, migrated by
//! the real store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{Op, TRIM_HISTORY_AGE, TRIM_HISTORY_COUNT, commit_group};
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
    (Op::Put { dimension: Box::new(dimension), expected: None, entry: Box::new(entry), reply }, answer)
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

/// Trimming a dimension's history after a change seeks to the entries it
/// deletes: it does not read every entry the dimension has (1,000 by
/// default, 1.6 ms per change when it did). Asked of SQLite's planner on a
/// file as crest migrates it, with no statistics gathered.
#[tokio::test]
async fn history_trims_seek_to_what_they_delete() {
    let dir = tempfile::tempdir().unwrap();
    let conn = migrated(&dir).await;
    let plan = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> String {
        let mut s = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = s.query_map(params, |r| r.get::<_, String>(3)).unwrap();
        rows.collect::<rusqlite::Result<Vec<_>>>().unwrap().join("; ")
    };
    let count = plan(TRIM_HISTORY_COUNT, &[&"a", &1]);
    assert_eq!(count, "SEARCH history USING PRIMARY KEY (dimension_id=? AND revision<?)");
    let age = plan(TRIM_HISTORY_AGE, &[&"a", &1]);
    assert_eq!(age, "SEARCH history USING INDEX history_at (dimension_id=? AND at<?)");
}
