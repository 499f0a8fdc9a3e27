//! The first connection at start-up, made before the pool, so that a
//! database that cannot be reached is named at once and in words
//! (`connection refused at 127.0.0.1:5433`) instead of the pool's "timed out
//! while waiting for an open connection" after the acquire timeout; and
//! which migrations were already applied (to log only the new ones).

use crate::cause::Kind;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool};
use std::fmt;
use std::time::Duration;

/// Why the first connection failed, naming where it went.
pub(super) struct ConnectError(String);

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Connects once (within `timeout`) and closes the connection again.
///
/// # Errors
/// What failed: the cause of a connection that got no answer, with the
/// host and port, or what the server said (a wrong password, no database).
pub(super) async fn first(options: &PgConnectOptions, timeout: Duration) -> Result<(), ConnectError> {
    let at = where_to(options);
    match tokio::time::timeout(timeout, PgConnection::connect_with(options)).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Ok(())
        }
        Ok(Err(sqlx::Error::Database(e))) => Err(ConnectError(format!("{at} answered: {e}"))),
        Ok(Err(e)) => {
            let cause = crate::cause::of(&e);
            Err(ConnectError(match cause.kind {
                Kind::Refused => format!("connection refused at {at}: is PostgreSQL running and listening there?"),
                Kind::Untrusted => {
                    format!("{at}: {cause}; name the server's CA with sslrootcert=FILE in the URL")
                }
                _ => format!("cannot connect to {at}: {cause}"),
            }))
        }
        Err(_) => Err(ConnectError(format!(
            "no answer from {at} within {} (store_acquire_timeout)",
            humantime::format_duration(timeout)
        ))),
    }
}

/// `HOST:PORT`, or the Unix socket.
fn where_to(options: &PgConnectOptions) -> String {
    match options.get_socket() {
        Some(socket) => format!("{} (port {})", socket.display(), options.get_port()),
        None if options.get_host().contains(':') => format!("[{}]:{}", options.get_host(), options.get_port()),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    }
}

/// The versions in `_sqlx_migrations` (none when the table is missing).
pub(super) async fn applied_versions(pool: &PgPool) -> Vec<i64> {
    let exists: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text").fetch_one(pool).await.unwrap_or(None);
    if exists.is_none() {
        return Vec::new();
    }
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(pool).await.unwrap_or_default()
}
