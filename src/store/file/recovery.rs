//! Recovery at open, before the documents are read: what the journal holds
//! was answered 200 but may not have reached the documents and history
//! files (a crash before the checkpoint). For each record, in order, the
//! history gets its entry unless it already holds that very entry (so a
//! replay run twice appends nothing twice); for each id, the document is
//! rewritten from its latest record when it is missing, does not parse
//! (torn), holds a lower revision, or holds the record's revision in other
//! bytes (torn by a crash during its overwrite in place, old and new bytes
//! mixed). A document above the record's revision, or exactly the record, is kept: it was written after the record (a live copy of `DIR`
//! may hold a journal older than its documents). No record of a deleted
//! dimension can be in the journal (a delete checkpoints first), so none is
//! brought back. Then one `syncfs` and the journal is truncated: the store
//! starts with an empty journal.

use super::atomic::open_err;
use super::documents::{self, Doc};
use super::history;
use super::journal::{Journal, Record};
use crate::domain::{DimensionId, HistoryEntry, Retention};
use crate::store::StoreError;
use std::collections::HashMap;
use std::fs::{self, File};
use std::path::Path;

/// Replays the journal of the store in `dir` and returns it, empty.
///
/// # Errors
/// `Open` when the journal cannot be read or is corrupt before its end, or
/// a document or history file cannot be written.
pub(super) fn recover(dir: &Path, retention: Retention) -> Result<Journal, StoreError> {
    // Opened before anything is written: its syncfs reports every
    // write-back error since (Linux >= 5.8).
    let barrier = File::open(dir).map_err(|e| open_err(dir, "open", e))?;
    let mut journal = Journal::open(dir).map_err(|e| open_err(dir, "open the journal in", e))?;
    if journal.len() == 0 {
        return Ok(journal);
    }
    let records = journal.read()?;
    let failed = |e: StoreError| StoreError::Open(format!("store: replaying the journal failed: {e}"));
    replay(dir, records, retention).map_err(failed)?;
    rustix::fs::syncfs(&barrier).map_err(|e| open_err(dir, "sync", e.into()))?;
    journal.truncate().map_err(|e| open_err(dir, "truncate the journal in", e))?;
    Ok(journal)
}

/// Applies `records` to the documents and history files, without fsync.
pub(super) fn replay(dir: &Path, records: Vec<Record>, retention: Retention) -> Result<(), StoreError> {
    let mut entries: HashMap<DimensionId, Vec<HistoryEntry>> = HashMap::new();
    let mut latest: HashMap<DimensionId, Doc> = HashMap::new();
    let mut order = Vec::new();
    for record in records {
        let Record::Put { document, entry } = record;
        let id = document.id().clone();
        if !entries.contains_key(&id) {
            order.push(id.clone());
        }
        entries.entry(id.clone()).or_default().push(entry);
        latest.insert(id, document);
    }
    let mut replayed = 0;
    for id in order {
        let path = history::path(dir, &id);
        let mut have = history::read(&path)?;
        let mut lines = None;
        for entry in entries.remove(&id).unwrap_or_default() {
            if have.get(&entry.revision) != Some(&entry) {
                lines = Some(history::append(dir, &id, &entry, lines, retention)?);
                have.insert(entry.revision, entry);
            }
        }
        let Some(doc) = latest.remove(&id) else { continue };
        let dimension = doc.into_dimension();
        let bytes = fs::read(dir.join(documents::file_name(&id))).unwrap_or_default();
        let revision = serde_json::from_slice::<Doc>(&bytes).ok().map(|d| d.into_dimension().revision);
        let wanted = documents::encode(&dimension)?;
        // At the record's revision but other bytes (trailing padding aside): torn in place.
        let torn = bytes.trim_ascii_end() != wanted.as_slice();
        let stale = revision.is_none_or(|r| r < dimension.revision || (r == dimension.revision && torn));
        if stale {
            documents::prepare(dir, &dimension)?.write()?;
            replayed += 1;
        }
    }
    if replayed > 0 {
        tracing::warn!(dir = %dir.display(), documents = replayed, "file store: documents restored from the journal");
    }
    Ok(())
}
