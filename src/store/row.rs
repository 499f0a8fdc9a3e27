//! The `dimensions` table row, shared by the SQLite and Postgres stores:
//! read with `query_as`, then checked into a `Dimension` (a row that breaks
//! an invariant is `Corrupt`, never trusted).

use super::StoreError;
use crate::domain::history::{from_ms, to_ms};
use crate::domain::{Capacity, Dimension, DimensionId, FieldChange, HistoryEntry, ScalingStatus, Source, Text};

/// `SELECT <every DimensionRow column> FROM dimensions WHERE <cond>`.
macro_rules! select_dimension {
    ($cond:literal) => {
        concat!(
            "SELECT id, revision, version, resource_name, dimension_name, desired_capacity, ",
            "actual_capacity, scaling_status, failure_reason, status_since, min_capacity, max_capacity, changed_at FROM dimensions WHERE ",
            $cond
        )
    };
}
pub(crate) use select_dimension;

#[derive(sqlx::FromRow, Clone)]
pub struct DimensionRow {
    id: String,
    revision: i64,
    #[sqlx(try_from = "String")]
    version: Text,
    #[sqlx(try_from = "String")]
    resource_name: Text,
    #[sqlx(try_from = "String")]
    dimension_name: Text,
    desired_capacity: f64,
    actual_capacity: f64,
    scaling_status: String,
    failure_reason: Option<String>,
    status_since: i64,
    min_capacity: Option<f64>,
    max_capacity: Option<f64>,
    changed_at: i64,
    /// The id already checked, when the row was read by it (`from_sqlite_for`).
    #[sqlx(skip)]
    checked: Option<DimensionId>,
}

impl DimensionRow {
    pub fn id(&self) -> &str {
        self.checked.as_ref().map_or(&self.id, DimensionId::as_str)
    }

    /// Reads a row of `select_dimension!` (columns in that order) through rusqlite.
    ///
    /// # Errors
    /// A column of the wrong type.
    pub fn from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Self::columns(r, r.get(0)?)
    }

    /// Reads a row of `select_dimension!` found by the key `id`: its id
    /// column is compared with `id`, not decoded and checked again.
    ///
    /// # Errors
    /// A column of the wrong type.
    pub fn from_sqlite_for(r: &rusqlite::Row<'_>, id: &DimensionId) -> rusqlite::Result<Self> {
        let found = r.get_ref(0)?.as_str()?;
        if found != id.as_str() {
            // Not the key asked for: read as it is, and checked as any row.
            return Self::columns(r, found.to_owned());
        }
        let mut row = Self::columns(r, String::new())?;
        row.checked = Some(id.clone());
        Ok(row)
    }

    fn columns(r: &rusqlite::Row<'_>, id: String) -> rusqlite::Result<Self> {
        Ok(Self {
            id,
            revision: r.get(1)?,
            // Borrowed from SQLite's row and copied once, into the shared text.
            version: Text::from(r.get_ref(2)?.as_str()?),
            resource_name: Text::from(r.get_ref(3)?.as_str()?),
            dimension_name: Text::from(r.get_ref(4)?.as_str()?),
            desired_capacity: r.get(5)?,
            actual_capacity: r.get(6)?,
            scaling_status: r.get(7)?,
            failure_reason: r.get(8)?,
            status_since: r.get(9)?,
            min_capacity: r.get(10)?,
            max_capacity: r.get(11)?,
            changed_at: r.get(12)?,
            checked: None,
        })
    }

    /// # Errors
    /// `Corrupt`, naming the backend, the row and the broken rule.
    pub fn into_dimension(self, backend: &str) -> Result<Dimension, StoreError> {
        let name = self.checked.as_ref().map_or(self.id.as_str(), DimensionId::as_str);
        let corrupt = |what: String| StoreError::Corrupt(format!("{backend} row {name:?}: {what}"));
        let capacity = |col: &str, v: f64| Capacity::new(v).map_err(|v| corrupt(format!("{col} is {v}")));
        let id = match &self.checked {
            Some(id) => id.clone(),
            None => DimensionId::stored(&self.id).map_err(|e| corrupt(e.to_string()))?,
        };
        Ok(Dimension {
            scalable_target_dimension_id: id,
            desired_capacity: capacity("desired_capacity", self.desired_capacity)?,
            actual_capacity: capacity("actual_capacity", self.actual_capacity)?,
            scaling_status: ScalingStatus::parse(&self.scaling_status)
                .ok_or_else(|| corrupt(format!("scaling_status is {:?}", self.scaling_status)))?,
            revision: u64::try_from(self.revision).map_err(|_| corrupt("negative revision".into()))?,
            version: self.version,
            resource_name: self.resource_name,
            dimension_name: self.dimension_name,
            failure_reason: self.failure_reason,
            status_since: (self.status_since > 0).then(|| from_ms(self.status_since)),
            min_capacity: self.min_capacity.map(|v| capacity("min_capacity", v)).transpose()?,
            max_capacity: self.max_capacity.map(|v| capacity("max_capacity", v)).transpose()?,
            changed_at: (self.changed_at > 0).then(|| from_ms(self.changed_at)),
        })
    }
}

/// The revision as the signed column type.
///
/// # Errors
/// `Corrupt` past `i64::MAX`.
pub fn revision(d: &Dimension) -> Result<i64, StoreError> {
    i64::try_from(d.revision).map_err(|_| StoreError::Corrupt(format!("{:?}: revision overflow", d.id())))
}

/// `status_since` as the column value (0: unknown).
pub fn status_since(d: &Dimension) -> i64 {
    d.status_since.map_or(0, to_ms)
}

/// `changed_at` as the column value (0: unknown).
pub fn changed_at(d: &Dimension) -> i64 {
    d.changed_at.map_or(0, to_ms)
}

/// The columns of a `history` row, in the order every history query uses
/// (a macro, for statements built with `concat!`).
macro_rules! history_columns {
    () => {
        "revision, at, created, method, client, request_id, changes"
    };
}
pub(crate) use history_columns;
pub const HISTORY_COLUMNS: &str = history_columns!();

/// A `history` row, checked into a `HistoryEntry` like `DimensionRow`.
#[derive(sqlx::FromRow)]
pub struct HistoryRow {
    revision: i64,
    at: i64,
    created: bool,
    method: String,
    client: Option<String>,
    request_id: Option<String>,
    changes: String,
}

impl HistoryRow {
    /// Reads a row selected with `HISTORY_COLUMNS` through rusqlite.
    ///
    /// # Errors
    /// A column of the wrong type.
    pub fn from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            revision: r.get(0)?,
            at: r.get(1)?,
            created: r.get(2)?,
            method: r.get(3)?,
            client: r.get(4)?,
            request_id: r.get(5)?,
            changes: r.get(6)?,
        })
    }

    /// # Errors
    /// `Corrupt`, naming the backend, the revision and the broken rule.
    pub fn into_entry(self, backend: &str) -> Result<HistoryEntry, StoreError> {
        let corrupt =
            |what: String| StoreError::Corrupt(format!("{backend} history revision {}: {what}", self.revision));
        let changes: Vec<FieldChange> =
            serde_json::from_str(&self.changes).map_err(|e| corrupt(format!("changes: {e}")))?;
        Ok(HistoryEntry {
            revision: u64::try_from(self.revision).map_err(|_| corrupt("negative revision".into()))?,
            time: from_ms(self.at),
            created: self.created,
            source: Source { method: self.method, client: self.client, request_id: self.request_id },
            changes,
        })
    }
}

/// The `changes` column: the entry's changes as a JSON array.
///
/// # Errors
/// `Corrupt` if they cannot be encoded (they always can).
pub fn changes_json(entry: &HistoryEntry) -> Result<String, StoreError> {
    serde_json::to_string(&entry.changes).map_err(|e| StoreError::Corrupt(format!("cannot encode changes: {e}")))
}

/// A revision or count as the signed column type, saturating.
pub fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
