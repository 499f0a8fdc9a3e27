//! Opening the SQLite store's database: where it really is (symlinks
//! resolved), the rusqlite connections and their pragmas, and the errors
//! SQLite calls map to (a damaged file among them).

use crate::store::StoreError;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// SQLite's own page cache per read connection, KiB (its default is 2 MiB).
/// Enough for the inner pages of the dimensions' B-tree at 1,000,000
/// dimensions (626 pages, 2.5 MiB), so that a read of a dimension not in the
/// cache above costs one page from the OS (the leaf), not two or three. It
/// fills only as pages are read, and reads gather on the first free
/// connection (`reader::Readers::with`): about one such cache per runtime
/// thread.
const READER_PAGE_CACHE_KIB: u32 = 4096;

pub(super) fn unavailable(e: impl Display) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

pub(super) fn closed() -> StoreError {
    StoreError::Unavailable("sqlite: the store is closed".into())
}

/// Why the store at `path` cannot be opened.
pub(super) fn open_error(path: &str, e: &dyn Display) -> StoreError {
    StoreError::Open(format!("store: cannot open sqlite:{path}: {e}"))
}

/// What to do about a damaged file, for the messages.
pub(super) const RESTORE: &str = "restore it from a backup (see \"Upgrades and backups\" in the README), \
     or move it away together with its -wal and -shm files to start with an empty store";

/// True when SQLite says the file itself is damaged (or not a database).
pub(super) fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase))
}

/// The start-up refusal for the damaged file `shown` (the path as given).
pub(super) fn damaged_at_open(shown: &str, detail: &dyn std::fmt::Display) -> StoreError {
    StoreError::Open(format!(
        "store: sqlite:{shown} is damaged (SQLite: {detail}); crest will not serve from it: {RESTORE}"
    ))
}

/// The database file `path` really is, every symlink resolved, creating
/// it (empty, as SQLite would) if missing: the name its lock is taken on,
/// so that two spellings of one file (`link.db -> c.db`) share one lock.
///
/// # Errors
/// The file cannot be created or resolved.
pub(super) fn canonical(path: &str) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::canonicalize(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A dangling symlink is followed: its target is created.
            std::fs::OpenOptions::new().write(true).create(true).truncate(false).mode(0o644).open(path)?;
            std::fs::canonicalize(path)
        }
        resolved => resolved,
    }
}

pub(super) fn open_connection(path: &Path, read_only: bool) -> rusqlite::Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // Plans that never depend on the values bound. Without it SQLite marks
    // a statement such as `... WHERE dimension_id = ?1 ORDER BY revision`
    // to be compiled again whenever ?1 is bound anew, i.e. at every use
    // (the statement cache then saves nothing: about 50,000 instructions
    // per PATCH for the writer's history trim, and every history page read).
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    if read_only {
        conn.execute_batch(&format!("PRAGMA cache_size = -{READER_PAGE_CACHE_KIB};"))?;
    } else {
        // The checkpointer thread keeps the WAL short; the automatic
        // checkpoint (in a commit) is only a backstop at 40 MB.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = 10000;",
        )?;
    }
    conn.set_prepared_statement_cache_capacity(16);
    Ok(conn)
}

#[cfg(test)]
mod tests {
    /// SQLite before 3.50.2 has CVE-2025-6965 (image scanners flag it):
    /// crest links exactly one SQLite, rusqlite's bundled copy.
    #[test]
    fn linked_sqlite_has_the_cve_2025_6965_fix() {
        let (number, version) = (rusqlite::version_number(), rusqlite::version());
        assert!(number >= 3_050_002, "crest links SQLite {version}, older than 3.50.2 (CVE-2025-6965)");
    }
}
