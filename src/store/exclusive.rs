//! The lock that keeps a second crest process off a single-process store
//! (the file and SQLite stores).

use super::StoreError;

/// Takes the exclusive lock (`flock`) on `lock_path` that keeps a second
/// crest process off a single-process store, and writes our pid into it; the
/// lock lasts as long as the returned file is open (the kernel drops it if
/// the process dies). `shown` names the store and `what` its kind in the
/// message when another process holds it.
///
/// # Errors
/// `Open`.
pub fn lock_exclusive(lock_path: &std::path::Path, shown: &str, what: &str) -> Result<std::fs::File, StoreError> {
    use std::io::{Read, Write};
    let open_err =
        |e: std::io::Error| StoreError::Open(format!("store: cannot lock {} for {shown}: {e}", lock_path.display()));
    let mut lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(lock_path)
        .map_err(open_err)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = lock.read_to_string(&mut holder);
            let holder = holder.trim();
            let holder = if holder.is_empty() { String::new() } else { format!(" (pid {holder})") };
            return Err(StoreError::Open(format!(
                "store: {shown} is already used by another crest process{holder}; \
                 stop it first: {what} belongs to one process at a time"
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(open_err(e)),
    }
    lock.set_len(0).and_then(|()| writeln!(lock, "{}", std::process::id())).map_err(open_err)?;
    Ok(lock)
}
