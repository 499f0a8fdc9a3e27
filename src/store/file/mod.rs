//! `file:DIR` — one JSON document per dimension (`documents`), its history
//! in an append-only JSON-lines file (`history`), atomic writes (`atomic`),
//! changes made durable in groups by one thread (`committer`) through a
//! write-ahead journal (`journal`), replayed at open (`recovery`) before the
//! documents are read. An exclusive lock on `DIR/.crest.lock` keeps a second
//! crest process out. The directory is read once at open into a cache;
//! afterwards every write goes to disk first, history before document, under
//! a per-id lock (the slot) that this file owns along with the `Store` glue.
//! Slots exist for stored dimensions (the data itself) plus the few being
//! written; empty ones are dropped, so unknown ids never grow the map.

mod atomic;
mod committer;
mod documents;
mod history;
mod journal;
mod recovery;

use super::{ListQuery, Store, StoreError, Transition, UpdateError, record};
use crate::clock::Clock;
use crate::domain::{Dimension, DimensionId, HistoryEntry, HistoryQuery, IdMap, Outcome, Retention, Source};
use async_trait::async_trait;
use atomic::{io_err, open_err, secret_path};
use committer::{Job, Shared, Write};
use documents::Committed;
use std::fs::{self, File};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

const LOCK_FILE: &str = ".crest.lock";

type Slot = Arc<tokio::sync::Mutex<SlotState>>;

/// A cached dimension and how many lines its history file has (None: not
/// counted yet).
#[derive(Default)]
struct SlotState {
    dimension: Option<Dimension>,
    history_lines: Option<u64>,
}

/// The slots by id, and the size at which empty ones are swept out.
#[derive(Default)]
struct Slots {
    map: IdMap<Slot>,
    sweep_at: usize,
}

/// The smallest `Slots::sweep_at`.
const SWEEP_MIN: usize = 1024;

impl Slots {
    /// Inserts a new slot for `id`. An empty slot is normally dropped by the
    /// last request that held it (`forget_if_empty`), but two requests
    /// releasing one at once can both see the other's hold and leave it; so
    /// when the map has doubled since the last sweep, the slots nobody holds
    /// and that hold no dimension go. Amortised O(1) per new slot, and the
    /// map stays within about twice the stored dimensions (plus `SWEEP_MIN`).
    fn insert(&mut self, id: &DimensionId) -> Slot {
        if self.map.len() >= self.sweep_at.max(SWEEP_MIN) {
            self.map.retain(|_, slot| {
                Arc::strong_count(slot) > 1 || slot.try_lock().map_or(true, |s| s.dimension.is_some())
            });
            self.sweep_at = self.map.len() * 2;
        }
        self.map.entry(id.clone()).or_default().clone()
    }
}

pub struct FileStore {
    dir: PathBuf,
    /// Holds the exclusive lock for as long as the store lives.
    lock: Mutex<Option<File>>,
    slots: Mutex<Slots>,
    /// What is on disk, for reads: updated after each write, under the
    /// slot's lock, so a GET never waits for a write in progress.
    committed: Committed,
    /// The committer's queue (None once closed) and thread.
    committer: Mutex<Option<mpsc::Sender<Job>>>,
    committer_thread: Mutex<Option<JoinHandle<()>>>,
    shared: Arc<Shared>,
    retention: Retention,
    clock: Clock,
}

impl FileStore {
    /// Opens (creating if needed) and locks `dir`, replays its journal, then
    /// loads every document.
    ///
    /// # Errors
    /// `Open` when the directory cannot be created, is locked by another
    /// process, its journal is corrupt before its end or cannot be replayed,
    /// or it holds a document that is not a crest dimension.
    pub async fn open(dir: &str, retention: Retention, clock: Clock) -> Result<Self, StoreError> {
        if dir.is_empty() {
            return Err(StoreError::Open("store: file: needs a directory, e.g. file:/var/lib/crest/state".into()));
        }
        let dir = PathBuf::from(dir);
        tokio::task::spawn_blocking(move || Self::open_blocking(dir, retention, clock))
            .await
            .map_err(|e| StoreError::Open(format!("store: opening the file store failed: {e}")))?
    }

    fn open_blocking(dir: PathBuf, retention: Retention, clock: Clock) -> Result<Self, StoreError> {
        fs::create_dir_all(&dir).map_err(|e| open_err(&dir, "create", e))?;
        let lock = super::lock_exclusive(&dir.join(LOCK_FILE), &dir.display().to_string(), "a file store")?;

        // Before the documents are read: they may be missing what was answered.
        let journal = recovery::recover(&dir, retention)?;
        let mut slots = Slots::default();
        let committed = Committed::new();
        for dimension in documents::load_all(&dir)? {
            let id = dimension.id().clone();
            committed.set(&id, Some(&dimension));
            let state = SlotState { dimension: Some(dimension), history_lines: None };
            slots.map.insert(id, Arc::new(tokio::sync::Mutex::new(state)));
        }
        slots.sweep_at = slots.map.len() * 2;
        let shared = Arc::new(Shared::default());
        let (tx, thread) = committer::spawn(dir.clone(), journal, retention, shared.clone())
            .map_err(|e| open_err(&dir, "start a thread", e))?;
        Ok(Self {
            dir,
            lock: Mutex::new(Some(lock)),
            slots: Mutex::new(slots),
            committed,
            committer: Mutex::new(Some(tx)),
            committer_thread: Mutex::new(Some(thread)),
            shared,
            retention,
            clock,
        })
    }

    /// Hands a change to the committer and waits until it is durable.
    /// Returns the history file's new line count.
    async fn commit(&self, dimension: Dimension, entry: HistoryEntry, lines: Option<u64>) -> Result<u64, StoreError> {
        let (reply, answer) = oneshot::channel();
        let sender = self.committer.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let closed = || StoreError::Unavailable("file: the store is closed".into());
        sender.ok_or_else(closed)?.send(Job::Write(Write { dimension, entry, lines, reply })).map_err(|_| closed())?;
        self.shared.queued.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        answer.await.map_err(|_| StoreError::Unavailable("file: the committer thread stopped".into()))?
    }

    /// Has the committer checkpoint now: every journaled change is in its
    /// document and history file, durably, and the journal is empty.
    async fn checkpoint(&self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        let sender = self.committer.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let closed = || StoreError::Unavailable("file: the store is closed".into());
        sender.ok_or_else(closed)?.send(Job::Checkpoint(reply)).map_err(|_| closed())?;
        answer.await.map_err(|_| StoreError::Unavailable("file: the committer thread stopped".into()))?
    }

    fn slot(&self, id: &DimensionId, create: bool) -> Option<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        match slots.map.get(id) {
            Some(slot) => Some(slot.clone()),
            None if create => Some(slots.insert(id)),
            None => None,
        }
    }

    /// Drops an empty slot nobody else holds (e.g. after a strict-mode 404),
    /// so unknown ids do not grow the cache. Safe: a new holder must take the
    /// map lock, which we hold, to clone the slot.
    fn forget_if_empty(&self, id: &DimensionId, slot: &Slot) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if Arc::strong_count(slot) == 2 && slot.try_lock().is_ok_and(|s| s.dimension.is_none()) {
            slots.map.remove(id);
        }
    }
}

#[async_trait]
impl Store for FileStore {
    fn cached(&self, id: &DimensionId) -> Option<Dimension> {
        self.committed.get(id)
    }

    async fn get(&self, id: &DimensionId) -> Result<Option<Dimension>, StoreError> {
        // Every committed dimension is in memory.
        Ok(self.cached(id))
    }

    async fn update(
        &self,
        id: &DimensionId,
        transition: &Transition<'_>,
        source: &Source,
    ) -> Result<Outcome, UpdateError> {
        let Some(slot) = self.slot(id, true) else {
            return Err(StoreError::Unavailable("file store slot missing".into()).into());
        };
        let result = async {
            let mut state = slot.lock().await;
            let mut outcome = transition(state.dimension.as_ref())?;
            if outcome.must_write() {
                let entry = record(&mut outcome, source, self.clock.now());
                // Until the committer reports back, the line count is unknown.
                let lines = state.history_lines.take();
                let lines = self.commit(outcome.dimension.clone(), entry, lines).await?;
                state.history_lines = Some(lines);
                state.dimension = Some(outcome.dimension.clone());
                self.committed.set(id, state.dimension.as_ref());
            }
            Ok(outcome)
        }
        .await;
        self.forget_if_empty(id, &slot);
        result
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Dimension>, StoreError> {
        let mut candidates: Vec<(DimensionId, Slot)> = {
            let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            slots
                .map
                .iter()
                .filter(|(id, _)| query.after.as_ref().is_none_or(|a| *id > a))
                .map(|(id, slot)| (id.clone(), slot.clone()))
                .collect()
        };
        candidates.sort_by(|a, b| a.0.cmp(&b.0));
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        let mut page = Vec::new();
        for (_, slot) in candidates {
            if page.len() >= limit {
                break;
            }
            if let Some(d) = slot.lock().await.dimension.clone().filter(|d| query.admits(d)) {
                page.push(d);
            }
        }
        Ok(page)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.committed.len() as u64)
    }

    async fn delete(&self, id: &DimensionId) -> Result<bool, StoreError> {
        let Some(slot) = self.slot(id, false) else { return Ok(false) };
        let result = async {
            let mut state = slot.lock().await;
            if state.dimension.is_none() {
                return Ok(false);
            }
            // Not through the committer: deletes are rare, each is durable on
            // its own (fsync of the directory), and the slot lock already
            // keeps it apart from every write of this id. Secrets likewise.
            // A checkpoint first: no journal record of this id then remains
            // for a replay to bring it back with.
            self.checkpoint().await?;
            let (dir, id2) = (self.dir.clone(), id.clone());
            tokio::task::spawn_blocking(move || {
                documents::remove(&dir, &id2)?;
                // The history goes after the document: a crash in between
                // leaves history no dimension shows (removed by the next delete).
                history::remove(&dir, &id2)
            })
            .await
            .map_err(|e| StoreError::Unavailable(format!("file delete task failed: {e}")))??;
            state.dimension = None;
            state.history_lines = None;
            self.committed.set(id, None);
            Ok(true)
        }
        .await;
        self.forget_if_empty(id, &slot);
        result
    }

    async fn history(&self, id: &DimensionId, query: HistoryQuery) -> Result<Vec<HistoryEntry>, StoreError> {
        let Some(slot) = self.slot(id, false) else {
            return Ok(Vec::new());
        };
        // Under the slot lock, so no write is half-way.
        let state = slot.lock().await;
        let Some(current) = state.dimension.as_ref().map(|d| d.revision) else {
            return Ok(Vec::new());
        };
        let path = history::path(&self.dir, id);
        let entries = tokio::task::spawn_blocking(move || history::read(&path))
            .await
            .map_err(|e| StoreError::Unavailable(format!("file read task failed: {e}")))??;
        drop(state);
        let now = self.clock.now();
        let page = entries
            .into_values()
            .rev()
            .filter(|h| h.revision <= current && h.revision > self.retention.drop_through(current))
            .filter(|h| query.admits(h, &self.retention, now))
            .take(usize::try_from(query.limit).unwrap_or(usize::MAX));
        Ok(page.collect())
    }

    async fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (dir, file) = secret_path(&self.dir, name);
        match tokio::fs::read(dir.join(&file)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("cannot read", &dir.join(file), e)),
        }
    }

    async fn put_secret(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let (dir, file) = secret_path(&self.dir, name);
        let value = value.to_vec();
        tokio::task::spawn_blocking(move || atomic::put_secret(&dir, &file, &value))
            .await
            .map_err(|e| StoreError::Unavailable(format!("file write task failed: {e}")))?
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let thread =
            self.committer_thread.lock().unwrap_or_else(PoisonError::into_inner).as_ref().map(JoinHandle::is_finished);
        if thread != Some(false) {
            return Err(StoreError::Unavailable("file: the committer thread stopped".into()));
        }
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            fs::metadata(dir.join(LOCK_FILE)).map_err(|e| io_err("cannot stat", &dir, e))
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("file ping task failed: {e}")))??;
        Ok(())
    }

    async fn close(&self) {
        // Dropping the sender ends the committer once its queue is done and
        // its last checkpoint made (dropping the store does too); the lock
        // goes after it.
        self.committer.lock().unwrap_or_else(PoisonError::into_inner).take();
        let thread = self.committer_thread.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        // Dropping the file releases the lock.
        drop(self.lock.lock().unwrap_or_else(PoisonError::into_inner).take());
    }

    fn kind(&self) -> &'static str {
        "file"
    }
}

#[cfg(test)]
mod committer_tests;
#[cfg(test)]
mod journal_tests;

#[cfg(test)]
mod tests {
    use super::*;

    /// Empty slots left behind (by two requests releasing one at once) are
    /// swept when the map has doubled: unknown ids never grow it for good.
    #[tokio::test]
    async fn empty_slots_do_not_accumulate() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(&dir.path().display().to_string(), Retention::default(), Clock::system()).await;
        let store = store.unwrap();
        for i in 0..20_000 {
            // Taken and dropped without `forget_if_empty`, as the race leaves them.
            drop(store.slot(&DimensionId::parse(&format!("gone-{i}")).unwrap(), true));
            let len = store.slots.lock().unwrap().map.len();
            assert!(len <= SWEEP_MIN, "{len} slots after {} unknown ids", i + 1);
        }
        let held = store.slot(&DimensionId::parse("held").unwrap(), true).unwrap();
        for i in 0..(2 * SWEEP_MIN) {
            drop(store.slot(&DimensionId::parse(&format!("more-{i}")).unwrap(), true));
        }
        assert!(store.slots.lock().unwrap().map.contains_key(&DimensionId::parse("held").unwrap()), "held: kept");
        drop(held);
    }
}
