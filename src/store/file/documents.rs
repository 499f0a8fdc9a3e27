//! The dimension documents: one JSON file per dimension in `DIR`, named by the
//! SHA-256 of its id (never the id itself); their encoding (`Doc`, also the
//! journal's record of a document); reading them all at open (other files,
//! such as the journal, are skipped), writing one (`Pending`: prepared
//! before the change is journaled, written after: in place, or through a
//! temp file for a new one) and removing one;
//! and `Committed`, the
//! sharded copy of what is on disk that reads are served from.

use super::atomic::{Staged, TMP_SUFFIX, io_err, open_err};
use crate::domain::history::{from_ms, to_ms};
use crate::domain::{Capacity, Dimension, DimensionId, IdMap};
use crate::fingerprint::Fingerprint;
use crate::store::{StoreError, bucket};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

const DOC_SUFFIX: &str = ".json";

/// The committed dimensions, split in shards so threads rarely wait.
pub(super) struct Committed(Box<[Mutex<IdMap<Dimension>>]>);

impl Committed {
    const SHARDS: usize = 16;

    pub(super) fn new() -> Self {
        Self((0..Self::SHARDS).map(|_| Mutex::new(IdMap::default())).collect())
    }

    fn shard(&self, id: &DimensionId) -> std::sync::MutexGuard<'_, IdMap<Dimension>> {
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

/// A document about to be written: an existing one is overwritten in
/// place (its file open, the space for the new bytes reserved), a new one
/// goes through a temp file renamed into place. Everything that can fail
/// for want of space or permission fails here, before the change is
/// journaled; `write` after the journal only fills what is reserved.
pub(super) enum Pending {
    InPlace { file: File, path: PathBuf, bytes: Vec<u8> },
    New(Staged),
}

/// Prepares the document of `dimension` for `Pending::write`.
pub(super) fn prepare(dir: &Path, dimension: &Dimension) -> Result<Pending, StoreError> {
    let mut bytes = encode(dimension)?;
    let name = file_name(dimension.id());
    let path = dir.join(&name);
    let file = match OpenOptions::new().write(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Pending::New(Staged::write(dir, &name, &bytes, 0o644)?));
        }
        Err(e) => return Err(io_err("cannot write", &path, e)),
    };
    let reserved = file.metadata().and_then(|m| {
        let old = m.len();
        // Shorter: padded with spaces (valid JSON) so that one write
        // replaces the whole document and no truncation is needed, so a
        // kill -9 never leaves old bytes after new ones.
        bytes.resize(bytes.len().max(usize::try_from(old).unwrap_or(usize::MAX)), b' ');
        let len = bytes.len() as u64;
        match rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::KEEP_SIZE, 0, len) {
            Err(rustix::io::Errno::OPNOTSUPP) => Ok(()),
            other => other.map_err(std::io::Error::from),
        }
    });
    reserved.map_err(|e| io_err("cannot write", &path, e))?;
    Ok(Pending::InPlace { file, path, bytes })
}

impl Pending {
    /// Overwrites the document in place with one `pwrite` (no fsync: the
    /// journal holds the change until a checkpoint syncs it, and recovery
    /// rewrites a document a power loss tore), or renames the new one into
    /// place.
    pub(super) fn write(self) -> Result<(), StoreError> {
        use std::os::unix::fs::FileExt;
        match self {
            Self::InPlace { file, path, bytes } => {
                file.write_all_at(&bytes, 0).map_err(|e| io_err("cannot write", &path, e))
            }
            Self::New(staged) => staged.install().map(|_| ()),
        }
    }

    /// Gives the write up: the document is untouched.
    pub(super) fn discard(self) {
        if let Self::New(staged) = self {
            staged.discard();
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
