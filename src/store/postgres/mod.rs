//! `postgres://…` — several crest replicas on one PostgreSQL. Each change is
//! one transaction: `SELECT … FOR UPDATE` on the row, the pure transition,
//! then the write; a missing row is inserted with `ON CONFLICT DO NOTHING`
//! and the transaction retried if another replica created it first.
//! Migrations from `migrations/postgres/` run under sqlx's advisory lock.
//! Database trouble becomes `StoreError::Unavailable` within the acquire or
//! statement timeout, and the pool reconnects by itself.
//!
//! This file owns `PostgresStore`: opening (pool, migrations, read batchers),
//! the `Store` glue and the one-statement queries. The change transaction is
//! in `queries`, the coalesced point reads in `batch`, LISTEN/NOTIFY in
//! `listen`, the first connection and its errors in `connect`.

mod batch;
mod connect;
mod listen;
mod queries;

use super::migrations::{self, Embedded};
use super::row::{self, DimensionRow, HISTORY_COLUMNS, HistoryRow, select_dimension};
use super::{ListQuery, Store, StoreError, StoreLock, StoreOptions, Transition, UpdateError};
use crate::clock::Clock;
use crate::domain::history::to_ms;
use crate::domain::{Dimension, DimensionId, HistoryEntry, HistoryQuery, Outcome, Retention, Source};
use crate::watch::Feed;
use async_trait::async_trait;
use batch::Batchers;
use futures_util::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx_core::error::BoxDynError;
use sqlx_core::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// `migrations/postgres/` for sqlx's `Migrator`: its `_sqlx_migrations`
/// table, checksums and advisory lock, as `sqlx::migrate!` gave them.
#[derive(Debug)]
struct Migrations;

impl MigrationSource<'static> for Migrations {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        let simple = |m: &Embedded| {
            Migration::new(m.version(), m.description().into(), MigrationType::Simple, m.sql.into(), false)
        };
        Box::pin(std::future::ready(Ok(migrations::POSTGRES.iter().map(simple).collect())))
    }
}

/// The NOTIFY channel: the payload is the id of a dimension that changed.
const CHANNEL: &str = "crest_changes";

/// A pooled connection idle longer than this is pinged before use.
const IDLE_PING_AFTER: Duration = Duration::from_secs(10);

/// How often a change is retried when another replica created the row first.
const CREATE_RACE_RETRIES: usize = 3;

pub struct PostgresStore {
    pool: PgPool,
    retention: Retention,
    clock: Clock,
    /// Point reads waiting for a batch query, and the tasks answering them.
    reads: Batchers,
}

fn unavailable(e: sqlx::Error) -> StoreError {
    // sqlx errors carry no password (the URL is parsed into options first).
    StoreError::Unavailable(format!("postgres: {e}"))
}

impl PostgresStore {
    /// Connects (TLS as `sslmode` says) and applies the migrations.
    ///
    /// # Errors
    /// `Open` with the cause; the URL in the message has no password.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let shown = super::redact_url(url);
        let open_err = |e: &dyn std::fmt::Display| StoreError::Open(format!("store: cannot open {shown}: {e}"));
        let connect = Self::connect_options(url, options).map_err(|e| open_err(&e))?;
        // One connection first: a wrong host, port or password is named at
        // once, not as the pool's "timed out" after the acquire timeout.
        connect::first(&connect, options.acquire_timeout).await.map_err(|e| open_err(&e))?;
        let pool = Self::pool(connect, options);
        let applied = connect::applied_versions(&pool).await;
        let migrator = Migrator::new(Migrations).await.map_err(|e| open_err(&e))?;
        migrator.run(&pool).await.map_err(|e| open_err(&e))?;
        for m in migrations::POSTGRES.iter().filter(|m| !applied.contains(&m.version())) {
            tracing::info!(store = %shown, version = m.version(), description = %m.description(), "postgres: migration applied");
        }
        let reads = Batchers::start(&pool);
        Ok(Self { pool, retention: options.retention, clock: options.clock.clone(), reads })
    }

    /// The URL's options, with crest's session settings. Notices (`relation
    /// … already exists, skipping` from migrations) stay on the server:
    /// only warnings and errors reach crest's log.
    fn connect_options(url: &str, options: &StoreOptions) -> Result<PgConnectOptions, sqlx::Error> {
        let statement_ms = options.statement_timeout.as_millis().to_string();
        Ok(PgConnectOptions::from_str(url)?.application_name("crest").options([
            ("statement_timeout", statement_ms.as_str()),
            ("lock_timeout", statement_ms.as_str()),
            ("idle_in_transaction_session_timeout", "60000"),
            ("client_min_messages", "warning"),
        ]))
    }

    /// A lazy pool: connections are made on demand and re-made after an outage.
    fn pool(connect: PgConnectOptions, options: &StoreOptions) -> PgPool {
        PgPoolOptions::new()
            .max_connections(options.max_connections)
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            // A ping before every use doubled the round trips of a GET. Busy
            // connections are trusted (a dead one fails its query, is dropped
            // and replaced); one idle for a while is pinged first.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > IDLE_PING_AFTER {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(connect)
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn get(&self, id: &DimensionId) -> Result<Option<Dimension>, StoreError> {
        self.reads.get(id).await
    }

    async fn update(
        &self,
        id: &DimensionId,
        transition: &Transition<'_>,
        source: &Source,
    ) -> Result<Outcome, UpdateError> {
        for _ in 0..CREATE_RACE_RETRIES {
            if let Some(outcome) = self.try_update(id, transition, source).await? {
                return Ok(outcome);
            }
            // Another replica created the row between our SELECT and INSERT:
            // run again, now locking the row it created.
        }
        Err(StoreError::Unavailable(format!("postgres: {id:?} kept changing under concurrent creation")).into())
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Dimension>, StoreError> {
        const LIST: &str =
            select_dimension!("id > $1 AND scaling_status = coalesce($2, scaling_status) ORDER BY id LIMIT $3");
        let rows = sqlx::query_as::<_, DimensionRow>(LIST)
            .bind(query.after.as_ref().map_or("", |a| a.as_str()))
            .bind(query.status.map(|s| s.as_str()))
            .bind(row::signed(query.limit))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.into_iter().map(|r| r.into_dimension("postgres")).collect()
    }

    /// Every replica's dimensions: a scan of the table, asked only on the
    /// rare path of a change that would create one.
    async fn count(&self) -> Result<u64, StoreError> {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM dimensions").fetch_one(&self.pool).await.map_err(unavailable)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn delete(&self, id: &DimensionId) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let gone = sqlx::query("DELETE FROM dimensions WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?
            .rows_affected();
        sqlx::query("DELETE FROM history WHERE dimension_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        queries::notify(&mut tx, id).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(gone > 0)
    }

    async fn history(&self, id: &DimensionId, query: HistoryQuery) -> Result<Vec<HistoryEntry>, StoreError> {
        let sql = format!(
            "SELECT {HISTORY_COLUMNS} FROM history WHERE dimension_id = $1 AND revision < $2 AND at >= $3 \
             ORDER BY revision DESC LIMIT $4"
        );
        let rows = sqlx::query_as::<_, HistoryRow>(&sql)
            .bind(id.as_str())
            .bind(query.before.map_or(i64::MAX, row::signed))
            .bind(to_ms(self.retention.cutoff(self.clock.now())))
            .bind(row::signed(query.limit))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.into_iter().map(|r| r.into_entry("postgres")).collect()
    }

    async fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT value FROM secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)
    }

    async fn put_secret(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO secrets (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = now()",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    /// A session-level advisory lock on a connection of its own: released
    /// when the guard (and so the connection) is dropped, even on a crash.
    async fn try_lock(&self, name: &str) -> Result<Option<StoreLock>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(unavailable)?.detach();
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(got.then(|| StoreLock::holding(Box::new(conn))))
    }

    /// LISTEN/NOTIFY into `feed` until `shutdown` (see `listen::follow`).
    async fn follow(&self, feed: Arc<Feed>, shutdown: CancellationToken) {
        listen::follow(self, &feed, &shutdown).await;
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(unavailable)?;
        Ok(())
    }

    /// Stops the read batchers (they finish the batch in flight), then
    /// closes the pool; reads after it are refused.
    async fn close(&self) {
        self.reads.close().await;
        self.pool.close().await;
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }
}
