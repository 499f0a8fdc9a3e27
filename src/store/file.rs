//! `file:DIR` — one JSON document per dimension. The file name is the SHA-256
//! of the id (never the id itself), writes are atomic and durable (temp file,
//! fsync, rename, fsync of the directory), and an exclusive lock on
//! `DIR/.crest.lock` keeps a second crest process out. The directory is read
//! once at open into a cache; afterwards every write goes to disk first.
//! History is an append-only JSON-lines file per dimension under
//! `DIR/history/`, written (and fsynced) before the document: an entry whose
//! revision is above the document's is a change that never completed and is
//! not shown; the file is rewritten to the retention limit when it doubles.

use super::{ListQuery, Store, StoreError, Transition, UpdateError, record};
use crate::clock::Clock;
use crate::domain::history::{from_ms, to_ms};
use crate::domain::{Capacity, Dimension, DimensionId, HistoryEntry, HistoryQuery, Outcome, Retention, Source};
use crate::fingerprint::Fingerprint;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

const LOCK_FILE: &str = ".crest.lock";
const DOC_SUFFIX: &str = ".json";
const TMP_SUFFIX: &str = ".tmp";
const SECRETS_DIR: &str = "secrets";
const HISTORY_DIR: &str = "history";
const HISTORY_SUFFIX: &str = ".jsonl";

type Slot = Arc<tokio::sync::Mutex<SlotState>>;

/// A cached dimension and how many lines its history file has (None: not
/// counted yet).
#[derive(Default)]
struct SlotState {
    dimension: Option<Dimension>,
    history_lines: Option<u64>,
}

pub struct FileStore {
    dir: PathBuf,
    /// Holds the exclusive lock for as long as the store lives.
    lock: Mutex<Option<File>>,
    slots: Mutex<HashMap<DimensionId, Slot>>,
    /// What is on disk, for reads: updated after each write, under the
    /// slot's lock, so a GET never waits for a write in progress.
    committed: Committed,
    retention: Retention,
    clock: Clock,
}

/// The committed dimensions, split in shards so threads rarely wait.
struct Committed(Box<[Mutex<HashMap<DimensionId, Dimension>>]>);

impl Committed {
    const SHARDS: usize = 16;

    fn new() -> Self {
        Self((0..Self::SHARDS).map(|_| Mutex::new(HashMap::new())).collect())
    }

    fn shard(&self, id: &DimensionId) -> std::sync::MutexGuard<'_, HashMap<DimensionId, Dimension>> {
        self.0[super::bucket(id, self.0.len())].lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, id: &DimensionId) -> Option<Dimension> {
        self.shard(id).get(id).cloned()
    }

    fn set(&self, id: &DimensionId, value: Option<&Dimension>) {
        let mut shard = self.shard(id);
        match value {
            Some(d) => shard.insert(id.clone(), d.clone()),
            None => shard.remove(id),
        };
    }
}

/// The document on disk: the dimension plus its revision and the time its
/// status last changed (Unix milliseconds).
#[derive(Serialize, Deserialize)]
struct Doc {
    revision: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_since: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_capacity: Option<Capacity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_capacity: Option<Capacity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    changed_at: Option<i64>,
    #[serde(flatten)]
    dimension: Dimension,
}

fn file_name(id: &DimensionId) -> String {
    format!("{}{DOC_SUFFIX}", Fingerprint::of(id.as_str().as_bytes()))
}

fn history_path(dir: &Path, id: &DimensionId) -> PathBuf {
    dir.join(HISTORY_DIR).join(format!("{}{HISTORY_SUFFIX}", Fingerprint::of(id.as_str().as_bytes())))
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{what} {}: {e}", path.display()))
}

impl FileStore {
    /// Opens (creating if needed) and locks `dir`, then loads every document.
    ///
    /// # Errors
    /// `Open` when the directory cannot be created, is locked by another
    /// process, or holds a document that is not a crest dimension.
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
        let open_err = |what: &str, e: std::io::Error| {
            StoreError::Open(format!("store: cannot {what} {} for the file store: {e}", dir.display()))
        };
        fs::create_dir_all(&dir).map_err(|e| open_err("create", e))?;
        let lock = super::lock_exclusive(&dir.join(LOCK_FILE), &dir.display().to_string(), "a file store")?;

        let mut slots = HashMap::new();
        let committed = Committed::new();
        for entry in fs::read_dir(&dir).map_err(|e| open_err("read", e))? {
            let entry = entry.map_err(|e| open_err("read", e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = entry.path();
            if name.ends_with(TMP_SUFFIX) {
                // A write that crashed before its rename: the old document stands.
                let _ = fs::remove_file(&path);
                continue;
            }
            if !name.ends_with(DOC_SUFFIX) {
                continue;
            }
            let bytes = fs::read(&path).map_err(|e| open_err("read", e))?;
            let doc: Doc = serde_json::from_slice(&bytes).map_err(|e| {
                StoreError::Open(format!(
                    "store: {} is not a crest dimension document ({e}); move it out of the store directory",
                    path.display()
                ))
            })?;
            if file_name(doc.dimension.id()) != name {
                return Err(StoreError::Open(format!(
                    "store: {} holds dimension {:?}, which belongs in another file; move it out of the store directory",
                    path.display(),
                    doc.dimension.id()
                )));
            }
            let mut dimension = doc.dimension;
            dimension.revision = doc.revision;
            dimension.status_since = doc.status_since.map(from_ms);
            dimension.min_capacity = doc.min_capacity;
            dimension.max_capacity = doc.max_capacity;
            dimension.changed_at = doc.changed_at.map(from_ms);
            let id = dimension.id().clone();
            committed.set(&id, Some(&dimension));
            let state = SlotState { dimension: Some(dimension), history_lines: None };
            slots.insert(id, Arc::new(tokio::sync::Mutex::new(state)));
        }
        Ok(Self { dir, lock: Mutex::new(Some(lock)), slots: Mutex::new(slots), committed, retention, clock })
    }

    fn slot(&self, id: &DimensionId, create: bool) -> Option<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if create { Some(slots.entry(id.clone()).or_default().clone()) } else { slots.get(id).cloned() }
    }

    /// Drops an empty slot nobody else holds (e.g. after a strict-mode 404),
    /// so unknown ids do not grow the cache. Safe: a new holder must take the
    /// map lock, which we hold, to clone the slot.
    fn forget_if_empty(&self, id: &DimensionId, slot: &Slot) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if Arc::strong_count(slot) == 2 && slot.try_lock().is_ok_and(|s| s.dimension.is_none()) {
            slots.remove(id);
        }
    }

    fn write_blocking(dir: &Path, dimension: &Dimension) -> Result<(), StoreError> {
        let doc = Doc {
            revision: dimension.revision,
            status_since: dimension.status_since.map(to_ms),
            min_capacity: dimension.min_capacity,
            max_capacity: dimension.max_capacity,
            changed_at: dimension.changed_at.map(to_ms),
            dimension: dimension.clone(),
        };
        let doc = serde_json::to_vec_pretty(&doc)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode dimension: {e}")))?;
        atomic_write(dir, &file_name(dimension.id()), &doc, 0o644)
    }

    /// Appends `entry` to the history file (durably), rewriting the file to
    /// the retention limit once it holds twice that many lines. Returns the
    /// new line count.
    fn append_history_blocking(
        dir: &Path,
        id: &DimensionId,
        entry: &HistoryEntry,
        lines: Option<u64>,
        retention: Retention,
    ) -> Result<u64, StoreError> {
        let path = history_path(dir, id);
        let history_dir = dir.join(HISTORY_DIR);
        if !history_dir.exists() {
            fs::create_dir_all(&history_dir).map_err(|e| io_err("cannot create", &history_dir, e))?;
            File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_err("cannot sync", dir, e))?;
        }
        let lines = match lines {
            Some(n) => n,
            None => read_history(&path)?.len() as u64,
        };
        if lines + 1 > retention.keep.saturating_mul(2).max(16) {
            // Keep what is still within retention and older than this change
            // (higher revisions are changes that never completed).
            let mut kept: Vec<HistoryEntry> = read_history(&path)?
                .into_values()
                .filter(|h| h.revision < entry.revision && h.revision > retention.drop_through(entry.revision))
                .filter(|h| h.time >= retention.cutoff(entry.time))
                .collect();
            kept.push(entry.clone());
            let mut text = Vec::new();
            for h in &kept {
                serde_json::to_writer(&mut text, h).map_err(|e| StoreError::Corrupt(format!("history: {e}")))?;
                text.push(b'\n');
            }
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            atomic_write(&history_dir, &name, &text, 0o644)?;
            return Ok(kept.len() as u64);
        }
        let mut line = serde_json::to_vec(entry).map_err(|e| StoreError::Corrupt(format!("history: {e}")))?;
        line.push(b'\n');
        let created = !path.exists();
        let mut f =
            OpenOptions::new().append(true).create(true).open(&path).map_err(|e| io_err("cannot open", &path, e))?;
        f.write_all(&line).and_then(|()| f.sync_data()).map_err(|e| io_err("cannot append to", &path, e))?;
        if created {
            File::open(&history_dir).and_then(|d| d.sync_all()).map_err(|e| io_err("cannot sync", &history_dir, e))?;
        }
        Ok(lines + 1)
    }
}

/// Reads a history file: entries by revision, the last line for a revision
/// winning (a change retried after a failed write). Lines that do not parse
/// (a write torn by a crash) are skipped. A missing file is empty.
fn read_history(path: &Path) -> Result<BTreeMap<u64, HistoryEntry>, StoreError> {
    let text = match fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io_err("cannot read", path, e)),
    };
    let mut out = BTreeMap::new();
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        if let Ok(entry) = serde_json::from_slice::<HistoryEntry>(line) {
            out.insert(entry.revision, entry);
        }
    }
    Ok(out)
}

/// Writes `dir/name` atomically and durably with `mode`: temp file, fsync,
/// rename, fsync of the directory. On error the old file stands.
fn atomic_write(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}{TMP_SUFFIX}"));
    let result = (|| {
        let _ = fs::remove_file(&tmp);
        let mut f = OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        File::open(dir)?.sync_all()
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err("cannot write", &path, e)
    })
}

/// Where secrets live: `DIR/secrets/<sha256 of the name>`, mode 0600.
fn secret_path(dir: &Path, name: &str) -> (PathBuf, String) {
    (dir.join(SECRETS_DIR), Fingerprint::of(name.as_bytes()).to_string())
}

#[async_trait]
impl Store for FileStore {
    async fn get(&self, id: &DimensionId) -> Result<Option<Dimension>, StoreError> {
        Ok(self.committed.get(id))
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
                let (dir, dimension, lines, retention) =
                    (self.dir.clone(), outcome.dimension.clone(), state.history_lines, self.retention);
                // Until the task reports back, the line count is unknown.
                state.history_lines = None;
                let lines = tokio::task::spawn_blocking(move || {
                    let lines = Self::append_history_blocking(&dir, dimension.id(), &entry, lines, retention)?;
                    Self::write_blocking(&dir, &dimension)?;
                    Ok::<_, StoreError>(lines)
                })
                .await
                .map_err(|e| StoreError::Unavailable(format!("file write task failed: {e}")))??;
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

    async fn delete(&self, id: &DimensionId) -> Result<bool, StoreError> {
        let Some(slot) = self.slot(id, false) else { return Ok(false) };
        let result = async {
            let mut state = slot.lock().await;
            if state.dimension.is_none() {
                return Ok(false);
            }
            let (dir, id2) = (self.dir.clone(), id.clone());
            tokio::task::spawn_blocking(move || {
                let doc = dir.join(file_name(&id2));
                fs::remove_file(&doc).map_err(|e| io_err("cannot remove", &doc, e))?;
                File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| io_err("cannot sync", &dir, e))?;
                // The history goes after the document: a crash in between
                // leaves history no dimension shows (removed by the next delete).
                let history = history_path(&dir, &id2);
                match fs::remove_file(&history) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("cannot remove", &history, e)),
                    _ => Ok(()),
                }
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
        let path = history_path(&self.dir, id);
        let entries = tokio::task::spawn_blocking(move || read_history(&path))
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
        tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| io_err("cannot create", &dir, e))?;
            atomic_write(&dir, &file, &value, 0o600)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("file write task failed: {e}")))?
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            fs::metadata(dir.join(LOCK_FILE)).map_err(|e| io_err("cannot stat", &dir, e))
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("file ping task failed: {e}")))??;
        Ok(())
    }

    async fn close(&self) {
        // Dropping the file releases the lock.
        drop(self.lock.lock().unwrap_or_else(PoisonError::into_inner).take());
    }

    fn kind(&self) -> &'static str {
        "file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_never_contain_the_id() {
        for raw in ["..%2f", "a b", "CON", "x".repeat(255).as_str()] {
            let id = DimensionId::parse(raw).unwrap();
            let name = file_name(&id);
            assert_eq!(name.len(), 64 + DOC_SUFFIX.len());
            assert!(name.trim_end_matches(DOC_SUFFIX).chars().all(|c| c.is_ascii_hexdigit()), "{name}");
        }
    }
}
