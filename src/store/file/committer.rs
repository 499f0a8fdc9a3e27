//! The file store's committer: one thread that makes the writes waiting in
//! its queue durable together (group commit), as the SQLite store's writer
//! thread does. Per group:
//!
//! 1. for each write, its history line is appended and its document written
//!    to a temp file, neither fsynced (a history rewrite by compaction, rare,
//!    is durable on its own);
//! 2. one durability barrier for all of them: `syncfs(2)` of the store's
//!    filesystem; if it fails, nothing is renamed and every write fails;
//! 3. each temp file is renamed over its document, then the directory is
//!    fsynced once;
//! 4. every write is answered.
//!
//! A write whose own I/O fails (history, temp file, rename) fails alone,
//! with the message it always had; the others go on. History stays before
//! the document: a crash leaves at worst a history entry above the
//! document's revision, which readers ignore. The store's per-id lock is
//! held by each waiting request, so a group never holds two writes of one
//! id.
//!
//! The queue is unbounded on purpose: every request waits for its answer
//! while holding its id's lock, so the writes waiting here are bounded by
//! the requests in flight (which `net` limits).

use super::atomic::{Staged, io_err};
use super::{documents, history};
use crate::domain::{Dimension, HistoryEntry, Retention};
use crate::store::StoreError;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use tokio::sync::{mpsc, oneshot};

/// The most writes one group takes (it bounds a group's time, not memory).
const MAX_GROUP: usize = 256;

/// A change for the committer; `reply` gets the history file's new line
/// count once the change is durable.
pub(super) struct Write {
    pub(super) dimension: Dimension,
    pub(super) entry: HistoryEntry,
    /// The history file's line count, if known.
    pub(super) lines: Option<u64>,
    pub(super) reply: oneshot::Sender<Result<u64, StoreError>>,
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
}

/// Starts the committer for the store in `dir`; it stops once every sender
/// is gone and its queue is done.
pub(super) fn spawn(
    dir: PathBuf,
    retention: Retention,
    shared: Arc<Shared>,
) -> std::io::Result<(mpsc::UnboundedSender<Write>, JoinHandle<()>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let thread = std::thread::Builder::new()
        .name("crest-file-commit".into())
        .spawn(move || run(&dir, rx, retention, &shared))?;
    Ok((tx, thread))
}

fn run(dir: &Path, mut rx: mpsc::UnboundedReceiver<Write>, retention: Retention, shared: &Shared) {
    while let Some(first) = rx.blocking_recv() {
        #[cfg(test)]
        let _gate = shared.gate.blocking_lock();
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(write) => group.push(write),
                Err(_) => break,
            }
        }
        // Counted before any write of the group is answered.
        shared.groups.fetch_add(1, Ordering::SeqCst);
        commit(dir, group, retention);
    }
}

/// Commits one group (steps 1 to 4 above).
fn commit(dir: &Path, group: Vec<Write>, retention: Retention) {
    // Opened before anything of the group is written: syncfs reports every
    // write-back error of the filesystem since this open.
    let dir_file = File::open(dir);
    let mut staged = Vec::with_capacity(group.len());
    for write in group {
        match stage(dir, &write, retention) {
            Ok((lines, doc)) => staged.push((write, lines, doc)),
            Err(e) => answer(write.reply, Err(e)),
        }
    }
    if staged.is_empty() {
        return;
    }
    let dir_file = match dir_file.and_then(|d| barrier(&d).map(|()| d)) {
        Ok(d) => d,
        Err(e) => {
            // Not on disk for sure: nobody gets a 200, the old documents stand.
            for (write, _, doc) in staged {
                let error = io_err("cannot write", doc.path(), &e);
                doc.discard();
                answer(write.reply, Err(error));
            }
            return;
        }
    };
    let mut installed = Vec::with_capacity(staged.len());
    for (write, lines, doc) in staged {
        match doc.install() {
            Ok(path) => installed.push((write, lines, path)),
            Err(e) => answer(write.reply, Err(e)),
        }
    }
    let synced = dir_file.sync_all();
    for (write, lines, path) in installed {
        answer(write.reply, synced.as_ref().map(|()| lines).map_err(|e| io_err("cannot write", &path, e)));
    }
}

/// Step 1 for one write: the history line, then the document's temp file.
/// Returns the history's new line count and the staged document.
fn stage(dir: &Path, write: &Write, retention: Retention) -> Result<(u64, Staged), StoreError> {
    let lines = history::append(dir, write.dimension.id(), &write.entry, write.lines, retention)?;
    Ok((lines, documents::stage(dir, &write.dimension)?))
}

/// Puts every history line and temp file written so far on disk (data and
/// metadata, new files' directory entries included, the disk's cache
/// flushed), before any rename: `syncfs` of the store's filesystem, one call
/// for the whole group, on a descriptor opened before the group was written
/// (syncfs reports the write-back errors since that open; Linux >= 5.8).
///
/// Chosen over an fsync of each file by measurement on this machine (ext4
/// on a virtio disk; `python3 bench/file_barrier.py DIR 16 500`, p50 per
/// group of 16: 16 history appends and 16 temp files, the barrier, 16
/// renames, one fsync of the directory): 2.6 ms with syncfs, 5.9 ms with an
/// fdatasync/fsync of each file; groups of 8: 1.6 vs 3.3 ms; alone: 0.55 vs
/// 0.65 ms. syncfs flushes the whole filesystem, so a neighbour writing much
/// to it slows every group (one writing 80 MB/s: p50 2.6-3.1 vs 5.8-8.4 ms,
/// p99 up to 11 vs 17 ms; the fsyncs suffer too); a filesystem of its own
/// for DIR avoids that.
fn barrier(dir: &File) -> std::io::Result<()> {
    rustix::fs::syncfs(dir).map_err(std::io::Error::from)
}

fn answer(reply: oneshot::Sender<Result<u64, StoreError>>, result: Result<u64, StoreError>) {
    // A caller that went away does not mind.
    let _ = reply.send(result);
}
