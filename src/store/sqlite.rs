//! `sqlite:PATH` — sqlx with WAL and `synchronous=FULL` (a commit is on disk
//! before we answer 200). Migrations from `migrations/sqlite/` run at open.
//! Every change is one `BEGIN IMMEDIATE` transaction on a single writer
//! connection; reads use a separate read-only pool.

use super::row::{self, DimensionRow, HISTORY_COLUMNS, HistoryRow, select_dimension};
use super::{ListQuery, Store, StoreError, StoreOptions, Transition, UpdateError, record};
use crate::domain::history::to_ms;
use crate::domain::{Capacity, Dimension, DimensionId, HistoryEntry, HistoryQuery, Outcome, Retention, Source};
use async_trait::async_trait;
use sqlx::SqliteConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const SELECT: &str = select_dimension!("id = ?");

const UPSERT: &str = "INSERT INTO dimensions (id, revision, version, resource_name, dimension_name, \
    desired_capacity, actual_capacity, scaling_status, failure_reason, status_since, min_capacity, max_capacity, \
    changed_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) \
    ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, version = excluded.version, \
    resource_name = excluded.resource_name, dimension_name = excluded.dimension_name, \
    desired_capacity = excluded.desired_capacity, actual_capacity = excluded.actual_capacity, \
    scaling_status = excluded.scaling_status, failure_reason = excluded.failure_reason, \
    status_since = excluded.status_since, min_capacity = excluded.min_capacity, \
    max_capacity = excluded.max_capacity, changed_at = excluded.changed_at, updated_at = excluded.updated_at";

const INSERT_HISTORY: &str = "INSERT INTO history (dimension_id, revision, at, created, method, client, \
    request_id, changes) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dimension_id, revision) DO UPDATE SET \
    at = excluded.at, created = excluded.created, method = excluded.method, client = excluded.client, \
    request_id = excluded.request_id, changes = excluded.changes";

const TRIM_HISTORY: &str = "DELETE FROM history WHERE dimension_id = ? AND (revision <= ? OR at < ?)";

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    retention: Retention,
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

async fn fetch(conn: &mut SqliteConnection, id: &DimensionId) -> Result<Option<Dimension>, StoreError> {
    let row =
        sqlx::query_as::<_, DimensionRow>(SELECT).bind(id.as_str()).fetch_optional(conn).await.map_err(unavailable)?;
    row.map(|r| r.into_dimension("sqlite")).transpose()
}

async fn write(conn: &mut SqliteConnection, d: &Dimension) -> Result<(), StoreError> {
    let revision = row::revision(d)?;
    sqlx::query(UPSERT)
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
        .bind(row::changed_at(d))
        .execute(conn)
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// Appends `entry` to the dimension's history and trims it to `retention`.
async fn write_history(
    conn: &mut SqliteConnection,
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

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    ///
    /// # Errors
    /// `Open` naming the path and the cause.
    pub async fn open(path: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        if path.is_empty() {
            return Err(StoreError::Open("store: sqlite: needs a path, e.g. sqlite:./data/crest.db".into()));
        }
        let open_err = |e: &dyn std::fmt::Display| StoreError::Open(format!("store: cannot open sqlite:{path}: {e}"));
        if let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| open_err(&e))?;
        }
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(|e| open_err(&e))?;
        MIGRATOR.run(&writer).await.map_err(|e| open_err(&e))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.read_only(true))
            .await
            .map_err(|e| open_err(&e))?;
        Ok(Self { writer, reader, retention: options.retention })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, id: &DimensionId) -> Result<Option<Dimension>, StoreError> {
        let mut conn = self.reader.acquire().await.map_err(unavailable)?;
        fetch(&mut conn, id).await
    }

    async fn update(
        &self,
        id: &DimensionId,
        transition: &Transition<'_>,
        source: &Source,
    ) -> Result<Outcome, UpdateError> {
        // Dropping the transaction (error or cancellation) rolls it back.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(unavailable)?;
        let current = fetch(&mut tx, id).await?;
        let mut outcome = transition(current.as_ref())?;
        if outcome.must_write() {
            let entry = record(&mut outcome, source);
            write(&mut tx, &outcome.dimension).await?;
            write_history(&mut tx, id, &entry, &self.retention).await?;
            tx.commit().await.map_err(unavailable)?;
        }
        Ok(outcome)
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Dimension>, StoreError> {
        const LIST: &str =
            select_dimension!("id > ? AND scaling_status = coalesce(?, scaling_status) ORDER BY id LIMIT ?");
        let rows = sqlx::query_as::<_, DimensionRow>(LIST)
            .bind(query.after.as_ref().map_or("", |a| a.as_str()))
            .bind(query.status.map(|s| s.as_str()))
            .bind(row::signed(query.limit))
            .fetch_all(&self.reader)
            .await
            .map_err(unavailable)?;
        rows.into_iter().map(|r| r.into_dimension("sqlite")).collect()
    }

    async fn delete(&self, id: &DimensionId) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(unavailable)?;
        let gone = sqlx::query("DELETE FROM dimensions WHERE id = ?")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?
            .rows_affected();
        sqlx::query("DELETE FROM history WHERE dimension_id = ?")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(gone > 0)
    }

    async fn history(&self, id: &DimensionId, query: HistoryQuery) -> Result<Vec<HistoryEntry>, StoreError> {
        let sql = format!(
            "SELECT {HISTORY_COLUMNS} FROM history WHERE dimension_id = ? AND revision < ? AND at >= ? \
             ORDER BY revision DESC LIMIT ?"
        );
        let rows = sqlx::query_as::<_, HistoryRow>(&sql)
            .bind(id.as_str())
            .bind(query.before.map_or(i64::MAX, row::signed))
            .bind(to_ms(self.retention.cutoff(std::time::SystemTime::now())))
            .bind(row::signed(query.limit))
            .fetch_all(&self.reader)
            .await
            .map_err(unavailable)?;
        rows.into_iter().map(|r| r.into_entry("sqlite")).collect()
    }

    async fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT value FROM secrets WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.reader)
            .await
            .map_err(unavailable)
    }

    async fn put_secret(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO secrets (name, value, updated_at) VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(value)
        .execute(&self.writer)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await.map_err(unavailable)?;
        Ok(())
    }

    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }
}
