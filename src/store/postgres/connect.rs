//! The first connection at start-up, made before the pool, so that a
//! database that cannot be reached is named at once and in words
//! (`connection refused at 127.0.0.1:5433`) instead of the pool's "timed out
//! while waiting for an open connection" after the acquire timeout. The
//! same words say why a replica that started without its database is not
//! ready yet.

use crate::cause::Kind;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::fmt;
use std::time::Duration;

/// Why the first connection failed, naming where it went (for the log),
/// and in a few words without the address (for `/readyz`).
pub(super) struct ConnectError(String, pub(super) &'static str);

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
        Ok(Err(sqlx::Error::Database(e))) => {
            let short = if e.code().is_some_and(|c| c.starts_with("28")) {
                "the database refused crest's login"
            } else {
                "the database refused the connection"
            };
            Err(ConnectError(format!("{at} answered: {e}"), short))
        }
        Ok(Err(e)) => {
            let cause = crate::cause::of(&e);
            Err(match cause.kind {
                Kind::Refused => ConnectError(
                    format!("connection refused at {at}: is PostgreSQL running and listening there?"),
                    "the database's port refuses connections",
                ),
                Kind::Untrusted => ConnectError(
                    format!("{at}: {cause}; name the server's CA with sslrootcert=FILE in the URL"),
                    "the database's TLS certificate is not trusted",
                ),
                _ => ConnectError(format!("cannot connect to {at}: {cause}"), "cannot connect to the database"),
            })
        }
        Err(_) => Err(ConnectError(
            format!("no answer from {at} within {} (store_acquire_timeout)", humantime::format_duration(timeout)),
            "the database does not answer",
        )),
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
