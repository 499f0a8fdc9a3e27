//! `postgres://…` — several crest replicas on one PostgreSQL. Each change is
//! one transaction: `SELECT … FOR UPDATE` on the row, the pure transition,
//! then the write; a missing row is inserted with `ON CONFLICT DO NOTHING`
//! and the transaction retried if another replica created it first.
//! Migrations from `migrations/postgres/` run under sqlx's advisory lock.
//! Database trouble becomes `StoreError::Unavailable` within the acquire or
//! statement timeout, and the pool reconnects by itself.

use super::row::{self, DimensionRow, HISTORY_COLUMNS, HistoryRow, select_dimension};
use super::{ListQuery, Store, StoreError, StoreLock, StoreOptions, Transition, UpdateError, record};
use crate::clock::Clock;
use crate::domain::history::to_ms;
use crate::domain::{Capacity, Dimension, DimensionId, HistoryEntry, HistoryQuery, Outcome, Retention, Source};
use crate::watch::Feed;
use async_trait::async_trait;
use sqlx::PgConnection;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

const SELECT: &str = select_dimension!("id = $1");

const INSERT: &str = "INSERT INTO dimensions (id, revision, version, resource_name, dimension_name, \
    desired_capacity, actual_capacity, scaling_status, failure_reason, status_since, min_capacity, max_capacity, \
    changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING";

const UPDATE: &str = "UPDATE dimensions SET revision = $2, version = $3, resource_name = $4, \
    dimension_name = $5, desired_capacity = $6, actual_capacity = $7, scaling_status = $8, \
    failure_reason = $9, status_since = $10, min_capacity = $11, max_capacity = $12, changed_at = $13, updated_at = now() \
    WHERE id = $1";

const INSERT_HISTORY: &str = "INSERT INTO history (dimension_id, revision, at, created, method, client, \
    request_id, changes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dimension_id, revision) DO UPDATE \
    SET at = excluded.at, created = excluded.created, method = excluded.method, client = excluded.client, \
    request_id = excluded.request_id, changes = excluded.changes";

const TRIM_HISTORY: &str = "DELETE FROM history WHERE dimension_id = $1 AND (revision <= $2 OR at < $3)";

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
    /// Point reads waiting for a batch query (see [`read_batches`]).
    reads: mpsc::UnboundedSender<Read>,
}

/// A point read: the id and where its answer goes.
type Read = (DimensionId, oneshot::Sender<Result<Option<Dimension>, StoreError>>);

/// Batch readers running at once (each holds a pool connection while it reads).
const READ_BATCHERS: usize = 4;
/// The most ids one batch read asks for.
const MAX_READ_BATCH: usize = 128;

/// Coalesces concurrent point reads: each batcher takes every read waiting
/// (up to `MAX_READ_BATCH`) and answers them with one `id = ANY($1)` query,
/// while the next batcher collects the reads that arrive meanwhile. A read
/// is answered by a query that starts after it was asked, so it sees every
/// change committed before it was asked, as a query of its own would. One
/// round trip for many GETs instead of one each.
async fn read_batches(pool: PgPool, queue: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Read>>>) {
    const BATCH: &str = select_dimension!("id = ANY($1)");
    loop {
        let batch = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else { return };
            let mut batch = vec![first];
            while batch.len() < MAX_READ_BATCH {
                match queue.try_recv() {
                    Ok(read) => batch.push(read),
                    Err(_) => break,
                }
            }
            batch
        };
        let mut ids: Vec<String> = batch.iter().map(|(id, _)| id.as_str().to_owned()).collect();
        ids.sort_unstable();
        ids.dedup();
        match sqlx::query_as::<_, DimensionRow>(BATCH).bind(&ids).fetch_all(&pool).await {
            Ok(rows) => {
                let found: std::collections::HashMap<String, DimensionRow> =
                    rows.into_iter().map(|r| (r.id().to_owned(), r)).collect();
                for (id, reply) in batch {
                    let answer = found.get(id.as_str()).map(|row| row.clone().into_dimension("postgres")).transpose();
                    let _ = reply.send(answer);
                }
            }
            Err(e) => {
                let e = e.to_string();
                for (_, reply) in batch {
                    let _ = reply.send(Err(StoreError::Unavailable(format!("postgres: {e}"))));
                }
            }
        }
    }
}

fn unavailable(e: sqlx::Error) -> StoreError {
    // sqlx errors carry no password (the URL is parsed into options first).
    StoreError::Unavailable(format!("postgres: {e}"))
}

/// Writes `d`; returns false when the row was to be created but exists.
async fn write(conn: &mut PgConnection, d: &Dimension, create: bool) -> Result<bool, StoreError> {
    let revision = row::revision(d)?;
    let query = sqlx::query(if create { INSERT } else { UPDATE })
        .bind(d.id().as_str())
        .bind(revision)
        .bind(&d.version)
        .bind(&d.resource_name)
        .bind(&d.dimension_name)
        .bind(d.desired_capacity.get())
        .bind(d.actual_capacity.get())
        .bind(d.scaling_status.as_str())
        .bind(d.failure_reason.as_deref())
        .bind(row::status_since(d))
        .bind(d.min_capacity.map(Capacity::get))
        .bind(d.max_capacity.map(Capacity::get))
        .bind(row::changed_at(d));
    let done = query.execute(conn).await.map_err(unavailable)?;
    Ok(done.rows_affected() == 1)
}

/// Appends `entry` to the dimension's history and trims it to `retention`
/// (only this dimension's rows, which its row lock serialises).
async fn write_history(
    conn: &mut PgConnection,
    id: &DimensionId,
    entry: &HistoryEntry,
    retention: &Retention,
) -> Result<(), StoreError> {
    sqlx::query(INSERT_HISTORY)
        .bind(id.as_str())
        .bind(row::signed(entry.revision))
        .bind(entry.time_ms())
        .bind(entry.created)
        .bind(&entry.source.method)
        .bind(entry.source.client.as_deref())
        .bind(entry.source.request_id.as_deref())
        .bind(row::changes_json(entry)?)
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?;
    sqlx::query(TRIM_HISTORY)
        .bind(id.as_str())
        .bind(row::signed(retention.drop_through(entry.revision)))
        .bind(to_ms(retention.cutoff(entry.time)))
        .execute(conn)
        .await
        .map_err(unavailable)?;
    Ok(())
}

impl PostgresStore {
    /// Connects (TLS as `sslmode` says) and applies the migrations.
    ///
    /// # Errors
    /// `Open` with the cause; the URL in the message has no password.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let shown = super::redact_url(url);
        let open_err = |e: &dyn std::fmt::Display| StoreError::Open(format!("store: cannot open {shown}: {e}"));
        let pool = Self::connect(url, options).map_err(|e| open_err(&e))?;
        MIGRATOR.run(&pool).await.map_err(|e| open_err(&e))?;
        let (reads, queue) = mpsc::unbounded_channel();
        let queue = Arc::new(tokio::sync::Mutex::new(queue));
        for _ in 0..READ_BATCHERS {
            // They end when the store (the sender) is dropped.
            tokio::spawn(read_batches(pool.clone(), queue.clone()));
        }
        Ok(Self { pool, retention: options.retention, clock: options.clock.clone(), reads })
    }

    /// A lazy pool: connections are made on demand and re-made after an outage.
    fn connect(url: &str, options: &StoreOptions) -> Result<PgPool, sqlx::Error> {
        let statement_ms = options.statement_timeout.as_millis().to_string();
        let connect = PgConnectOptions::from_str(url)?.application_name("crest").options([
            ("statement_timeout", statement_ms.as_str()),
            ("lock_timeout", statement_ms.as_str()),
            ("idle_in_transaction_session_timeout", "60000"),
        ]);
        Ok(PgPoolOptions::new()
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
            .connect_lazy_with(connect))
    }

    async fn try_update(
        &self,
        id: &DimensionId,
        transition: &Transition<'_>,
        source: &Source,
    ) -> Result<Option<Outcome>, UpdateError> {
        // Dropping the transaction (error or cancellation) rolls it back.
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let row = sqlx::query_as::<_, DimensionRow>(&format!("{SELECT} FOR UPDATE"))
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
        let current = row.map(|r| r.into_dimension("postgres")).transpose()?;
        let mut outcome = transition(current.as_ref())?;
        if outcome.must_write() {
            let entry = record(&mut outcome, source, self.clock.now());
            if !write(&mut tx, &outcome.dimension, current.is_none()).await? {
                return Ok(None);
            }
            write_history(&mut tx, id, &entry, &self.retention).await?;
            // Delivered to every replica's LISTEN when (and only if) this commits.
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            tx.commit().await.map_err(unavailable)?;
        }
        Ok(Some(outcome))
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn get(&self, id: &DimensionId) -> Result<Option<Dimension>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.reads.send((id.clone(), reply)).map_err(|_| StoreError::Unavailable("postgres: store closed".into()))?;
        answer.await.map_err(|_| StoreError::Unavailable("postgres: the batch reader stopped".into()))?
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
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
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

    /// LISTENs on a connection of its own and publishes each changed
    /// dimension as read back from the table (so the feed only ever shows
    /// committed state); reconnects after an outage.
    async fn follow(&self, feed: Arc<Feed>, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let mut listener = match PgListener::connect_with(&self.pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "postgres: cannot LISTEN for changes from other replicas; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        () = shutdown.cancelled() => return,
                    }
                }
            };
            if let Err(e) = listener.listen(CHANNEL).await {
                tracing::warn!(error = %e, "postgres: LISTEN failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            loop {
                let notification = tokio::select! {
                    n = listener.try_recv() => n,
                    () = shutdown.cancelled() => return,
                };
                match notification {
                    Ok(Some(n)) => {
                        let Ok(id) = DimensionId::parse(n.payload()) else { continue };
                        match self.get(&id).await {
                            Ok(Some(d)) => feed.publish(&d),
                            Ok(None) => feed.forget(&id),
                            Err(e) => tracing::warn!(error = %e, "postgres: cannot read a changed dimension"),
                        }
                    }
                    // The connection dropped: notifications in the gap are lost
                    // (long-polls still time out with the current state).
                    Ok(None) => {
                        tracing::warn!("postgres: the LISTEN connection dropped; reconnecting");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "postgres: LISTEN failed; reconnecting");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        break;
                    }
                }
            }
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(unavailable)?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }
}
