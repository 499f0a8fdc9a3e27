//! The file store's committer: one thread that makes the writes waiting in
//! its queue durable together (group commit), as the SQLite store's writer
//! thread does. Per group:
//!
//! 1. for each write, its history line is appended (no fsync; a history
//!    rewrite by compaction, rare, is durable on its own) and its document
//!    prepared: an existing one opened and the space for its new bytes
//!    reserved, a new one written to a temp file;
//! 2. one record per write is appended to the journal as one frame, then
//!    ONE `fdatasync` of the journal: the durability point. If it fails,
//!    no document is touched and every write fails;
//! 3. each document is written: an existing one overwritten in place with
//!    one `pwrite`, a new one's temp file renamed over it; no fsync. (On
//!    ext4 here a group of 16 costs 0.38-0.41 ms so, against 2.3-2.7 ms with
//!    temp files, renames and a syncfs: `python3 bench/file_barrier.py DIR
//!    16 500`.) So the files show every change before it is answered;
//! 4. every write is answered.
//!
//! A write whose own I/O fails in step 1 (history, its document: a full
//! disk, a directory in the way) fails alone, with the message it always
//! had, and is not journaled; the others go on. A document write failing
//! in step 3 fails its write too, but its record is in the journal: a crash
//! before the next checkpoint would apply it (a 503 is an unknown outcome).
//! History stays before the document.
//!
//! Checkpoint, once the journal holds `CHECKPOINT_BYTES`, 5 s after its
//! first record, after a failed journal write (a full disk), when
//! `Store::delete` asks, and when the store closes:
//! `syncfs(2)` of the store's filesystem on a descriptor opened before any
//! document it covers was written (it reports every write-back error since;
//! Linux >= 5.8), then the journal is truncated to 0 and fsynced. If the
//! syncfs fails, the journal is kept (recovery replays it at the next open)
//! and every later write fails with 503: the store does not answer 200 for
//! what it cannot make durable.
//!
//! The store's per-id lock is held by each waiting request, so a group never
//! holds two writes of one id. The queue is unbounded on purpose: the writes
//! waiting here are bounded by the requests in flight (which `net` limits).

use super::documents::Pending;
use super::journal::{CHECKPOINT_BYTES, Journal, Record};
use super::{documents, history};
use crate::domain::{Dimension, HistoryEntry, Retention};
use crate::store::StoreError;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The most writes one group takes (it bounds a group's time, not memory).
const MAX_GROUP: usize = 256;

/// How long a journaled record may wait for its checkpoint. Each
/// checkpoint stalls the writes for its syncfs (about 10-15 ms at 10,000
/// writes/s here); every 5 s (or 64 MiB) rather than every 1 s (or 4 MiB,
/// reached every 0.35 s at that rate) it stays out of the p99: PATCH c=16
/// p99 9.5 vs 12.9-16.3 ms.
const CHECKPOINT_AFTER: Duration = Duration::from_secs(5);

/// A change for the committer; `reply` gets the history file's new line
/// count once the change is durable.
pub(super) struct Write {
    pub(super) dimension: Dimension,
    pub(super) entry: HistoryEntry,
    /// The history file's line count, if known.
    pub(super) lines: Option<u64>,
    pub(super) reply: oneshot::Sender<Result<u64, StoreError>>,
}

/// What the committer is asked to do.
#[expect(clippy::large_enum_variant, reason = "moved once into the queue; a Box would cost an allocation per write")]
pub(super) enum Job {
    Write(Write),
    /// A checkpoint now (before a delete), answered once done.
    Checkpoint(oneshot::Sender<Result<(), StoreError>>),
}

/// What the store and its committer share.
#[derive(Default)]
pub(super) struct Shared {
    /// How many writes were handed to the committer.
    pub(super) queued: AtomicU64,
    /// How many groups were committed.
    pub(super) groups: AtomicU64,
    /// Held by a test to let writes pile up before a group is taken.
    #[cfg(test)]
    pub(super) gate: tokio::sync::Mutex<()>,
    /// Set by a test: the next journal appends fail.
    #[cfg(test)]
    pub(super) fail_journal: std::sync::atomic::AtomicBool,
}

/// The committer's own state.
struct Committer {
    dir: PathBuf,
    journal: Journal,
    /// The checkpoint's barrier: opened before any document since the last
    /// checkpoint was written.
    barrier: File,
    /// When the first record since the last checkpoint was journaled.
    since: Option<Instant>,
    /// Set once the store must refuse writes (a failed checkpoint).
    broken: Option<String>,
    retention: Retention,
}

/// Starts the committer for the store in `dir`, appending to `journal`
/// (empty: recovery ran); it stops, with a last checkpoint, once every
/// sender is gone and its queue is done.
pub(super) fn spawn(
    dir: PathBuf,
    journal: Journal,
    retention: Retention,
    shared: Arc<Shared>,
) -> std::io::Result<(mpsc::Sender<Job>, JoinHandle<()>)> {
    let barrier = File::open(&dir)?;
    let mut committer = Committer { dir, journal, barrier, since: None, broken: None, retention };
    let (tx, rx) = mpsc::channel();
    let thread =
        std::thread::Builder::new().name("crest-file-commit".into()).spawn(move || committer.run(&rx, &shared))?;
    Ok((tx, thread))
}

impl Committer {
    fn run(&mut self, rx: &mpsc::Receiver<Job>, shared: &Shared) {
        loop {
            let first = match self.since {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(since) => rx.recv_timeout(CHECKPOINT_AFTER.saturating_sub(since.elapsed())),
            };
            let first = match first {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.checkpoint();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            #[cfg(test)]
            let _gate = shared.gate.blocking_lock();
            let (mut group, mut asked) = (Vec::new(), Vec::new());
            let mut next = Some(first);
            while let Some(job) = next.take() {
                match job {
                    Job::Write(write) => group.push(write),
                    Job::Checkpoint(reply) => asked.push(reply),
                }
                if group.len() < MAX_GROUP {
                    next = rx.try_recv().ok();
                }
            }
            if !group.is_empty() {
                // Counted before any write of the group is answered.
                shared.groups.fetch_add(1, Ordering::SeqCst);
                self.commit(group, shared);
            }
            let due = self.since.is_some_and(|s| s.elapsed() >= CHECKPOINT_AFTER);
            if !asked.is_empty() || due || self.journal.len() >= CHECKPOINT_BYTES {
                let done = self.checkpoint();
                for reply in asked {
                    let _ = reply.send(done.clone().map_err(StoreError::Unavailable));
                }
            }
        }
        if let Err(e) = self.checkpoint() {
            tracing::error!(error = %e, "file store: the last checkpoint failed; the journal is replayed at the next open");
        }
    }

    /// Commits one group (steps 1 to 4 above).
    fn commit(&mut self, group: Vec<Write>, shared: &Shared) {
        let mut staged = Vec::with_capacity(group.len());
        for write in group {
            let result = match &self.broken {
                Some(why) => Err(StoreError::Unavailable(why.clone())),
                None => stage(&self.dir, &write, self.retention),
            };
            match result {
                Ok((lines, doc)) => staged.push((write, lines, doc)),
                Err(e) => answer(write.reply, Err(e)),
            }
        }
        if staged.is_empty() {
            return;
        }
        let records: Vec<_> = staged.iter().map(|(w, _, _)| Record::put(&w.dimension, &w.entry)).collect();
        #[cfg(test)]
        let journaled = if shared.fail_journal.load(Ordering::SeqCst) {
            Err((std::io::Error::other("injected journal failure"), false))
        } else {
            self.journal.append(&records)
        };
        #[cfg(not(test))]
        let journaled = {
            let _ = shared;
            self.journal.append(&records)
        };
        if let Err((e, stuck)) = journaled {
            // Not on disk for sure: nobody gets a 200, the old documents stand.
            let error = format!("cannot write {}: {e}", self.journal.path().display());
            if stuck {
                self.broken = Some(format!("file: {error}; the journal could not be cut back; restart crest"));
            }
            for (write, _, doc) in staged {
                doc.discard();
                answer(write.reply, Err(StoreError::Unavailable(error.clone())));
            }
            // A full disk: a checkpoint frees the journal's space.
            let _ = self.checkpoint();
            return;
        }
        self.since.get_or_insert_with(Instant::now);
        for (write, lines, doc) in staged {
            answer(write.reply, doc.write().map(|()| lines));
        }
    }

    /// Makes every document and history line written so far durable, then
    /// drops the journal's records (see the module docs).
    fn checkpoint(&mut self) -> Result<(), String> {
        if let Some(why) = &self.broken {
            self.since = None;
            return Err(why.clone());
        }
        if self.journal.len() == 0 {
            return Ok(());
        }
        let synced = File::open(&self.dir).and_then(|next| barrier(&self.barrier).map(|()| next));
        let done = synced.and_then(|next| {
            self.barrier = next;
            self.journal.truncate()
        });
        match done {
            Ok(()) => {
                self.since = None;
                Ok(())
            }
            Err(e) => {
                let why = format!(
                    "file: a checkpoint of {} failed ({e}); writes are refused, the journal {} is kept and \
                     replayed at the next start",
                    self.dir.display(),
                    self.journal.path().display()
                );
                tracing::error!("{why}");
                self.broken = Some(why.clone());
                self.since = None;
                Err(why)
            }
        }
    }
}

/// Step 1 for one write: the history line, then the document prepared.
/// Returns the history's new line count and the prepared document.
fn stage(dir: &Path, write: &Write, retention: Retention) -> Result<(u64, Pending), StoreError> {
    let lines = history::append(dir, write.dimension.id(), &write.entry, write.lines, retention)?;
    Ok((lines, documents::prepare(dir, &write.dimension)?))
}

/// Puts every document and history line written since `dir` was opened on
/// disk (data and metadata, directory entries included, the disk's cache
/// flushed): `syncfs` of the store's filesystem, which reports the
/// write-back errors since that open (Linux >= 5.8). Once per checkpoint,
/// not per group: per group the journal's one fdatasync is the barrier.
/// syncfs flushes the whole filesystem, so a neighbour writing much to it
/// slows checkpoints; a filesystem of its own for DIR avoids that.
fn barrier(dir: &File) -> std::io::Result<()> {
    rustix::fs::syncfs(dir).map_err(std::io::Error::from)
}

fn answer(reply: oneshot::Sender<Result<u64, StoreError>>, result: Result<u64, StoreError>) {
    // A caller that went away does not mind.
    let _ = reply.send(result);
}
