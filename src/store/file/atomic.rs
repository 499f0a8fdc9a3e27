//! The file store's disk primitives: atomic, durable writes (temp file,
//! fsync, rename, fsync of the directory) with a file mode, for what is
//! written outside the journal (history compaction, secrets), and split in
//! two (`Staged`: temp file written, then renamed, no fsync) for a new
//! document, which the committer journals between the halves; where
//! secrets live; and I/O failures as `StoreError`s that name the path.

use crate::fingerprint::Fingerprint;
use crate::store::StoreError;
use std::fmt::Display;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The suffix of a write in progress; one left at open crashed before its rename.
pub(super) const TMP_SUFFIX: &str = ".tmp";
const SECRETS_DIR: &str = "secrets";

pub(super) fn io_err(what: &str, path: &Path, e: impl Display) -> StoreError {
    StoreError::Unavailable(format!("{what} {}: {e}", path.display()))
}

/// An I/O failure while opening the store in `dir`.
pub(super) fn open_err(dir: &Path, what: &str, e: std::io::Error) -> StoreError {
    StoreError::Open(format!("store: cannot {what} {} for the file store: {e}", dir.display()))
}

/// An atomic write half-way: `dir/name.tmp` written and closed, not
/// renamed yet. The old file stands until `install`.
pub(super) struct Staged {
    tmp: PathBuf,
    path: PathBuf,
}

impl Staged {
    /// Writes `bytes` to the temp file of `dir/name` (created with `mode`),
    /// without fsync. On error the temp file is gone and the old file stands.
    pub(super) fn write(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> Result<Self, StoreError> {
        Self::write_then(dir, name, bytes, mode, |_| Ok(()))
    }

    /// Writes `bytes` to the temp file of `dir/name` (created with `mode`),
    /// running `then` on it before it is closed. On error the temp file is
    /// gone and the old file stands.
    fn write_then(
        dir: &Path,
        name: &str,
        bytes: &[u8],
        mode: u32,
        then: impl FnOnce(&File) -> std::io::Result<()>,
    ) -> Result<Self, StoreError> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.join(name);
        let tmp = dir.join(format!("{name}{TMP_SUFFIX}"));
        let written = (|| {
            let _ = fs::remove_file(&tmp);
            let mut file = OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
            file.write_all(bytes)?;
            then(&file)
        })();
        match written {
            Ok(()) => Ok(Self { tmp, path }),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(io_err("cannot write", &path, e))
            }
        }
    }

    /// Renames the temp file over the file. Durable only once the directory
    /// is fsynced, and only safe once the temp file's data is on disk.
    pub(super) fn install(self) -> Result<PathBuf, StoreError> {
        match fs::rename(&self.tmp, &self.path) {
            Ok(()) => Ok(self.path),
            Err(e) => {
                let _ = fs::remove_file(&self.tmp);
                Err(io_err("cannot write", &self.path, e))
            }
        }
    }

    /// Gives the write up: the temp file goes, the old file stands.
    pub(super) fn discard(self) {
        let _ = fs::remove_file(&self.tmp);
    }
}

/// Writes `dir/name` atomically and durably with `mode`: temp file, fsync,
/// rename, fsync of the directory. On error the old file stands.
pub(super) fn atomic_write(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
    let path = Staged::write_then(dir, name, bytes, mode, File::sync_all)?.install()?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_err("cannot write", &path, e))
}

/// Where secrets live: `DIR/secrets/<sha256 of the name>`, mode 0600.
pub(super) fn secret_path(dir: &Path, name: &str) -> (PathBuf, String) {
    (dir.join(SECRETS_DIR), Fingerprint::of(name.as_bytes()).to_string())
}

/// Writes the secret `file` into `dir` (created 0700 if needed), mode 0600.
pub(super) fn put_secret(dir: &Path, file: &str, value: &[u8]) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| io_err("cannot create", dir, e))?;
    atomic_write(dir, file, value, 0o600)
}
