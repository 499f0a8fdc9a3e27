//! The Postgres schema migrations (`migrations/postgres/`), recorded in
//! `_sqlx_migrations` as sqlx 0.8's `Migrator` recorded them (crest used it
//! before): databases migrated by either work with the other.
//!
//! Unlike sqlx, which holds a session advisory lock (useless behind a
//! transaction pooler: the lock stays on a server connection other clients
//! then share), crest runs the whole check-and-apply in ONE transaction
//! that first takes `pg_advisory_xact_lock`: a transaction keeps its server
//! connection through any pooler, and the lock ends with it (commit,
//! rollback or a dropped connection). A second process waits for the first
//! to commit, then finds nothing left to do. Every statement is sent as a
//! simple-protocol message (see `sql`).

use super::pool::Pool;
use super::sql::Sql;
use crate::store::StoreError;
use crate::store::migrations::{Embedded, pending};
// Executor's own methods: RawSql's `async fn`s make futures that are not
// `Send` for every lifetime, which `tokio::spawn` needs.
use sqlx::{Acquire, Executor, Row, raw_sql};
use std::time::Instant;

/// sqlx 0.8's table, in its words.
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
    success BOOLEAN NOT NULL,
    checksum BYTEA NOT NULL,
    execution_time BIGINT NOT NULL
);";

/// Why the migrations did not run.
pub(super) enum Refusal {
    /// The database cannot be reached or a statement failed: worth retrying.
    Unavailable(StoreError),
    /// The recorded migrations do not fit this binary's, or one failed:
    /// a person must act.
    Records(String),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(e)
    }
}

/// Applies the migrations of `known` the database lacks; returns those it
/// applied (version, description).
///
/// # Errors
/// See [`Refusal`].
pub(super) async fn run(pool: &Pool, known: &[Embedded]) -> Result<Vec<(i64, String)>, Refusal> {
    let mut conn = pool.conn().await?;
    let mut tx = conn.begin().await.map_err(super::unavailable)?;
    // Migrations may take long: no statement timeout, but a bounded wait for
    // the lock; notices (`… already exists, skipping`) stay on the server.
    let lock = "SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = '120s'; \
        SET LOCAL client_min_messages = warning; SELECT pg_advisory_xact_lock(hashtextextended('crest migrations', 0));";
    Executor::execute(&mut *tx, raw_sql(lock)).await.map_err(super::unavailable)?;
    Executor::execute(&mut *tx, raw_sql(CREATE_TABLE)).await.map_err(super::unavailable)?;
    let rows = Executor::fetch_all(
        &mut *tx,
        raw_sql("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version"),
    )
    .await
    .map_err(super::unavailable)?;
    let mut applied = Vec::with_capacity(rows.len());
    for r in rows {
        let record: Result<(i64, Vec<u8>, bool), sqlx::Error> =
            (|| Ok((r.try_get("version")?, r.try_get("checksum")?, r.try_get("success")?)))();
        applied.push(record.map_err(super::unavailable)?);
    }
    let missing = pending(known, &applied, "postgres").map_err(Refusal::Records)?;
    let mut done = Vec::with_capacity(missing.len());
    for m in missing {
        let started = Instant::now();
        if let Err(e) = Executor::execute(&mut *tx, raw_sql(m.sql)).await {
            return Err(Refusal::Records(format!(
                "migration {} ({}) failed, nothing of it was kept: {e}",
                m.version(),
                m.description()
            )));
        }
        let nanos = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
        let record =
            Sql::new("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (")
                .int(m.version())
                .sql(", ")
                .text(&m.description())?
                .sql(", TRUE, ")
                .bytes(&m.checksum())
                .sql(", ")
                .int(nanos)
                .sql(")");
        Executor::execute(&mut *tx, raw_sql(record.as_str())).await.map_err(super::unavailable)?;
        done.push((m.version(), m.description()));
    }
    tx.commit().await.map_err(super::unavailable)?;
    Ok(done)
}
