//! The change transaction: `SELECT … FOR UPDATE` on the row, the pure
//! transition, the row's insert or update, its history entry (trimmed to
//! retention) and the NOTIFY to the other replicas, all in one commit.

use super::{CHANNEL, PostgresStore, unavailable};
use crate::domain::history::to_ms;
use crate::domain::{Capacity, Dimension, DimensionId, HistoryEntry, Outcome, Retention, Source};
use crate::store::row::{self, DimensionRow, select_dimension};
use crate::store::{StoreError, Transition, UpdateError, record};
use sqlx::PgConnection;

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

impl PostgresStore {
    /// One attempt at a change; None when the row was to be created but
    /// another replica created it first (the caller runs it again).
    pub(super) async fn try_update(
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
            notify(&mut tx, id).await?;
            tx.commit().await.map_err(unavailable)?;
        }
        Ok(Some(outcome))
    }
}

/// Tells every replica's LISTEN that `id` changed, when the transaction commits.
pub(super) async fn notify(conn: &mut PgConnection, id: &DimensionId) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(id.as_str()).execute(conn).await.map_err(unavailable)?;
    Ok(())
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
