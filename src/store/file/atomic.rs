//! The file store's disk primitives: atomic, durable writes (temp file,
//! fsync, rename, fsync of the directory) with a file mode, where secrets
//! live, and I/O failures as `StoreError`s that name the path.

use crate::fingerprint::Fingerprint;
use crate::store::StoreError;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The suffix of a write in progress; one left at open crashed before its rename.
pub(super) const TMP_SUFFIX: &str = ".tmp";
const SECRETS_DIR: &str = "secrets";

pub(super) fn io_err(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{what} {}: {e}", path.display()))
}

/// An I/O failure while opening the store in `dir`.
pub(super) fn open_err(dir: &Path, what: &str, e: std::io::Error) -> StoreError {
    StoreError::Open(format!("store: cannot {what} {} for the file store: {e}", dir.display()))
}

/// Writes `dir/name` atomically and durably with `mode`: temp file, fsync,
/// rename, fsync of the directory. On error the old file stands.
pub(super) fn atomic_write(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
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
pub(super) fn secret_path(dir: &Path, name: &str) -> (PathBuf, String) {
    (dir.join(SECRETS_DIR), Fingerprint::of(name.as_bytes()).to_string())
}

/// Writes the secret `file` into `dir` (created 0700 if needed), mode 0600.
pub(super) fn put_secret(dir: &Path, file: &str, value: &[u8]) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| io_err("cannot create", dir, e))?;
    atomic_write(dir, file, value, 0o600)
}
