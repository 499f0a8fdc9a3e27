//! The SQLite store's reads: a few read-only connections, used inline for
//! point reads and from the blocking pool for lists, history and secrets.

use super::connection::{closed, open_connection};
use super::integrity::Damage;
use crate::domain::DimensionId;
use crate::store::StoreError;
use crate::store::row::{DimensionRow, HISTORY_COLUMNS, HistoryRow, select_dimension};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// Read-only connections (a task uses one at a time, briefly).
const READERS: usize = 4;

const SELECT: &str = select_dimension!("id = ?1");

/// The read-only connections, each behind its own lock.
pub(super) struct Readers {
    conns: Vec<Mutex<Option<Connection>>>,
    next: AtomicUsize,
    damage: Damage,
}

impl Readers {
    pub(super) fn open(path: &Path, damage: Damage) -> rusqlite::Result<Self> {
        let conns = (0..READERS)
            .map(|_| open_connection(path, true).map(|c| Mutex::new(Some(c))))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Self { conns, next: AtomicUsize::new(0), damage })
    }

    /// Runs `f` on a free connection (or waits briefly for one): the first
    /// free one, so that reads gather on as few connections as run at once
    /// (one per runtime thread at most) and their page caches stay warm
    /// instead of four caches each holding a quarter of what is read. Its
    /// failure is `Corrupt` when SQLite finds the file damaged, else
    /// `Unavailable`.
    pub(super) fn with<R>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> Result<R, StoreError> {
        let mut guard = self.conns.iter().find_map(|c| c.try_lock().ok());
        let guard = guard.get_or_insert_with(|| {
            let busy = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
            self.conns[busy].lock().unwrap_or_else(PoisonError::into_inner)
        });
        let conn = guard.as_ref().ok_or_else(closed)?;
        f(conn).map_err(|e| self.damage.error(e))
    }

    pub(super) fn close(&self) {
        for conn in &self.conns {
            conn.lock().unwrap_or_else(PoisonError::into_inner).take();
        }
    }
}

/// The row of `id`, unchecked (the caller checks it: `into_dimension`).
pub(super) fn fetch(conn: &Connection, id: &DimensionId) -> rusqlite::Result<Option<DimensionRow>> {
    conn.prepare_cached(SELECT)?.query_row([id.as_str()], DimensionRow::from_sqlite).optional()
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
