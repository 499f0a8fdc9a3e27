//! `postgres://…` — several crest replicas on one PostgreSQL, directly or
//! behind a transaction pooler (PgBouncer, RDS Proxy). Nothing crest does
//! needs a session of its own: every statement is one simple-protocol
//! message with its values as literals (`sql`), timeouts are set inside each
//! transaction (`pool`), a change is a read and one conditional write
//! (`queries`), locks are lease rows (`lease`), migrations run in one
//! transaction under a transaction-level advisory lock (`migrate`), and the
//! changes of other replicas are polled (`feed`). Point reads are coalesced
//! (`batch`). Database trouble becomes `StoreError::Unavailable` within the
//! acquire or statement timeout, and the pool reconnects by itself. A
//! replica whose database cannot be reached at start starts unready and
//! becomes ready by itself (`ready`).

mod batch;
mod connect;
mod feed;
mod lease;
mod migrate;
mod pool;
mod queries;
mod ready;
mod sql;

use super::row::{self, DimensionRow, HISTORY_COLUMNS, HistoryRow, select_dimension};
use super::{ListQuery, NotReady, Store, StoreError, StoreLock, StoreOptions, Transition, UpdateError};
use crate::clock::Clock;
use crate::domain::history::to_ms;
use crate::domain::{Dimension, DimensionId, HistoryEntry, HistoryQuery, Outcome, Retention, Source};
use crate::metrics::Metrics;
use crate::watch::Feed;
use async_trait::async_trait;
use batch::Batchers;
use pool::Pool;
use ready::Readiness;
use sql::Sql;
use sqlx::{FromRow, Row};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct PostgresStore {
    pool: Arc<Pool>,
    retention: Retention,
    clock: Clock,
    /// Point reads waiting for a batch query, and the tasks answering them.
    reads: Batchers,
    /// How often the changes of other replicas are polled.
    poll_interval: Duration,
    readiness: Arc<Readiness>,
    /// Stops the background tasks (readiness retries, password file checks).
    stop: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

fn unavailable(e: sqlx::Error) -> StoreError {
    // sqlx errors carry no password (the URL is parsed into options first).
    StoreError::Unavailable(format!("postgres: {e}"))
}

impl PostgresStore {
    /// Makes the pool and applies the migrations. A database that cannot be
    /// reached (or refuses the login) does not stop the opening: the store
    /// starts unready (`readiness`) and keeps trying.
    ///
    /// # Errors
    /// `Open` for a URL or password file that cannot be used, or migrations
    /// that do not fit this binary; the URL in the message has no password.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let shown = super::redact_url(url);
        let pool = Arc::new(
            Pool::new(url, options).map_err(|e| StoreError::Open(format!("store: cannot open {shown}: {e}")))?,
        );
        let readiness = Arc::new(Readiness::default());
        let stop = CancellationToken::new();
        let mut tasks = Vec::new();
        if let Some(task) = ready::prepare(&pool, &shown, options.acquire_timeout, &readiness, &stop).await? {
            tasks.push(task);
        }
        if pool.has_password_file() {
            tasks.push(tokio::spawn(ready::watch_password(pool.clone(), stop.clone())));
        }
        let reads = Batchers::start(&pool);
        Ok(Self {
            pool,
            retention: options.retention,
            clock: options.clock.clone(),
            reads,
            poll_interval: options.poll_interval,
            readiness,
            stop,
            tasks: Mutex::new(tasks),
        })
    }

    fn is_ready(&self) -> bool {
        self.readiness.get().is_none()
    }

    /// Refuses at once while the store is not ready, naming why.
    fn usable(&self) -> Result<(), StoreError> {
        match self.readiness.get() {
            None => Ok(()),
            Some(not) => Err(StoreError::Unavailable(format!("postgres: not ready: {}", not.detail))),
        }
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn get(&self, id: &DimensionId) -> Result<Option<Dimension>, StoreError> {
        self.usable()?;
        self.reads.get(id).await
    }

    async fn update(
        &self,
        id: &DimensionId,
        transition: &Transition<'_>,
        source: &Source,
    ) -> Result<Outcome, UpdateError> {
        self.usable()?;
        self.change(id, None, transition, source).await
    }

    async fn update_seen(
        &self,
        id: &DimensionId,
        seen: Option<Dimension>,
        transition: &Transition<'_>,
        source: &Source,
    ) -> Result<Outcome, UpdateError> {
        self.usable()?;
        self.change(id, Some(seen), transition, source).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Dimension>, StoreError> {
        self.usable()?;
        let mut sql = Sql::new(select_dimension!("id > ")).text(query.after.as_ref().map_or("", |a| a.as_str()))?;
        if let Some(status) = query.status {
            sql = sql.sql(" AND scaling_status = ").text(status.as_str())?;
        }
        sql = sql.sql(" ORDER BY id LIMIT ").int(row::signed(query.limit));
        let rows = self.pool.run(sql.as_str()).await?;
        rows.iter()
            .map(|r| DimensionRow::from_row(r).map_err(unavailable).and_then(|d| d.into_dimension("postgres")))
            .collect()
    }

    /// Every replica's dimensions: a scan of the table, asked only on the
    /// rare path of a change that would create one.
    async fn count(&self) -> Result<u64, StoreError> {
        self.usable()?;
        let rows = self.pool.run("SELECT count(*) AS n FROM dimensions").await?;
        let n: i64 = rows.first().map_or(Ok(0), |r| r.try_get("n")).map_err(unavailable)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn delete(&self, id: &DimensionId) -> Result<bool, StoreError> {
        self.usable()?;
        self.remove(id).await
    }

    async fn history(&self, id: &DimensionId, query: HistoryQuery) -> Result<Vec<HistoryEntry>, StoreError> {
        self.usable()?;
        let sql = Sql::new(&format!("SELECT {HISTORY_COLUMNS} FROM history WHERE dimension_id = "))
            .text(id.as_str())?
            .sql(" AND revision < ")
            .int(query.before.map_or(i64::MAX, row::signed))
            .sql(" AND at >= ")
            .int(to_ms(self.retention.cutoff(self.clock.now())))
            .sql(" ORDER BY revision DESC LIMIT ")
            .int(row::signed(query.limit));
        let rows = self.pool.run(sql.as_str()).await?;
        rows.iter()
            .map(|r| HistoryRow::from_row(r).map_err(unavailable).and_then(|h| h.into_entry("postgres")))
            .collect()
    }

    async fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.usable()?;
        let sql = Sql::new("SELECT value FROM secrets WHERE name = ").text(name)?;
        let rows = self.pool.run(sql.as_str()).await?;
        rows.first().map(|r| r.try_get::<Vec<u8>, _>("value")).transpose().map_err(unavailable)
    }

    async fn put_secret(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.usable()?;
        let sql = Sql::new("INSERT INTO secrets (name, value) VALUES (")
            .text(name)?
            .sql(", ")
            .bytes(value)
            .sql(") ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = now()");
        self.pool.run(sql.as_str()).await?;
        Ok(())
    }

    /// A lease row (see `lease`): works behind a transaction pooler, and a
    /// holder that dies frees it when the lease expires.
    async fn try_lock(&self, name: &str) -> Result<Option<StoreLock>, StoreError> {
        self.usable()?;
        lease::try_lock(self, name).await
    }

    /// Polls the changes of other replicas into `feed` until `shutdown`
    /// (see `feed`).
    async fn follow(&self, feed: Arc<Feed>, shutdown: CancellationToken) {
        feed::follow(self, &feed, &shutdown).await;
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.usable()?;
        self.pool.run("SELECT 1").await?;
        Ok(())
    }

    fn readiness(&self) -> Option<NotReady> {
        self.readiness.get()
    }

    fn observe(&self, metrics: &Arc<Metrics>) {
        self.pool.attach(metrics);
    }

    /// Stops the background tasks and the read batchers (they finish the
    /// batch in flight), then closes the pool; reads after it are refused.
    async fn close(&self) {
        self.stop.cancel();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for task in tasks {
            let _ = task.await;
        }
        self.reads.close().await;
        self.pool.pool.close().await;
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }
}
