//! The dimension documents: one JSON file per dimension in `DIR`, named by the
//! SHA-256 of its id (never the id itself); their encoding (`Doc`, also the
//! journal's record of a document); reading them all at open (other files,
//! such as the journal, are skipped), overwriting one in place (`Pending`:
//! opened before the change is journaled, written after) and removing one;
//! and `Committed`, the
//! sharded copy of what is on disk that reads are served from.

use super::atomic::{TMP_SUFFIX, io_err, open_err};
use crate::domain::history::{from_ms, to_ms};
use crate::domain::{Capacity, Dimension, DimensionId};
use crate::fingerprint::Fingerprint;
use crate::store::{StoreError, bucket};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

const DOC_SUFFIX: &str = ".json";

/// The committed dimensions, split in shards so threads rarely wait.
pub(super) struct Committed(Box<[Mutex<HashMap<DimensionId, Dimension>>]>);

impl Committed {
    const SHARDS: usize = 16;

    pub(super) fn new() -> Self {
        Self((0..Self::SHARDS).map(|_| Mutex::new(HashMap::new())).collect())
    }

    fn shard(&self, id: &DimensionId) -> std::sync::MutexGuard<'_, HashMap<DimensionId, Dimension>> {
        self.0[bucket(id, self.0.len())].lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn get(&self, id: &DimensionId) -> Option<Dimension> {
        self.shard(id).get(id).cloned()
    }

    /// How many dimensions are committed.
    pub(super) fn len(&self) -> usize {
        self.0.iter().map(|shard| shard.lock().unwrap_or_else(PoisonError::into_inner).len()).sum()
    }

    pub(super) fn set(&self, id: &DimensionId, value: Option<&Dimension>) {
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
pub(super) struct Doc {
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

impl Doc {
    pub(super) fn of(dimension: &Dimension) -> Self {
        Self {
            revision: dimension.revision,
            status_since: dimension.status_since.map(to_ms),
            min_capacity: dimension.min_capacity,
            max_capacity: dimension.max_capacity,
            changed_at: dimension.changed_at.map(to_ms),
            dimension: dimension.clone(),
        }
    }

    pub(super) fn id(&self) -> &DimensionId {
        self.dimension.id()
    }

    pub(super) fn into_dimension(self) -> Dimension {
        let mut dimension = self.dimension;
        dimension.revision = self.revision;
        dimension.status_since = self.status_since.map(from_ms);
        dimension.min_capacity = self.min_capacity;
        dimension.max_capacity = self.max_capacity;
        dimension.changed_at = self.changed_at.map(from_ms);
        dimension
    }
}

pub(super) fn file_name(id: &DimensionId) -> String {
    format!("{}{DOC_SUFFIX}", Fingerprint::of(id.as_str().as_bytes()))
}

/// Reads every document in `dir`, removing temp files left by a crash.
///
/// # Errors
/// `Open` when the directory cannot be read, or holds a document that is not
/// a crest dimension or sits in another dimension's file.
pub(super) fn load_all(dir: &Path) -> Result<Vec<Dimension>, StoreError> {
    let mut dimensions = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| open_err(dir, "read", e))? {
        let entry = entry.map_err(|e| open_err(dir, "read", e))?;
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
        let bytes = fs::read(&path).map_err(|e| open_err(dir, "read", e))?;
        if bytes.is_empty() {
            // Created for a first write that crashed before the write (and
            // was not journaled, or recovery would have written it).
            let _ = fs::remove_file(&path);
            continue;
        }
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
        dimensions.push(doc.into_dimension());
    }
    Ok(dimensions)
}

/// The bytes of the document of `dimension`.
pub(super) fn encode(dimension: &Dimension) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec_pretty(&Doc::of(dimension))
        .map_err(|e| StoreError::Corrupt(format!("cannot encode dimension: {e}")))
}

/// A document about to be overwritten in place: its file open (created
/// empty if new), its new bytes ready. Opening before the change is
/// journaled makes a file that cannot be written (a directory in the way,
/// permissions) fail the change before it is journaled.
pub(super) struct Pending {
    file: File,
    path: PathBuf,
    created: bool,
    bytes: Vec<u8>,
}

/// Opens the document of `dimension` for `Pending::write`.
pub(super) fn prepare(dir: &Path, dimension: &Dimension) -> Result<Pending, StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let bytes = encode(dimension)?;
    let path = dir.join(file_name(dimension.id()));
    let open = |create_new| OpenOptions::new().write(true).create_new(create_new).mode(0o644).open(&path);
    let (file, created) = match open(true) {
        Ok(file) => (Ok(file), true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => (open(false), false),
        Err(e) => (Err(e), false),
    };
    let file = file.map_err(|e| io_err("cannot write", &path, e))?;
    Ok(Pending { file, path, created, bytes })
}

impl Pending {
    /// Overwrites the document in place (no temp file, no rename, no
    /// fsync: the journal holds the change until a checkpoint syncs it,
    /// and recovery rewrites a document a crash tore).
    pub(super) fn write(self) -> Result<(), StoreError> {
        use std::os::unix::fs::FileExt;
        let len = self.bytes.len() as u64;
        self.file
            .write_all_at(&self.bytes, 0)
            .and_then(|()| self.file.set_len(len))
            .map_err(|e| io_err("cannot write", &self.path, e))
    }

    /// Gives the write up: the document is untouched (a new, still empty
    /// one is removed again).
    pub(super) fn discard(self) {
        if self.created {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Removes the document of `id`, durably (fsync of the directory).
pub(super) fn remove(dir: &Path, id: &DimensionId) -> Result<(), StoreError> {
    let doc = dir.join(file_name(id));
    fs::remove_file(&doc).map_err(|e| io_err("cannot remove", &doc, e))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_err("cannot sync", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_never_contain_the_id() {
        for raw in ["..%2f", "a b", "CON", "x".repeat(255).as_str(), "\u{20ac}".repeat(533).as_str()] {
            let id = DimensionId::parse(raw).unwrap();
            let name = file_name(&id);
            assert_eq!(name.len(), 64 + DOC_SUFFIX.len());
            assert!(name.trim_end_matches(DOC_SUFFIX).chars().all(|c| c.is_ascii_hexdigit()), "{name}");
        }
    }
}
