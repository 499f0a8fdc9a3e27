//! The SQLite store's reads: a few read-only connections, used inline for
//! point reads and from the blocking pool for lists, history and secrets.
//!
//! While nothing is being written, a reader keeps its read transaction (its
//! snapshot of the database) open from one read to the next: a point read
//! then costs the B-tree search and the row, not also SQLite's read locks
//! (`fcntl` on the database and its `-shm` file) and the check of the
//! file's size that beginning and ending a transaction costs every read.
//! "Nothing is being written" means no commit since the last checkpoint
//! that copied the whole WAL into the database: then a kept snapshot reads
//! the database file alone (SQLite's read mark 0), which neither stops a
//! checkpoint (there is nothing to copy) nor the next commit from starting
//! the WAL over. Once something is committed, reads go back to a
//! transaction each (autocommit), as before, so the WAL keeps restarting
//! under a mixed load; a kept snapshot is dropped at its next use, and idle
//! ones by the checkpointer before it checkpoints.
//!
//! A snapshot is never stale when it is used: the writer bumps `Commits`
//! after every commit, before anyone hears of it, and a snapshot is reused
//! only while the count is the one it was begun at.

use super::connection::{closed, open_connection};
use super::integrity::Damage;
use crate::domain::DimensionId;
use crate::store::StoreError;
use crate::store::row::{DimensionRow, HistoryRow, history_columns, select_dimension};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Read-only connections (a task uses one at a time, briefly).
const READERS: usize = 4;

const SELECT: &str = select_dimension!("id = ?1");

/// The writer's commits, counted, and how many of them the last complete
/// checkpoint covered (shared by the writer, the checkpointer and the readers).
#[derive(Clone)]
pub(super) struct Commits(Arc<(AtomicU64, AtomicU64)>);

/// `clean` before the first complete checkpoint: not quiet.
const NEVER: u64 = u64::MAX;

impl Default for Commits {
    fn default() -> Self {
        Self(Arc::new((AtomicU64::new(0), AtomicU64::new(NEVER))))
    }
}

impl Commits {
    /// After a commit (or a failed one), before its changes are answered
    /// or cached.
    pub(super) fn bump(&self) {
        self.0.0.fetch_add(1, Ordering::Release);
    }

    /// How many commits there have been.
    pub(super) fn count(&self) -> u64 {
        self.0.0.load(Ordering::Acquire)
    }

    /// A checkpoint that began after `count` commits copied the whole WAL.
    pub(super) fn checkpointed(&self, count: u64) {
        self.0.1.store(count, Ordering::Release);
    }

    /// The commit count now, and whether the database is quiet: nothing
    /// committed since the last complete checkpoint.
    pub(super) fn now(&self) -> (u64, bool) {
        let count = self.count();
        (count, self.0.1.load(Ordering::Acquire) == count)
    }
}

/// A read-only connection, and the commit count its kept read transaction
/// was begun at (None: none kept).
struct Reader {
    conn: Connection,
    snapshot: Option<u64>,
}

impl Reader {
    /// The connection, ready to read everything committed up to `count`:
    /// in its kept snapshot if that is as new, else in a new one kept while
    /// the database is `quiet`, else with no transaction held (autocommit).
    fn at(&mut self, (count, quiet): (u64, bool)) -> rusqlite::Result<&Connection> {
        if self.snapshot == Some(count) && quiet && !self.conn.is_autocommit() {
            return Ok(&self.conn);
        }
        self.release();
        if quiet {
            // Deferred: the snapshot is taken by the first read, after `count` was read.
            self.conn.prepare_cached("BEGIN")?.execute([])?;
            self.snapshot = Some(count);
        }
        Ok(&self.conn)
    }

    /// Ends the kept read transaction, if one is open.
    fn release(&mut self) {
        self.snapshot = None;
        if !self.conn.is_autocommit() {
            // A read-only transaction: nothing to lose. Should this fail,
            // `at` sees the transaction still open and tries again.
            let _ = self.conn.prepare_cached("ROLLBACK").and_then(|mut s| s.execute([]));
        }
    }
}

/// The read-only connections, each behind its own lock.
pub(super) struct Readers {
    conns: Vec<Mutex<Option<Reader>>>,
    next: AtomicUsize,
    damage: Damage,
    commits: Commits,
}

impl Readers {
    pub(super) fn open(path: &Path, damage: Damage, commits: Commits) -> rusqlite::Result<Self> {
        let conns = (0..READERS)
            .map(|_| open_connection(path, true).map(|conn| Mutex::new(Some(Reader { conn, snapshot: None }))))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Self { conns, next: AtomicUsize::new(0), damage, commits })
    }

    /// Runs `f` on a free connection (or waits briefly for one): the first
    /// free one, so that reads gather on as few connections as run at once
    /// (one per runtime thread at most) and their page caches stay warm
    /// instead of four caches each holding a quarter of what is read. It
    /// reads in a snapshot that shows every change answered so far. Its
    /// failure is `Corrupt` when SQLite finds the file damaged, else
    /// `Unavailable`.
    pub(super) fn with<R>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> Result<R, StoreError> {
        let mut guard = self.conns.iter().find_map(|c| c.try_lock().ok());
        let guard = guard.get_or_insert_with(|| {
            let busy = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
            self.conns[busy].lock().unwrap_or_else(PoisonError::into_inner)
        });
        let reader = guard.as_mut().ok_or_else(closed)?;
        let result = reader.at(self.commits.now()).and_then(f);
        if result.is_err() {
            reader.release();
        }
        result.map_err(|e| self.damage.error(e))
    }

    /// Ends the kept read transactions of the connections nobody is using,
    /// so that a checkpoint can copy the whole WAL and the next commit can
    /// start it over (the checkpointer calls this before each checkpoint).
    pub(super) fn release_idle(&self) {
        for conn in &self.conns {
            if let Ok(mut reader) = conn.try_lock()
                && let Some(reader) = reader.as_mut()
            {
                reader.release();
            }
        }
    }

    /// How many connections keep a snapshot now (those not in use).
    #[cfg(test)]
    pub(super) fn kept(&self) -> usize {
        self.conns
            .iter()
            .filter(|c| c.try_lock().is_ok_and(|r| r.as_ref().is_some_and(|r| r.snapshot.is_some())))
            .count()
    }

    /// Whether nothing was committed since the last complete checkpoint.
    #[cfg(test)]
    pub(super) fn quiet(&self) -> bool {
        self.commits.now().1
    }

    pub(super) fn close(&self) {
        for conn in &self.conns {
            conn.lock().unwrap_or_else(PoisonError::into_inner).take();
        }
    }
}

/// The row of `id`, unchecked (the caller checks it: `into_dimension`).
pub(super) fn fetch(conn: &Connection, id: &DimensionId) -> rusqlite::Result<Option<DimensionRow>> {
    conn.prepare_cached(SELECT)?.query_row([id.as_str()], |r| DimensionRow::from_sqlite_for(r, id)).optional()
}

/// A page of dimensions with ids after `after`, of `status` if given.
pub(super) fn list(
    conn: &Connection,
    after: &str,
    status: Option<&str>,
    limit: i64,
) -> rusqlite::Result<Vec<DimensionRow>> {
    const LIST: &str =
        select_dimension!("id > ?1 AND scaling_status = coalesce(?2, scaling_status) ORDER BY id LIMIT ?3");
    let mut s = conn.prepare_cached(LIST)?;
    let rows = s.query_map(params![after, status, limit], DimensionRow::from_sqlite)?;
    rows.collect()
}

/// A page of the id's history, newest first: revisions below `before`,
/// entries at or after `cutoff` (ms).
pub(super) fn history(
    conn: &Connection,
    id: &str,
    before: i64,
    cutoff: i64,
    limit: i64,
) -> rusqlite::Result<Vec<HistoryRow>> {
    let mut s = conn.prepare_cached(HISTORY_PAGE)?;
    let rows = s.query_map(params![id, before, cutoff, limit], HistoryRow::from_sqlite)?;
    rows.collect()
}

/// The statement of `history`.
pub(super) const HISTORY_PAGE: &str = concat!(
    "SELECT ",
    history_columns!(),
    " FROM history WHERE dimension_id = ?1 AND revision < ?2 AND at >= ?3 ORDER BY revision DESC LIMIT ?4"
);

pub(super) fn secret(conn: &Connection, name: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.query_row("SELECT value FROM secrets WHERE name = ?1", [name], |r| r.get(0)).optional()
}
