//! The SQLite store's reads: a few read-only connections, used inline for
//! point reads and from the blocking pool for lists, history and secrets.
//!
//! A reader keeps its read transaction (its snapshot of the database) open
//! from one read to the next for as long as nothing was committed: a point
//! read then costs the B-tree search and the row, not also SQLite's read
//! locks (`fcntl` on the database and its `-shm` file) and the check of the
//! file's size, which beginning and ending a transaction for every read
//! costs. A snapshot is never stale when it is used: the writer bumps the
//! `Generation` after every commit, before anyone hears of it, and a reader
//! whose snapshot is older begins a new one. Idle snapshots are released
//! (and the generation bumped) around every checkpoint, so that no reader
//! holds the WAL back for longer than one checkpoint interval.

use super::connection::{closed, open_connection};
use super::integrity::Damage;
use crate::domain::DimensionId;
use crate::store::StoreError;
use crate::store::row::{DimensionRow, HISTORY_COLUMNS, HistoryRow, select_dimension};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Read-only connections (a task uses one at a time, briefly).
const READERS: usize = 4;

const SELECT: &str = select_dimension!("id = ?1");

/// What has been committed, as a counter: bumped after every commit (and
/// every checkpoint). A snapshot begun at generation `g` shows every change
/// anyone has been told of while the counter still reads `g`.
#[derive(Clone, Default)]
pub(super) struct Generation(Arc<AtomicU64>);

impl Generation {
    /// After a commit (or a failed one: a snapshot is then re-taken too),
    /// before its changes are answered or cached.
    pub(super) fn bump(&self) {
        self.0.fetch_add(1, Ordering::Release);
    }

    fn now(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// A read-only connection, and the generation its open read transaction
/// was begun at (None: no transaction open).
struct Reader {
    conn: Connection,
    snapshot: Option<u64>,
}

impl Reader {
    /// The connection, in a read transaction that shows everything
    /// committed up to generation `now`.
    fn at(&mut self, now: u64) -> rusqlite::Result<&Connection> {
        if self.snapshot != Some(now) || self.conn.is_autocommit() {
            self.release();
            // Deferred: the snapshot is taken by the first read, after `now` was read.
            self.conn.prepare_cached("BEGIN")?.execute([])?;
            self.snapshot = Some(now);
        }
        Ok(&self.conn)
    }

    /// Ends the read transaction, if one is open.
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
    generation: Generation,
}

impl Readers {
    pub(super) fn open(path: &Path, damage: Damage, generation: Generation) -> rusqlite::Result<Self> {
        let conns = (0..READERS)
            .map(|_| open_connection(path, true).map(|conn| Mutex::new(Some(Reader { conn, snapshot: None }))))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Self { conns, next: AtomicUsize::new(0), damage, generation })
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
        let result = reader.at(self.generation.now()).and_then(f);
        if result.is_err() {
            reader.release();
        }
        result.map_err(|e| self.damage.error(e))
    }

    /// Ends the read transactions of the connections nobody is using, so
    /// that a checkpoint can copy the whole WAL and the next commit can
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
    let sql = format!(
        "SELECT {HISTORY_COLUMNS} FROM history WHERE dimension_id = ?1 AND revision < ?2 AND at >= ?3 \
         ORDER BY revision DESC LIMIT ?4"
    );
    let mut s = conn.prepare_cached(&sql)?;
    let rows = s.query_map(params![id, before, cutoff, limit], HistoryRow::from_sqlite)?;
    rows.collect()
}

pub(super) fn secret(conn: &Connection, name: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.query_row("SELECT value FROM secrets WHERE name = ?1", [name], |r| r.get(0)).optional()
}
