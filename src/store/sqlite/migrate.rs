//! The SQLite store's schema migrations (`migrations/sqlite/`), run through
//! rusqlite and recorded in `_sqlx_migrations` exactly as sqlx 0.8 recorded
//! them when it ran them (crest used sqlx for this before): files migrated
//! by either open with the other, and nothing is applied twice.
//!
//! As sqlx did: the table is created if missing; a migration recorded as
//! failed, or recorded but unknown to this binary (a newer crest migrated
//! the file), or recorded with another checksum (its SQL was changed) stops
//! the opening; every migration not yet recorded is applied in version
//! order, each in its own transaction together with its record
//! (`success` TRUE, `checksum` SHA-384 of the file, `execution_time` -1),
//! and its execution time in nanoseconds is filled in after the commit.

use super::connection::{damaged_at_open, is_damage, open_connection, open_error};
use crate::store::StoreError;
use crate::store::migrations::{Embedded, SQLITE, pending};
use rusqlite::{Connection, TransactionBehavior, params};
use std::path::Path;
use std::time::Instant;

/// sqlx 0.8's table, in its words.
const CREATE_TABLE: &str = r"
CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
);
                ";

/// Why the migrations cannot run.
enum Refusal {
    Sql(rusqlite::Error),
    /// A migration's SQL failed (`version`, description).
    Apply(i64, String, rusqlite::Error),
    /// The recorded migrations do not fit this binary's.
    Records(String),
}

impl From<rusqlite::Error> for Refusal {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

/// Applies the migrations this database lacks. `path` is the real file,
/// `shown` the path as given, for messages.
///
/// # Errors
/// `Open`: the file is damaged (restore it from a backup), its recorded
/// migrations do not fit this binary's, a migration failed (nothing of it
/// is kept), or the file cannot be opened.
pub(super) async fn migrate(path: &Path, shown: &str) -> Result<(), StoreError> {
    let (owned, name) = (path.to_owned(), shown.to_owned());
    tokio::task::spawn_blocking(move || run(&owned, &name, SQLITE)).await.map_err(|e| open_error(shown, &e))?
}

/// [`migrate`] with the migrations `known`, oldest first.
fn run(path: &Path, shown: &str, known: &[Embedded]) -> Result<(), StoreError> {
    let sql_error = |e: &rusqlite::Error| if is_damage(e) { damaged_at_open(shown, e) } else { open_error(shown, e) };
    // WAL, synchronous=FULL, foreign keys and the 5 s busy timeout, as the
    // store's own connections (and sqlx's) have them.
    let mut conn = open_connection(path, false).map_err(|e| sql_error(&e))?;
    apply_missing(&mut conn, known).map_err(|refusal| match refusal {
        Refusal::Sql(e) => sql_error(&e),
        Refusal::Apply(_, _, e) if is_damage(&e) => damaged_at_open(shown, &e),
        Refusal::Apply(version, description, e) => {
            open_error(shown, &format!("migration {version} ({description}) failed, nothing of it was kept: {e}"))
        }
        Refusal::Records(why) => StoreError::Open(format!("store: sqlite:{shown}: {why}")),
    })
}

fn apply_missing(conn: &mut Connection, known: &[Embedded]) -> Result<(), Refusal> {
    conn.execute_batch(CREATE_TABLE)?;
    let applied: Vec<(i64, Vec<u8>, bool)> = conn
        .prepare("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for m in pending(known, &applied, "sqlite").map_err(Refusal::Records)? {
        apply(conn, m)?;
    }
    Ok(())
}

/// One migration and its record in one transaction; its time after.
fn apply(conn: &mut Connection, m: &Embedded) -> Result<(), Refusal> {
    let started = Instant::now();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(m.sql).map_err(|e| Refusal::Apply(m.version(), m.description(), e))?;
    tx.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (?1, ?2, TRUE, ?3, -1)",
        params![m.version(), m.description(), m.checksum()],
    )?;
    tx.commit()?;
    let nanos = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
    conn.execute("UPDATE _sqlx_migrations SET execution_time = ?1 WHERE version = ?2", params![nanos, m.version()])?;
    tracing::info!(version = m.version(), description = %m.description(), "sqlite: migration applied");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{SQLITE, run};
    use crate::store::migrations::Embedded;
    use rusqlite::Connection;

    /// A new file in `dir`, migrated with `known`.
    fn migrated(dir: &tempfile::TempDir, known: &[Embedded]) -> (std::path::PathBuf, Result<(), String>) {
        let path = dir.path().join("m.db");
        std::fs::File::create(&path).unwrap();
        let result = run(&path, "m.db", known).map_err(|e| e.to_string());
        (path, result)
    }

    type Record = (i64, String, bool, Vec<u8>, i64);

    fn records(path: &std::path::Path) -> Vec<Record> {
        let conn = Connection::open(path).unwrap();
        let mut s = conn
            .prepare(
                "SELECT version, description, success, checksum, execution_time FROM _sqlx_migrations ORDER BY version",
            )
            .unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn records_each_migration_as_sqlx_did_and_applies_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let (path, result) = migrated(&dir, SQLITE);
        result.unwrap();
        let first = records(&path);
        let expected: Vec<_> = SQLITE.iter().map(|m| (m.version(), m.description(), true, m.checksum())).collect();
        let got: Vec<_> = first.iter().map(|(v, d, s, c, _)| (*v, d.clone(), *s, c.clone())).collect();
        assert_eq!(got, expected);
        assert!(first.iter().all(|r| r.4 > 0), "execution times filled in: {first:?}");
        // Again: nothing to do, nothing re-recorded.
        run(&path, "m.db", SQLITE).unwrap();
        assert_eq!(records(&path), first);
        // A later migration is applied on top, alone.
        let mut more = SQLITE.to_vec();
        more.push(Embedded { file: "20261231000099_more.sql", sql: "CREATE TABLE more (x INTEGER);" });
        run(&path, "m.db", &more).unwrap();
        assert_eq!(records(&path).len(), SQLITE.len() + 1);
        assert_eq!(records(&path)[..SQLITE.len()], first[..]);
    }

    #[test]
    fn refuses_a_changed_a_failed_or_an_unknown_migration() {
        let dir = tempfile::tempdir().unwrap();
        let (path, result) = migrated(&dir, SQLITE);
        result.unwrap();
        let mut changed = SQLITE.to_vec();
        changed[1].sql = "CREATE TABLE IF NOT EXISTS secrets (name TEXT);";
        let err = run(&path, "m.db", &changed).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err.starts_with("store: sqlite:m.db: migration 20261121000002 (secrets) was applied from other SQL"),
            "{err}"
        );
        assert!(err.contains("checksum"), "{err}");

        let err = run(&path, "m.db", &SQLITE[..2]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("this database was migrated by a newer crest (migration 20261122000003"), "{err}");

        let conn = Connection::open(&path).unwrap();
        conn.execute("UPDATE _sqlx_migrations SET success = false WHERE version = 20261122000004", []).unwrap();
        let err = run(&path, "m.db", SQLITE).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("migration 20261122000004 is recorded as failed"), "{err}");
    }

    /// The table loses `updated_at` (thirteen columns), and a row stored
    /// before `changed_at` existed gets its time from it; a row with a
    /// `changed_at` keeps it, and one whose `updated_at` is no time keeps 0.
    #[test]
    fn thirteen_columns_keep_each_rows_time() {
        let dir = tempfile::tempdir().unwrap();
        let before = SQLITE.iter().position(|m| m.version() == 20261207000008).unwrap();
        let (path, result) = migrated(&dir, &SQLITE[..before]);
        result.unwrap();
        let conn = Connection::open(&path).unwrap();
        for (id, changed_at, updated_at) in
            [("old", 0, "2026-11-22T00:00:00.123Z"), ("new", 42, "2026-11-22T00:00:00.000Z"), ("odd", 0, "junk")]
        {
            conn.execute(
                "INSERT INTO dimensions (id, revision, version, resource_name, dimension_name, desired_capacity, \
                 actual_capacity, scaling_status, updated_at, changed_at) \
                 VALUES (?1, 1, 'v', 'r', 'd', 1.0, 1.0, 'Successful', ?2, ?3)",
                rusqlite::params![id, updated_at, changed_at],
            )
            .unwrap();
        }
        run(&path, "m.db", SQLITE).unwrap();
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('dimensions')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(columns.len(), 13, "{columns:?}");
        assert!(!columns.iter().any(|c| c == "updated_at"), "{columns:?}");
        let times: Vec<(String, i64)> = conn
            .prepare("SELECT id, changed_at FROM dimensions ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let expected = [("new", 42), ("odd", 0), ("old", 1_795_305_600_123)].map(|(id, t)| (id.to_owned(), t));
        assert_eq!(times, expected);
    }

    #[test]
    fn a_failing_migration_keeps_nothing_of_itself() {
        let dir = tempfile::tempdir().unwrap();
        let mut broken = SQLITE[..1].to_vec();
        broken.push(Embedded {
            file: "20261201000002_broken.sql",
            sql: "CREATE TABLE half (x); SELECT nope FROM nowhere;",
        });
        let (path, result) = migrated(&dir, &broken);
        let err = result.expect_err("the broken migration fails");
        assert!(err.contains("migration 20261201000002 (broken) failed, nothing of it was kept"), "{err}");
        assert!(err.contains("no such table: nowhere"), "{err}");
        assert_eq!(records(&path).len(), 1, "only the first is recorded");
        let conn = Connection::open(&path).unwrap();
        let half: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'half'", [], |r| r.get(0)).unwrap();
        assert_eq!(half, 0, "rolled back");
    }
}
