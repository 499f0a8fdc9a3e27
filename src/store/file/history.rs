//! The history files: one append-only JSON-lines file per dimension under
//! `DIR/history/`, named by the SHA-256 of its id and appended before the
//! document is written, without fsync: the journal holds the entry until a
//! checkpoint's `syncfs` has put the file on disk, and recovery appends it
//! if a crash lost it. An entry whose revision is above the
//! document's is a change that never completed; the file is rewritten to the
//! retention limit when it doubles. A last line torn by a crash (no `\n`)
//! is cut off before the next append, so it cannot swallow that entry.

use super::atomic::{atomic_write, io_err};
use crate::domain::{DimensionId, HistoryEntry, Retention};
use crate::fingerprint::Fingerprint;
use crate::store::StoreError;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

const HISTORY_DIR: &str = "history";
const HISTORY_SUFFIX: &str = ".jsonl";

/// Where the history of `id` lives: `DIR/history/<sha256 of the id>.jsonl`.
pub(super) fn path(dir: &Path, id: &DimensionId) -> PathBuf {
    dir.join(HISTORY_DIR).join(format!("{}{HISTORY_SUFFIX}", Fingerprint::of(id.as_str().as_bytes())))
}

/// Appends `entry` to the history file, rewriting the file (durably) to
/// the retention limit once it holds twice that many lines. The append
/// itself is not fsynced: the journal makes the change durable, a
/// checkpoint the file (new file included). `lines` is the file's line count if known.
/// Returns the new line count.
pub(super) fn append(
    dir: &Path,
    id: &DimensionId,
    entry: &HistoryEntry,
    lines: Option<u64>,
    retention: Retention,
) -> Result<u64, StoreError> {
    let path = path(dir, id);
    let history_dir = dir.join(HISTORY_DIR);
    if !history_dir.exists() {
        fs::create_dir_all(&history_dir).map_err(|e| io_err("cannot create", &history_dir, e))?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_err("cannot sync", dir, e))?;
    }
    // Unknown after a restart or a failed write: count, and cut a torn tail.
    let lines = match lines {
        Some(n) => n,
        None => count_and_repair(&path)?,
    };
    if lines + 1 > retention.keep.saturating_mul(2).max(16) {
        return compact(&history_dir, &path, entry, retention);
    }
    let mut line = serde_json::to_vec(entry).map_err(|e| StoreError::Corrupt(format!("history: {e}")))?;
    line.push(b'\n');
    let mut f =
        OpenOptions::new().append(true).create(true).open(&path).map_err(|e| io_err("cannot open", &path, e))?;
    f.write_all(&line).map_err(|e| io_err("cannot append to", &path, e))?;
    Ok(lines + 1)
}

/// Rewrites the history file at `path` atomically to what is still within
/// retention, plus `entry`. Returns the new line count.
fn compact(history_dir: &Path, path: &Path, entry: &HistoryEntry, retention: Retention) -> Result<u64, StoreError> {
    // Keep what is still within retention and older than this change
    // (higher revisions are changes that never completed).
    let mut kept: Vec<HistoryEntry> = read(path)?
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
    atomic_write(history_dir, &name, &text, 0o644)?;
    Ok(kept.len() as u64)
}

/// Reads a history file: entries by revision, the last line for a revision
/// winning (a change retried after a failed write). Lines that do not parse
/// (a write torn by a crash) are skipped. A missing file is empty.
pub(super) fn read(path: &Path) -> Result<BTreeMap<u64, HistoryEntry>, StoreError> {
    Ok(parse(&bytes(path)?))
}

/// Counts the entries of the history file at `path` and, when its last line
/// was torn by a crash (the file does not end in `\n`), truncates the file
/// after its last complete line, durably: an append then starts a line of
/// its own. The torn entry is a change that was never answered.
fn count_and_repair(path: &Path) -> Result<u64, StoreError> {
    let text = bytes(path)?;
    let keep = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if keep < text.len() {
        let torn_bytes = text.len() - keep;
        tracing::warn!(file = %path.display(), torn_bytes, "history: cutting off a line torn by a crash");
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(keep as u64).and_then(|()| f.sync_all()))
            .map_err(|e| io_err("cannot repair", path, e))?;
    }
    Ok(parse(&text[..keep]).len() as u64)
}

/// The file's bytes; a missing file is empty.
fn bytes(path: &Path) -> Result<Vec<u8>, StoreError> {
    match fs::read(path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_err("cannot read", path, e)),
    }
}

fn parse(text: &[u8]) -> BTreeMap<u64, HistoryEntry> {
    let mut out = BTreeMap::new();
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        if let Ok(entry) = serde_json::from_slice::<HistoryEntry>(line) {
            out.insert(entry.revision, entry);
        }
    }
    out
}

/// Removes the history file of `id`; a missing one is fine.
pub(super) fn remove(dir: &Path, id: &DimensionId) -> Result<(), StoreError> {
    let history = path(dir, id);
    match fs::remove_file(&history) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("cannot remove", &history, e)),
        _ => Ok(()),
    }
}
