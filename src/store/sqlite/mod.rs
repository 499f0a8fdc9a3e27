//! `sqlite:PATH` — WAL with `synchronous=FULL`: a commit is on disk before we
//! answer 200. Migrations from `migrations/sqlite/` run at open (`migrate`:
//! rusqlite, keeping the `_sqlx_migrations` records sqlx kept before).
//!
//! The hot path talks to SQLite directly (rusqlite), not through a driver
//! thread per query:
//! * **Reads** run inline on the calling task, on one of a few read-only
//!   connections (a point read from the page cache takes microseconds; the
//!   hand-off to a driver thread used to cost more than the read).
//! * **Writes** go to one writer thread that commits them in groups: it takes
//!   every change waiting in its queue, applies them inside one `BEGIN
//!   IMMEDIATE` transaction and answers them all after the single fsync of
//!   `COMMIT` (group commit). Nobody is answered before the commit is
//!   durable; a change that fails is rolled back alone (the group is then
//!   applied again with a savepoint per change).
//! * **Atomicity** of read-transition-write: each write is conditional on the
//!   revision the transition saw (`UPDATE … WHERE revision = ?`, or an insert
//!   that must not find a row). If another process or a delete got there
//!   first, the change is re-read and re-applied. Within this process changes
//!   to one id are also serialised by a striped lock, so they never collide.
//! * **Checkpoints** (copying the WAL into the database, with its fsync) run
//!   on a thread of their own every 25 ms after a commit, not inside one.
//! * **One process** owns the database (an exclusive lock on `PATH.lock`, like
//!   the file store's; PATH with every symlink resolved, so that two names
//!   of one file share the lock), so the dimensions it has read can be
//!   **cached** in memory: every change is committed first and only then put
//!   in the cache, under the id's lock. GETs of cached dimensions touch no
//!   file at all.
//! * **Damage** (`integrity`): a damaged file is refused at open, and damage
//!   SQLite reports later is a 500 and fails `ping` from then on.

mod cache;
mod connection;
mod integrity;
mod migrate;
mod reader;
mod writer;

use super::row;
use super::{ListQuery, Store, StoreError, StoreOptions, Transition, UpdateError, record};
use crate::clock::Clock;
use crate::domain::history::to_ms;
use crate::domain::{Dimension, DimensionId, HistoryEntry, HistoryQuery, Outcome, Retention, Source};
use async_trait::async_trait;
use cache::{CACHE_SHARDS, Shard};
use connection::{closed, open_connection, open_error, unavailable};
use integrity::Damage;
use reader::{Commits, Readers};
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{mpsc, oneshot};
use writer::{Op, Reply};

/// Locks serialising this process's changes per id (by hash).
const STRIPES: usize = 256;
/// How often a change is re-applied when another writer got there first.
const MAX_ATTEMPTS: usize = 20;

pub struct SqliteStore {
    readers: Arc<Readers>,
    cache: Box<[Shard]>,
    /// Holds `PATH.lock` for as long as the store is open.
    lock: Mutex<Option<std::fs::File>>,
    writer: Mutex<Option<mpsc::UnboundedSender<Op>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Dropping the sender stops the checkpointer thread.
    checkpointer: Mutex<Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>>,
    stripes: Box<[tokio::sync::Mutex<()>]>,
    /// Set once SQLite reports the file damaged; `ping` fails from then on.
    damage: Damage,
    retention: Retention,
    clock: Clock,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, checks it and
    /// migrates it.
    ///
    /// # Errors
    /// `Open` naming the path and the cause: another crest process has it,
    /// the file is damaged (restore it from a backup), or it cannot be opened.
    pub async fn open(path: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        if path.is_empty() {
            return Err(StoreError::Open("store: sqlite: needs a path, e.g. sqlite:./data/crest.db".into()));
        }
        let open_err = |e: &dyn std::fmt::Display| open_error(path, e);
        if let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| open_err(&e))?;
        }
        // The lock goes with the file, not with this name of it.
        let real = connection::canonical(path).map_err(|e| open_err(&e))?;
        let mut lock_name = real.clone().into_os_string();
        lock_name.push(".lock");
        let lock = super::lock_exclusive(Path::new(&lock_name), &format!("sqlite:{path}"), "an SQLite store")?;
        integrity::check_at_open(&real, path).await?;
        migrate::migrate(&real, path).await?;

        let (damage, commits) = (Damage::new(path), Commits::default());
        let (owned, shared, counter) = (real, damage.clone(), commits.clone());
        let (writer, checkpoints, readers) = tokio::task::spawn_blocking(move || {
            let writer = open_connection(&owned, false)?;
            let checkpoints = open_connection(&owned, false)?;
            let readers = Readers::open(&owned, shared, counter)?;
            Ok::<_, rusqlite::Error>((writer, checkpoints, readers))
        })
        .await
        .map_err(|e| open_err(&e))?
        .map_err(|e| open_err(&e))?;
        let readers = Arc::new(readers);
        let (tx, thread) = writer::spawn_writer(writer, options.retention, damage.clone(), commits.clone())
            .map_err(|e| open_err(&e))?;
        let checkpointer = writer::spawn_checkpointer(checkpoints, damage.clone(), readers.clone(), commits)
            .map_err(|e| open_err(&e))?;
        Ok(Self {
            readers,
            cache: cache::shards(),
            lock: Mutex::new(Some(lock)),
            writer: Mutex::new(Some(tx)),
            writer_thread: Mutex::new(Some(thread)),
            checkpointer: Mutex::new(Some(checkpointer)),
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            damage,
            retention: options.retention,
            clock: options.clock.clone(),
        })
    }

    /// The id's lock (changes, cache fills) and cache shard.
    fn slot(&self, id: &DimensionId) -> (&tokio::sync::Mutex<()>, &Shard) {
        // CACHE_SHARDS divides STRIPES: one hash picks both.
        let stripe = super::bucket(id, STRIPES);
        (&self.stripes[stripe], &self.cache[stripe % CACHE_SHARDS])
    }

    /// The committed dimension: cached, else read (and cached). The caller
    /// holds the id's lock, so no change can slip in between.
    fn current(&self, shard: &Shard, id: &DimensionId) -> Result<Option<Dimension>, StoreError> {
        if let Some(d) = cache::cached(shard, id) {
            return Ok(Some(d));
        }
        let read =
            self.readers.with(|conn| reader::fetch(conn, id))?.map(|r| r.into_dimension("sqlite")).transpose()?;
        if let Some(d) = &read {
            cache::remember(shard, id, Some(d));
        }
        Ok(read)
    }

    /// Hands `make(reply)` to the writer thread and waits for its commit.
    async fn write<T>(&self, make: impl FnOnce(Reply<T>) -> Op) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let sender = self.writer.lock().unwrap_or_else(PoisonError::into_inner).clone().ok_or_else(closed)?;
        sender.send(make(reply)).map_err(|_| closed())?;
        answer.await.map_err(|_| unavailable("the writer thread stopped"))?
    }

    /// Runs a query on a reader in the blocking pool (lists, history pages).
    async fn read_blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, StoreError> {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || readers.with(f)).await.map_err(unavailable)?
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn cached(&self, id: &DimensionId) -> Option<Dimension> {
        cache::cached(self.slot(id).1, id)
    }

    async fn get(&self, id: &DimensionId) -> Result<Option<Dimension>, StoreError> {
        let (stripe, shard) = self.slot(id);
        if let Some(d) = cache::cached(shard, id) {
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
            let same_status = current.as_ref().is_some_and(|d| d.scaling_status == dimension.scaling_status);
            let expected = current.map(|d| d.revision);
            let written = self.write(|reply| Op::Put { dimension, expected, same_status, entry, reply }).await;
            if let Ok(true) = written {
                cache::remember(shard, id, Some(&outcome.dimension));
                return Ok(outcome);
            }
            // Failed (was it stored? read it again next time) or found the row
            // changed (which only another writer could do): forget the copy.
            cache::remember(shard, id, None);
            written?;
        }
        Err(unavailable(format!("{id:?} kept changing under concurrent writers; try again")).into())
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Dimension>, StoreError> {
        let after = query.after.as_ref().map_or(String::new(), |a| a.as_str().to_owned());
        let (status, limit) = (query.status.map(|s| s.as_str()), row::signed(query.limit));
        let rows = self.read_blocking(move |conn| reader::list(conn, &after, status, limit)).await?;
        rows.into_iter().map(|r| r.into_dimension("sqlite")).collect()
    }

    /// Kept by the writer thread, which makes every change (see `writer`).
    async fn count(&self) -> Result<u64, StoreError> {
        self.write(|reply| Op::Count { reply }).await
    }

    async fn delete(&self, id: &DimensionId) -> Result<bool, StoreError> {
        let (stripe, shard) = self.slot(id);
        let _serial = stripe.lock().await;
        let owned = id.clone();
        let gone = self.write(|reply| Op::Delete { id: owned, reply }).await;
        cache::remember(shard, id, None);
        gone
    }

    async fn history(&self, id: &DimensionId, query: HistoryQuery) -> Result<Vec<HistoryEntry>, StoreError> {
        let (owned, before) = (id.as_str().to_owned(), query.before.map_or(i64::MAX, row::signed));
        let (cutoff, limit) = (to_ms(self.retention.cutoff(self.clock.now())), row::signed(query.limit));
        let rows = self.read_blocking(move |conn| reader::history(conn, &owned, before, cutoff, limit)).await?;
        rows.into_iter().map(|r| r.into_entry("sqlite")).collect()
    }

    async fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let name = name.to_owned();
        self.read_blocking(move |conn| reader::secret(conn, &name)).await
    }

    async fn put_secret(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let (name, value) = (name.to_owned(), value.to_vec());
        self.write(|reply| Op::Secret { name, value, reply }).await.map(|_| ())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.damage.check()?;
        self.readers.with(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))?;
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
        cache::clear(&self.cache);
        self.lock.lock().unwrap_or_else(PoisonError::into_inner).take();
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod snapshot_tests;
