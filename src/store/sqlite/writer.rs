//! The SQLite store's writes: one writer thread that commits the changes in
//! its queue in groups (one fsync per group), and the checkpointer thread.

use super::integrity::Damage;
use super::reader::{Commits, Readers};
use crate::domain::history::to_ms;
use crate::domain::{Capacity, Dimension, DimensionId, HistoryEntry, Retention};
use crate::store::StoreError;
use crate::store::row;
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Creates a dimension; does nothing if the id exists (then it is re-read).
const INSERT: &str = "INSERT INTO dimensions (id, revision, version, resource_name, dimension_name, \
    desired_capacity, actual_capacity, scaling_status, failure_reason, status_since, min_capacity, max_capacity, \
    changed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) ON CONFLICT (id) DO NOTHING";

/// Changes a dimension only at the revision the transition saw (`?14`).
const UPDATE: &str = "UPDATE dimensions SET revision = ?2, version = ?3, resource_name = ?4, \
    dimension_name = ?5, desired_capacity = ?6, actual_capacity = ?7, scaling_status = ?8, failure_reason = ?9, \
    status_since = ?10, min_capacity = ?11, max_capacity = ?12, changed_at = ?13 WHERE id = ?1 AND revision = ?14";

/// For a change that keeps the status: SQLite rewrites the index entries of
/// every column set, changed or not (`dimensions_status`: a page more).
const UPDATE_KEEPING_STATUS: &str = "UPDATE dimensions SET revision = ?2, version = ?3, resource_name = ?4, \
    dimension_name = ?5, desired_capacity = ?6, actual_capacity = ?7, failure_reason = ?9, \
    status_since = ?10, min_capacity = ?11, max_capacity = ?12, changed_at = ?13 WHERE id = ?1 AND revision = ?14";

const INSERT_HISTORY: &str = "INSERT INTO history (dimension_id, revision, at, created, method, client, \
    request_id, changes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (dimension_id, revision) DO UPDATE SET \
    at = excluded.at, created = excluded.created, method = excluded.method, client = excluded.client, \
    request_id = excluded.request_id, changes = excluded.changes";

/// The trim after a change, by the primary key alone (the history's one
/// index: a change writes its row's page, the history's last page, where
/// entries are appended, and the index's page for its entry).
/// First the dimension's oldest entry; most changes stop there (nothing
/// beyond the count or the age kept). Else the oldest entry within the age
/// kept, if the oldest is older, and one `DELETE` of what comes before the
/// first entry kept. Each statement seeks; together they read the entries
/// deleted and one more.
const OLDEST_ENTRY: &str = "SELECT revision, at FROM history WHERE dimension_id = ?1 ORDER BY revision LIMIT 1";
const OLDEST_RECENT_ENTRY: &str =
    "SELECT revision FROM history WHERE dimension_id = ?1 AND at >= ?2 ORDER BY revision LIMIT 1";
const TRIM_HISTORY: &str = "DELETE FROM history WHERE dimension_id = ?1 AND revision < ?2";

/// The most changes one group commit takes.
const MAX_GROUP: usize = 256;

/// How often the checkpointer copies the WAL into the database (when
/// anything was committed since it last copied all of it). Each checkpoint
/// competes with the commits for the CPU and the disk (its fsync of the
/// database): small ones often keep the write tail down. Durable PATCH at
/// c=16, p99: 250 ms 12.5-14.5 ms, 50 ms 8.3-10.4 ms, 25 ms 6.8-7.2 ms, the
/// same throughput (bench/README.md, sixth round).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(25);

/// A write for the writer thread; `reply` gets the answer after the commit.
pub(super) enum Op {
    /// Insert (`expected` None) or update at revision `expected`; answers
    /// false when the row was not as expected. `same_status`: the row at
    /// `expected` has the dimension's status.
    Put {
        dimension: Box<Dimension>,
        expected: Option<u64>,
        same_status: bool,
        entry: Box<HistoryEntry>,
        reply: Reply<bool>,
    },
    Delete {
        id: DimensionId,
        reply: Reply<bool>,
    },
    Secret {
        name: String,
        value: Vec<u8>,
        reply: Reply<bool>,
    },
    /// How many dimensions are stored, after the changes queued before it.
    Count {
        reply: Reply<u64>,
    },
}

pub(super) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Starts the writer thread on `conn`; it stops once every sender is gone
/// and its queue is done. It bumps `commits` after every commit.
pub(super) fn spawn_writer(
    conn: Connection,
    retention: Retention,
    damage: Damage,
    commits: Commits,
) -> std::io::Result<(mpsc::UnboundedSender<Op>, JoinHandle<()>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let thread = std::thread::Builder::new()
        .name("crest-sqlite-writer".into())
        .spawn(move || writer_loop(conn, rx, retention, &damage, &commits))?;
    Ok((tx, thread))
}

/// Starts the checkpointer thread on `conn`; dropping the sender stops it.
pub(super) fn spawn_checkpointer(
    conn: Connection,
    damage: Damage,
    readers: Arc<Readers>,
    commits: Commits,
) -> std::io::Result<(std::sync::mpsc::Sender<()>, JoinHandle<()>)> {
    let (stop, stopped) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("crest-sqlite-checkpoint".into())
        .spawn(move || checkpoint_loop(conn, stopped, &damage, &readers, &commits))?;
    Ok((stop, thread))
}

/// Checkpoints on its own connection (`PASSIVE`: never blocks a writer or
/// reader), so commits do not stall on SQLite's automatic checkpoint.
/// Damage it meets is remembered (and logged) by `damage`. Before each, the
/// readers' idle kept snapshots are released (one would keep it from
/// copying the frames committed after it); after one that copied the whole
/// WAL, `commits` hears how many commits it covered (then readers may keep
/// snapshots again until the next commit: `reader`). Nothing is done
/// while nothing was committed since the last checkpoint that copied the
/// whole WAL.
fn checkpoint_loop(
    conn: Connection,
    stop: std::sync::mpsc::Receiver<()>,
    damage: &Damage,
    readers: &Readers,
    commits: &Commits,
) {
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        let (count, quiet) = commits.now();
        if quiet {
            continue;
        }
        readers.release_idle();
        // (busy, frames in the WAL, frames copied)
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        });
        match done {
            Ok((0, log, copied)) if log == copied => commits.checkpointed(count),
            Ok(_) => {}
            Err(e) => {
                if let e @ StoreError::Unavailable(_) = damage.error(e) {
                    tracing::debug!(error = %e, "sqlite checkpoint failed; retrying later");
                }
            }
        }
    }
}

/// The writer thread: group commits until every sender is gone. It also
/// keeps the number of stored dimensions: the writer is the only one that
/// changes them (one process owns the file), so after one `count(*)`, at
/// the first `Count`, it follows every committed insert and delete.
fn writer_loop(
    mut conn: Connection,
    mut rx: mpsc::UnboundedReceiver<Op>,
    retention: Retention,
    damage: &Damage,
    commits: &Commits,
) {
    let mut stored: Option<u64> = None;
    while let Some(first) = rx.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(op) => group.push(op),
                Err(_) => break,
            }
        }
        let (counts, group): (Vec<Op>, Vec<Op>) = group.into_iter().partition(|op| matches!(op, Op::Count { .. }));
        if !group.is_empty() {
            let delta = commit_group(&mut conn, group, &retention, damage, commits);
            stored = stored.map(|n| n.saturating_add_signed(delta));
        }
        for op in counts {
            if let Op::Count { reply } = op {
                let n = match stored {
                    Some(n) => Ok(n),
                    None => conn
                        .query_row("SELECT count(*) FROM dimensions", [], |r| r.get::<_, i64>(0))
                        .map(|n| u64::try_from(n).unwrap_or(0))
                        .map_err(|e| damage.error(e)),
                };
                stored = n.as_ref().ok().copied();
                let _ = reply.send(n);
            }
        }
    }
}

/// One transaction for the whole group. Returns how many dimensions the
/// committed group created minus those it deleted. `commits` is bumped
/// after the `COMMIT` (even a failed one), before anyone is answered.
///
/// The changes are first applied one after the other, with no savepoint:
/// a savepoint makes SQLite copy every page its change touches into a
/// journal first (with the two statements around it, about 9,000
/// instructions per change). Should a change fail, the group is rolled back
/// and applied again with a savepoint per change, so that the failed one
/// is undone alone and the others are still stored.
fn commit_group(
    conn: &mut Connection,
    group: Vec<Op>,
    retention: &Retention,
    damage: &Damage,
    commits: &Commits,
) -> i64 {
    let sql = |e: rusqlite::Error| damage.error(e);
    let fail_all = |group: Vec<Op>, e: StoreError| {
        for op in group {
            answer(op, Err(copy(&e)));
        }
    };
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        fail_all(group, sql(e));
        return 0;
    }
    let mut results: Vec<Result<bool, StoreError>> = Vec::with_capacity(group.len());
    for op in &group {
        match apply(conn, op, retention, damage) {
            Ok(done) => results.push(Ok(done)),
            Err(_) => break,
        }
    }
    if results.len() < group.len() {
        // SQLite may have ended the transaction itself (an I/O error).
        let _ = conn.execute_batch("ROLLBACK");
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            fail_all(group, sql(e));
            return 0;
        }
        results = group.iter().map(|op| in_savepoint(conn, op, retention, damage)).collect();
    }
    let committed = conn.execute_batch("COMMIT");
    commits.bump();
    if let Err(e) = committed {
        // Nothing of the group is stored: everybody hears so.
        let _ = conn.execute_batch("ROLLBACK");
        fail_all(group, sql(e));
        return 0;
    }
    let mut delta = 0;
    for (op, result) in group.into_iter().zip(results) {
        match (&op, &result) {
            (Op::Put { expected: None, .. }, Ok(true)) => delta += 1,
            (Op::Delete { .. }, Ok(true)) => delta -= 1,
            _ => {}
        }
        answer(op, result);
    }
    delta
}

/// `op` applied in a savepoint of its own: undone alone if it fails.
fn in_savepoint(conn: &Connection, op: &Op, retention: &Retention, damage: &Damage) -> Result<bool, StoreError> {
    let sql = |e: rusqlite::Error| damage.error(e);
    let step = |statement: &str| conn.prepare_cached(statement).and_then(|mut s| s.execute([]));
    let result = step("SAVEPOINT op").map_err(sql).and_then(|_| apply(conn, op, retention, damage));
    let end = if result.is_ok() {
        step("RELEASE op").map(drop)
    } else {
        step("ROLLBACK TO op").and_then(|_| step("RELEASE op")).map(drop)
    };
    match (result, end) {
        (Ok(_), Err(e)) => Err(sql(e)),
        (result, _) => result,
    }
}

/// The same failure again, for each change of a group.
fn copy(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
        StoreError::Open(m) => StoreError::Open(m.clone()),
    }
}

fn answer(op: Op, result: Result<bool, StoreError>) {
    // A caller that went away does not mind.
    match op {
        Op::Put { reply, .. } | Op::Delete { reply, .. } | Op::Secret { reply, .. } => {
            let _ = reply.send(result);
        }
        Op::Count { reply } => {
            let _ = reply.send(result.map(u64::from));
        }
    }
}

fn apply(conn: &Connection, op: &Op, retention: &Retention, damage: &Damage) -> Result<bool, StoreError> {
    let sql = |e: rusqlite::Error| damage.error(e);
    match op {
        Op::Put { dimension: d, expected, same_status, entry, .. } => {
            let columns = params![
                d.id().as_str(),
                row::revision(d)?,
                &*d.version,
                &*d.resource_name,
                &*d.dimension_name,
                d.desired_capacity.get(),
                d.actual_capacity.get(),
                d.scaling_status.as_str(),
                d.failure_reason,
                row::status_since(d),
                d.min_capacity.map(Capacity::get),
                d.max_capacity.map(Capacity::get),
                row::changed_at(d),
            ];
            let changed = match expected {
                None => conn.prepare_cached(INSERT).and_then(|mut s| s.execute(columns)),
                Some(r) => {
                    conn.prepare_cached(if *same_status { UPDATE_KEEPING_STATUS } else { UPDATE }).and_then(|mut s| {
                        let mut all = columns.to_vec();
                        let r = row::signed(*r);
                        all.push(&r);
                        s.execute(all.as_slice())
                    })
                }
            }
            .map_err(sql)?;
            if changed != 1 {
                return Ok(false);
            }
            write_history(conn, d.id(), entry, retention).map_err(sql)?;
            Ok(true)
        }
        Op::Delete { id, .. } => {
            let gone = conn.execute("DELETE FROM dimensions WHERE id = ?1", [id.as_str()]).map_err(sql)?;
            conn.execute("DELETE FROM history WHERE dimension_id = ?1", [id.as_str()]).map_err(sql)?;
            Ok(gone > 0)
        }
        Op::Count { .. } => Ok(false),
        Op::Secret { name, value, .. } => {
            conn.execute(
                "INSERT INTO secrets (name, value, updated_at) VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                params![name, value],
            )
            .map_err(sql)?;
            Ok(true)
        }
    }
}

/// Appends `entry` to the dimension's history and trims it to `retention`.
fn write_history(
    conn: &Connection,
    id: &DimensionId,
    entry: &HistoryEntry,
    retention: &Retention,
) -> rusqlite::Result<()> {
    conn.prepare_cached(INSERT_HISTORY)?.execute(params![
        id.as_str(),
        row::signed(entry.revision),
        entry.time_ms(),
        entry.created,
        entry.source.method,
        entry.source.client,
        entry.source.request_id,
        row::changes_json(entry).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
    ])?;
    trim_history(conn, id.as_str(), entry, retention)
}

/// Drops the entries of `id` beyond the count and age kept (see
/// `OLDEST_ENTRY`). An entry older than the age kept that follows a newer
/// one (the clock went back) stays until those before it go; reads never
/// show it (`reader::history`).
fn trim_history(conn: &Connection, id: &str, entry: &HistoryEntry, retention: &Retention) -> rusqlite::Result<()> {
    let newest = row::signed(entry.revision);
    let mut keep_from = row::signed(retention.drop_through(entry.revision)).saturating_add(1);
    let cutoff = to_ms(retention.cutoff(entry.time));
    let oldest = conn.prepare_cached(OLDEST_ENTRY)?.query_row([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)));
    let Some((oldest, at)) = oldest.optional()? else {
        return Ok(());
    };
    if at < cutoff {
        let recent = conn.prepare_cached(OLDEST_RECENT_ENTRY)?.query_row(params![id, cutoff], |r| r.get::<_, i64>(0));
        keep_from = keep_from.max(recent.optional()?.unwrap_or(newest));
    }
    if oldest < keep_from {
        conn.prepare_cached(TRIM_HISTORY)?.execute(params![id, keep_from.min(newest)])?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
