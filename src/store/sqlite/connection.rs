//! Opening the SQLite store's database: the migrations (sqlx), the rusqlite
//! connections and their pragmas, and the errors every SQLite call maps to.

use crate::store::StoreError;
use rusqlite::{Connection, OpenFlags};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::fmt::Display;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// SQLite's own page cache per read connection, KiB (its default is 2 MiB;
/// the hot dimensions are cached above it anyway).
const READER_PAGE_CACHE_KIB: u32 = 1024;

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

/// Creation, WAL mode and migrations through sqlx (its migration table).
pub(super) async fn migrate(path: &str, acquire_timeout: Duration) -> Result<(), StoreError> {
    let open_err = |e: &dyn Display| open_error(path, e);
    let connect = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5));
    let migrations = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(acquire_timeout)
        .connect_with(connect)
        .await
        .map_err(|e| open_err(&e))?;
    let migrated = MIGRATOR.run(&migrations).await.map_err(|e| open_err(&e));
    migrations.close().await;
    migrated
}

pub(super) fn open_connection(path: &str, read_only: bool) -> rusqlite::Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
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
