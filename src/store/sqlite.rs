//! `sqlite:PATH` — WAL with `synchronous=FULL`: a commit is on disk before we
//! answer 200. Migrations from `migrations/sqlite/` run at open (sqlx).
//!
//! The hot path talks to SQLite directly (rusqlite), not through a driver
//! thread per query:
//! * **Reads** run inline on the calling task, on one of a few read-only
//!   connections (a point read from the page cache takes microseconds; the
//!   hand-off to a driver thread used to cost more than the read).
//! * **Writes** go to one writer thread that commits them in groups: it takes
//!   every change waiting in its queue, applies each in its own savepoint
//!   inside one `BEGIN IMMEDIATE` transaction and answers them all after the
//!   single fsync of `COMMIT` (group commit). Nobody is answered before the
//!   commit is durable; a change that fails is rolled back alone.
//! * **Atomicity** of read-transition-write: each write is conditional on the
//!   revision the transition saw (`UPDATE … WHERE revision = ?`, or an insert
//!   that must not find a row). If another process or a delete got there
//!   first, the change is re-read and re-applied. Within this process changes
//!   to one id are also serialised by a striped lock, so they never collide.
//! * **Checkpoints** (copying the WAL into the database, with its fsync) run
//!   on a thread of their own every 250 ms, not inside a commit.
//! * **One process** owns the database (an exclusive lock on `PATH.lock`, like
//!   the file store's), so the dimensions it has read can be **cached** in
//!   memory: every change is committed first and only then put in the cache,
//!   under the id's lock. GETs of cached dimensions touch no file at all.

use super::row::{self, DimensionRow, HISTORY_COLUMNS, HistoryRow, select_dimension};
use super::{ListQuery, Store, StoreError, StoreOptions, Transition, UpdateError, record};
use crate::clock::Clock;
use crate::domain::history::to_ms;
use crate::domain::{Capacity, Dimension, DimensionId, HistoryEntry, HistoryQuery, Outcome, Retention, Source};
use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const SELECT: &str = select_dimension!("id = ?1");

/// Creates a dimension; does nothing if the id exists (then it is re-read).
const INSERT: &str = "INSERT INTO dimensions (id, revision, version, resource_name, dimension_name, \
    desired_capacity, actual_capacity, scaling_status, failure_reason, status_since, min_capacity, max_capacity, \
    changed_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, \
    strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) ON CONFLICT (id) DO NOTHING";

/// Changes a dimension only at the revision the transition saw (`?14`).
const UPDATE: &str = "UPDATE dimensions SET revision = ?2, version = ?3, resource_name = ?4, \
    dimension_name = ?5, desired_capacity = ?6, actual_capacity = ?7, scaling_status = ?8, failure_reason = ?9, \
    status_since = ?10, min_capacity = ?11, max_capacity = ?12, changed_at = ?13, \
    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1 AND revision = ?14";

const INSERT_HISTORY: &str = "INSERT INTO history (dimension_id, revision, at, created, method, client, \
    request_id, changes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (dimension_id, revision) DO UPDATE SET \
    at = excluded.at, created = excluded.created, method = excluded.method, client = excluded.client, \
    request_id = excluded.request_id, changes = excluded.changes";

const TRIM_HISTORY: &str = "DELETE FROM history WHERE dimension_id = ?1 AND (revision <= ?2 OR at < ?3)";

/// Read-only connections (a task uses one at a time, briefly).
const READERS: usize = 4;
/// Locks serialising this process's changes per id (by hash).
const STRIPES: usize = 256;
/// The most changes one group commit takes.
const MAX_GROUP: usize = 256;
/// How often a change is re-applied when another writer got there first.
const MAX_ATTEMPTS: usize = 20;
/// Cached dimensions, at most (about 400 bytes each); beyond it reads go to
/// SQLite. Split in shards so that threads rarely wait for each other.
const CACHE_ENTRIES: usize = 4096;
/// SQLite's own page cache per read connection, KiB (its default is 2 MiB;
/// the hot dimensions are cached above it anyway).
const READER_PAGE_CACHE_KIB: u32 = 1024;
const CACHE_SHARDS: usize = 16;

pub struct SqliteStore {
    readers: Arc<Readers>,
    cache: Box<[Mutex<HashMap<DimensionId, Dimension>>]>,
    /// Holds `PATH.lock` for as long as the store is open.
    lock: Mutex<Option<std::fs::File>>,
    writer: Mutex<Option<mpsc::UnboundedSender<Op>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Dropping the sender stops the checkpointer thread.
    checkpointer: Mutex<Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>>,
    stripes: Box<[tokio::sync::Mutex<()>]>,
    retention: Retention,
    clock: Clock,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

fn closed() -> StoreError {
    StoreError::Unavailable("sqlite: the store is closed".into())
}

/// The read-only connections, each behind its own lock.
struct Readers {
    conns: Vec<Mutex<Option<Connection>>>,
    next: AtomicUsize,
}

impl Readers {
    /// Runs `f` on a free connection (or waits briefly for one).
    fn with<R>(&self, f: impl FnOnce(&Connection) -> Result<R, StoreError>) -> Result<R, StoreError> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.conns.len();
        let mut guard = (0..n).find_map(|i| self.conns[(start + i) % n].try_lock().ok());
        let guard = guard.get_or_insert_with(|| self.conns[start % n].lock().unwrap_or_else(PoisonError::into_inner));
        let conn = guard.as_ref().ok_or_else(closed)?;
        f(conn)
    }

    fn close(&self) {
        for conn in &self.conns {
            conn.lock().unwrap_or_else(PoisonError::into_inner).take();
        }
    }
}

fn fetch(conn: &Connection, id: &DimensionId) -> Result<Option<Dimension>, StoreError> {
    let row = conn
        .prepare_cached(SELECT)
        .and_then(|mut s| s.query_row([id.as_str()], DimensionRow::from_sqlite).optional())
        .map_err(unavailable)?;
    row.map(|r| r.into_dimension("sqlite")).transpose()
}

/// A write for the writer thread; `reply` gets the answer after the commit.
enum Op {
    /// Insert (`expected` None) or update at revision `expected`; answers
    /// false when the row was not as expected.
    Put {
        dimension: Box<Dimension>,
        expected: Option<u64>,
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
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// How often the checkpointer copies the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Checkpoints on its own connection (`PASSIVE`: never blocks a writer or
/// reader), so commits do not stall on SQLite's automatic checkpoint.
fn checkpoint_loop(conn: Connection, stop: std::sync::mpsc::Receiver<()>) {
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(error = %e, "sqlite checkpoint failed; retrying later");
        }
    }
}

/// The writer thread: group commits until every sender is gone.
fn writer_loop(mut conn: Connection, mut rx: mpsc::UnboundedReceiver<Op>, retention: Retention) {
    while let Some(first) = rx.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(op) => group.push(op),
                Err(_) => break,
            }
        }
        commit_group(&mut conn, group, &retention);
    }
}

/// One transaction for the whole group, a savepoint per change.
fn commit_group(conn: &mut Connection, group: Vec<Op>, retention: &Retention) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let e = e.to_string();
        for op in group {
            answer(op, Err(unavailable(&e)));
        }
        return;
    }
    let mut results = Vec::with_capacity(group.len());
    for op in &group {
        let result = conn.execute_batch("SAVEPOINT op").map_err(unavailable).and_then(|()| apply(conn, op, retention));
        let end = if result.is_ok() { "RELEASE op" } else { "ROLLBACK TO op; RELEASE op" };
        let result = match (result, conn.execute_batch(end)) {
            (Ok(_), Err(e)) => Err(unavailable(e)),
            (result, _) => result,
        };
        results.push(result);
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        // Nothing of the group is stored: everybody hears so.
        let _ = conn.execute_batch("ROLLBACK");
        let e = e.to_string();
        for op in group {
            answer(op, Err(unavailable(&e)));
        }
        return;
    }
    for (op, result) in group.into_iter().zip(results) {
        answer(op, result);
    }
}

fn answer(op: Op, result: Result<bool, StoreError>) {
    // A caller that went away does not mind.
    let _ = match op {
        Op::Put { reply, .. } | Op::Delete { reply, .. } | Op::Secret { reply, .. } => reply.send(result),
    };
}

fn apply(conn: &Connection, op: &Op, retention: &Retention) -> Result<bool, StoreError> {
    match op {
        Op::Put { dimension: d, expected, entry, .. } => {
            let columns = params![
                d.id().as_str(),
                row::revision(d)?,
                d.version,
                d.resource_name,
                d.dimension_name,
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
                Some(r) => conn.prepare_cached(UPDATE).and_then(|mut s| {
                    let mut all = columns.to_vec();
                    let r = row::signed(*r);
                    all.push(&r);
                    s.execute(all.as_slice())
                }),
            }
            .map_err(unavailable)?;
            if changed != 1 {
                return Ok(false);
            }
            write_history(conn, d.id(), entry, retention)?;
            Ok(true)
        }
        Op::Delete { id, .. } => {
            let gone = conn.execute("DELETE FROM dimensions WHERE id = ?1", [id.as_str()]).map_err(unavailable)?;
            conn.execute("DELETE FROM history WHERE dimension_id = ?1", [id.as_str()]).map_err(unavailable)?;
            Ok(gone > 0)
        }
        Op::Secret { name, value, .. } => {
            conn.execute(
                "INSERT INTO secrets (name, value, updated_at) VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                params![name, value],
            )
            .map_err(unavailable)?;
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
) -> Result<(), StoreError> {
    conn.prepare_cached(INSERT_HISTORY)
        .and_then(|mut s| {
            s.execute(params![
                id.as_str(),
                row::signed(entry.revision),
                entry.time_ms(),
                entry.created,
                entry.source.method,
                entry.source.client,
                entry.source.request_id,
                row::changes_json(entry).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
            ])
        })
        .map_err(unavailable)?;
    conn.prepare_cached(TRIM_HISTORY)
        .and_then(|mut s| {
            s.execute(params![
                id.as_str(),
                row::signed(retention.drop_through(entry.revision)),
                to_ms(retention.cutoff(entry.time)),
            ])
        })
        .map_err(unavailable)?;
    Ok(())
}

fn open_connection(path: &str, read_only: bool) -> rusqlite::Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    if read_only {
        conn.execute_batch(&format!("PRAGMA cache_size = -{READER_PAGE_CACHE_KIB};"))?;
    } else {
        // The checkpointer thread keeps the WAL short; the automatic
        // checkpoint (in a commit) is only a backstop at 40 MB.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = 10000;",
        )?;
    }
    conn.set_prepared_statement_cache_capacity(16);
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    ///
    /// # Errors
    /// `Open` naming the path and the cause.
    pub async fn open(path: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        if path.is_empty() {
            return Err(StoreError::Open("store: sqlite: needs a path, e.g. sqlite:./data/crest.db".into()));
        }
        let open_err = |e: &dyn std::fmt::Display| StoreError::Open(format!("store: cannot open sqlite:{path}: {e}"));
        if let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| open_err(&e))?;
        }
        let lock =
            super::lock_exclusive(Path::new(&format!("{path}.lock")), &format!("sqlite:{path}"), "an SQLite store")?;
        // Creation, WAL mode and migrations through sqlx (its migration table).
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5));
        let migrations = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| open_err(&e))?;
        let migrated = MIGRATOR.run(&migrations).await.map_err(|e| open_err(&e));
        migrations.close().await;
        migrated?;

        let owned = path.to_owned();
        let (writer, checkpoints, readers) = tokio::task::spawn_blocking(move || {
            let writer = open_connection(&owned, false)?;
            let checkpoints = open_connection(&owned, false)?;
            let readers = (0..READERS)
                .map(|_| open_connection(&owned, true).map(|c| Mutex::new(Some(c))))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok::<_, rusqlite::Error>((writer, checkpoints, readers))
        })
        .await
        .map_err(|e| open_err(&e))?
        .map_err(|e| open_err(&e))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let retention = options.retention;
        let thread = std::thread::Builder::new()
            .name("crest-sqlite-writer".into())
            .spawn(move || writer_loop(writer, rx, retention))
            .map_err(|e| open_err(&e))?;
        let (stop, stopped) = std::sync::mpsc::channel();
        let checkpointer = std::thread::Builder::new()
            .name("crest-sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpoints, stopped))
            .map_err(|e| open_err(&e))?;
        Ok(Self {
            readers: Arc::new(Readers { conns: readers, next: AtomicUsize::new(0) }),
            cache: (0..CACHE_SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            lock: Mutex::new(Some(lock)),
            writer: Mutex::new(Some(tx)),
            writer_thread: Mutex::new(Some(thread)),
            checkpointer: Mutex::new(Some((stop, checkpointer))),
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            retention: options.retention,
            clock: options.clock.clone(),
        })
    }

    /// The id's lock (changes, cache fills) and cache shard.
    fn slot(&self, id: &DimensionId) -> (&tokio::sync::Mutex<()>, &Mutex<HashMap<DimensionId, Dimension>>) {
        // CACHE_SHARDS divides STRIPES: one hash picks both.
        let stripe = super::bucket(id, STRIPES);
        (&self.stripes[stripe], &self.cache[stripe % CACHE_SHARDS])
    }

    fn cached(shard: &Mutex<HashMap<DimensionId, Dimension>>, id: &DimensionId) -> Option<Dimension> {
        shard.lock().unwrap_or_else(PoisonError::into_inner).get(id).cloned()
    }

    /// Puts (Some) or drops (None) the id's cached copy. The caller holds the
    /// id's lock and `value` is what is committed.
    fn remember(shard: &Mutex<HashMap<DimensionId, Dimension>>, id: &DimensionId, value: Option<&Dimension>) {
        let mut map = shard.lock().unwrap_or_else(PoisonError::into_inner);
        match value {
            Some(d) => {
                if map.len() >= CACHE_ENTRIES / CACHE_SHARDS && !map.contains_key(id) {
                    let victim = map.keys().next().cloned();
                    if let Some(victim) = victim {
                        map.remove(&victim);
                    }
                }
                map.insert(id.clone(), d.clone());
            }
            None => {
                map.remove(id);
            }
        }
    }

    /// The committed dimension: cached, else read (and cached). The caller
    /// holds the id's lock, so no change can slip in between.
    fn current(
        &self,
        shard: &Mutex<HashMap<DimensionId, Dimension>>,
        id: &DimensionId,
    ) -> Result<Option<Dimension>, StoreError> {
        if let Some(d) = Self::cached(shard, id) {
            return Ok(Some(d));
        }
        let read = self.readers.with(|conn| fetch(conn, id))?;
        if let Some(d) = &read {
            Self::remember(shard, id, Some(d));
        }
        Ok(read)
    }

    /// Hands `make(reply)` to the writer thread and waits for its commit.
    async fn write(&self, make: impl FnOnce(Reply<bool>) -> Op) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        let sender = self.writer.lock().unwrap_or_else(PoisonError::into_inner).clone().ok_or_else(closed)?;
        sender.send(make(reply)).map_err(|_| closed())?;
        answer.await.map_err(|_| unavailable("the writer thread stopped"))?
    }

    /// Runs a query on a reader in the blocking pool (lists, history pages).
    async fn read_blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || readers.with(f)).await.map_err(unavailable)?
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, id: &DimensionId) -> Result<Option<Dimension>, StoreError> {
        let (stripe, shard) = self.slot(id);
        if let Some(d) = Self::cached(shard, id) {
            return Ok(Some(d));
        }
        let _serial = stripe.lock().await;
        self.current(shard, id)
    }

    async fn update(
        &self,
        id: &DimensionId,
        transition: &Transition<'_>,
        source: &Source,
    ) -> Result<Outcome, UpdateError> {
        let (stripe, shard) = self.slot(id);
        let _serial = stripe.lock().await;
        for _ in 0..MAX_ATTEMPTS {
            let current = self.current(shard, id)?;
            let mut outcome = transition(current.as_ref())?;
            if !outcome.must_write() {
                return Ok(outcome);
            }
            let entry = Box::new(record(&mut outcome, source, self.clock.now()));
            let dimension = Box::new(outcome.dimension.clone());
            let expected = current.map(|d| d.revision);
            let written = self.write(|reply| Op::Put { dimension, expected, entry, reply }).await;
            if let Ok(true) = written {
                Self::remember(shard, id, Some(&outcome.dimension));
                return Ok(outcome);
            }
            // Failed (was it stored? read it again next time) or found the row
            // changed (which only another writer could do): forget the copy.
            Self::remember(shard, id, None);
            written?;
        }
        Err(unavailable(format!("{id:?} kept changing under concurrent writers; try again")).into())
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Dimension>, StoreError> {
        const LIST: &str =
            select_dimension!("id > ?1 AND scaling_status = coalesce(?2, scaling_status) ORDER BY id LIMIT ?3");
        let after = query.after.as_ref().map_or(String::new(), |a| a.as_str().to_owned());
        let (status, limit) = (query.status.map(|s| s.as_str()), row::signed(query.limit));
        let rows = self
            .read_blocking(move |conn| {
                let mut s = conn.prepare_cached(LIST).map_err(unavailable)?;
                let rows =
                    s.query_map(params![after, status, limit], DimensionRow::from_sqlite).map_err(unavailable)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(unavailable)
            })
            .await?;
        rows.into_iter().map(|r| r.into_dimension("sqlite")).collect()
    }

    async fn delete(&self, id: &DimensionId) -> Result<bool, StoreError> {
        let (stripe, shard) = self.slot(id);
        let _serial = stripe.lock().await;
        let owned = id.clone();
        let gone = self.write(|reply| Op::Delete { id: owned, reply }).await;
        Self::remember(shard, id, None);
        gone
    }

    async fn history(&self, id: &DimensionId, query: HistoryQuery) -> Result<Vec<HistoryEntry>, StoreError> {
        let sql = format!(
            "SELECT {HISTORY_COLUMNS} FROM history WHERE dimension_id = ?1 AND revision < ?2 AND at >= ?3 \
             ORDER BY revision DESC LIMIT ?4"
        );
        let values = (
            id.as_str().to_owned(),
            query.before.map_or(i64::MAX, row::signed),
            to_ms(self.retention.cutoff(self.clock.now())),
            row::signed(query.limit),
        );
        let rows = self
            .read_blocking(move |conn| {
                let mut s = conn.prepare_cached(&sql).map_err(unavailable)?;
                let rows = s
                    .query_map(params![values.0, values.1, values.2, values.3], HistoryRow::from_sqlite)
                    .map_err(unavailable)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(unavailable)
            })
            .await?;
        rows.into_iter().map(|r| r.into_entry("sqlite")).collect()
    }

    async fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let name = name.to_owned();
        self.read_blocking(move |conn| {
            conn.query_row("SELECT value FROM secrets WHERE name = ?1", [name], |r| r.get(0))
                .optional()
                .map_err(unavailable)
        })
        .await
    }

    async fn put_secret(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let (name, value) = (name.to_owned(), value.to_vec());
        self.write(|reply| Op::Secret { name, value, reply }).await.map(|_| ())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.readers.with(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(unavailable))?;
        if self.writer_thread.lock().unwrap_or_else(PoisonError::into_inner).as_ref().is_none_or(|t| t.is_finished()) {
            return Err(unavailable("the writer thread stopped"));
        }
        Ok(())
    }

    async fn close(&self) {
        // Dropping the sender ends the writer thread once its queue is done.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner).take();
        let thread = self.writer_thread.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        let checkpointer = self.checkpointer.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some((stop, thread)) = checkpointer {
            drop(stop);
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        self.readers.close();
        for shard in &self.cache {
            shard.lock().unwrap_or_else(PoisonError::into_inner).clear();
        }
        self.lock.lock().unwrap_or_else(PoisonError::into_inner).take();
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }
}
