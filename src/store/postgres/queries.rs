//! The change: read the row, run the pure transition, then one statement
//! that writes it only if the row is still as read (revision and time of
//! the last change), appends its history entry, trims the history to
//! retention and appends to `changes` (the feed of the other replicas):
//! two round trips, each safe behind a transaction pooler. When another
//! writer got in between, the change is tried again; after a few such
//! conflicts (a hot dimension) it runs in a transaction that locks the row
//! (`SELECT … FOR UPDATE`), which a pooler keeps on one server connection.

use super::sql::Sql;
use super::{PostgresStore, select_dimension, unavailable};
use crate::domain::history::to_ms;
use crate::domain::{Capacity, Dimension, DimensionId, HistoryEntry, Outcome, Retention, Source};
use crate::store::row::{self, DimensionRow};
use crate::store::{StoreError, Transition, UpdateError, record};
use sqlx::{Acquire, FromRow, Row};

/// Optimistic tries before the change takes the row lock.
const OPTIMISTIC_TRIES: usize = 3;
/// Tries with the row lock (a row created meanwhile by another replica).
const LOCKED_TRIES: usize = 3;

impl PostgresStore {
    /// See the module documentation. `seen`: the state the caller has
    /// just read, for the first try (then a PATCH is two round trips: the
    /// caller's read and the write).
    pub(super) async fn change(
        &self,
        id: &DimensionId,
        mut seen: Option<Option<Dimension>>,
        transition: &Transition<'_>,
        source: &Source,
    ) -> Result<Outcome, UpdateError> {
        for _ in 0..OPTIMISTIC_TRIES {
            let current = match seen.take() {
                Some(seen) => seen,
                None => self.reads.get(id).await?,
            };
            let mut outcome = transition(current.as_ref())?;
            if !outcome.must_write() {
                return Ok(outcome);
            }
            let entry = record(&mut outcome, source, self.clock.now());
            let sql = write_sql(current.as_ref(), &outcome.dimension, &entry, &self.retention)?;
            if written(&self.pool.run(sql.as_str()).await?) {
                return Ok(outcome);
            }
        }
        for _ in 0..LOCKED_TRIES {
            if let Some(outcome) = self.change_locked(id, transition, source).await? {
                return Ok(outcome);
            }
        }
        Err(StoreError::Unavailable(format!("postgres: {id:?} kept changing under concurrent writers")).into())
    }

    /// One try under the row lock; None when the row was to be created but
    /// another replica created it first.
    async fn change_locked(
        &self,
        id: &DimensionId,
        transition: &Transition<'_>,
        source: &Source,
    ) -> Result<Option<Outcome>, UpdateError> {
        let mut conn = self.pool.conn().await?;
        // Dropping the transaction (error or cancellation) rolls it back.
        let mut tx = conn.begin().await.map_err(unavailable)?;
        let lock = Sql::new(select_dimension!("id = ")).text(id.as_str())?.sql(" FOR UPDATE");
        let rows = self.pool.run_on(&mut tx, lock.as_str()).await?;
        let current = match rows.first() {
            Some(r) => Some(DimensionRow::from_row(r).map_err(unavailable)?.into_dimension("postgres")?),
            None => None,
        };
        let mut outcome = transition(current.as_ref())?;
        if outcome.must_write() {
            let entry = record(&mut outcome, source, self.clock.now());
            let sql = write_sql(current.as_ref(), &outcome.dimension, &entry, &self.retention)?;
            if !written(&self.pool.run_on(&mut tx, sql.as_str()).await?) {
                return Ok(None);
            }
            tx.commit().await.map_err(unavailable)?;
        }
        Ok(Some(outcome))
    }

    /// Removes the dimension and its history, and tells the other replicas.
    pub(super) async fn remove(&self, id: &DimensionId) -> Result<bool, StoreError> {
        let sql = Sql::new("WITH d AS (DELETE FROM dimensions WHERE id = ")
            .text(id.as_str())?
            .sql(" RETURNING id), h AS (DELETE FROM history WHERE dimension_id = ")
            .text(id.as_str())?
            .sql("), c AS (INSERT INTO changes (dimension_id) SELECT id FROM d) SELECT count(*) AS written FROM d");
        Ok(written(&self.pool.run(sql.as_str()).await?))
    }
}

/// True when the statement's `written` column counts a row.
fn written(rows: &[sqlx::postgres::PgRow]) -> bool {
    rows.iter().any(|r| r.try_get::<i64, _>("written").is_ok_and(|n| n > 0))
}

/// Every column of `d`'s row but `id`, with its value as a literal.
fn columns(d: &Dimension) -> Result<[(&'static str, String); 12], StoreError> {
    let lit = |sql: Sql| sql.as_str().to_owned();
    Ok([
        ("revision", lit(Sql::default().int(row::revision(d)?))),
        ("version", lit(Sql::default().text(&d.version)?)),
        ("resource_name", lit(Sql::default().text(&d.resource_name)?)),
        ("dimension_name", lit(Sql::default().text(&d.dimension_name)?)),
        ("desired_capacity", lit(Sql::default().float(d.desired_capacity.get())?)),
        ("actual_capacity", lit(Sql::default().float(d.actual_capacity.get())?)),
        ("scaling_status", lit(Sql::default().text(d.scaling_status.as_str())?)),
        ("failure_reason", lit(Sql::default().opt_text(d.failure_reason.as_deref())?)),
        ("status_since", lit(Sql::default().int(row::status_since(d)))),
        ("min_capacity", lit(Sql::default().opt_float(d.min_capacity.map(Capacity::get))?)),
        ("max_capacity", lit(Sql::default().opt_float(d.max_capacity.map(Capacity::get))?)),
        ("changed_at", lit(Sql::default().int(row::changed_at(d)))),
    ])
}

/// The one statement of a change: `d` written over `current` (None: a new
/// row, unless one appeared meanwhile), with `entry` and the trim.
fn write_sql(
    current: Option<&Dimension>,
    d: &Dimension,
    entry: &HistoryEntry,
    retention: &Retention,
) -> Result<Sql, StoreError> {
    let id = d.id().as_str();
    let columns = columns(d)?;
    let mut sql = match current {
        None => {
            let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
            let values: Vec<&str> = columns.iter().map(|(_, value)| value.as_str()).collect();
            Sql::new(&format!("WITH w AS (INSERT INTO dimensions (id, {}) VALUES (", names.join(", ")))
                .text(id)?
                .sql(&format!(", {}) ON CONFLICT (id) DO NOTHING RETURNING id)", values.join(", ")))
        }
        Some(old) => {
            let set: Vec<String> = columns.iter().map(|(name, value)| format!("{name} = {value}")).collect();
            Sql::new(&format!("WITH w AS (UPDATE dimensions SET {}, updated_at = now() WHERE id = ", set.join(", ")))
                .text(id)?
                .sql(" AND revision = ")
                .int(row::revision(old)?)
                .sql(" AND changed_at = ")
                .int(row::changed_at(old))
                .sql(" RETURNING id)")
        }
    };
    let history = row::signed(entry.revision);
    sql = sql
        .sql(", h AS (INSERT INTO history (dimension_id, revision, at, created, method, client, request_id, changes) SELECT id, ")
        .int(history)
        .sql(", ")
        .int(entry.time_ms())
        .sql(", ")
        .bool(entry.created)
        .sql(", ")
        .text(&entry.source.method)?
        .sql(", ")
        .opt_text(entry.source.client.as_deref())?
        .sql(", ")
        .opt_text(entry.source.request_id.as_deref())?
        .sql(", ")
        .text(&row::changes_json(entry)?)?
        .sql(
            " FROM w ON CONFLICT (dimension_id, revision) DO UPDATE SET at = excluded.at, created = excluded.created, \
             method = excluded.method, client = excluded.client, request_id = excluded.request_id, \
             changes = excluded.changes), t AS (DELETE FROM history WHERE dimension_id = ",
        )
        .text(id)?
        .sql(" AND revision <> ")
        .int(history)
        .sql(" AND (revision <= ")
        .int(row::signed(retention.drop_through(entry.revision)))
        .sql(" OR at < ")
        .int(to_ms(retention.cutoff(entry.time)))
        .sql(") AND EXISTS (SELECT 1 FROM w)), c AS (INSERT INTO changes (dimension_id) SELECT id FROM w) \
              SELECT count(*) AS written FROM w");
    Ok(sql)
}
