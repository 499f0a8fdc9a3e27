//! The `dimensions` table row, shared by the SQLite and Postgres stores:
//! read with `query_as`, then checked into a `Dimension` (a row that breaks
//! an invariant is `Corrupt`, never trusted).

use super::StoreError;
use crate::domain::{Capacity, Dimension, DimensionId, ScalingStatus};

/// `SELECT <every DimensionRow column> FROM dimensions WHERE <cond>`.
macro_rules! select_dimension {
    ($cond:literal) => {
        concat!(
            "SELECT id, revision, version, resource_name, dimension_name, desired_capacity, ",
            "actual_capacity, scaling_status, failure_reason FROM dimensions WHERE ",
            $cond
        )
    };
}
pub(crate) use select_dimension;

#[derive(sqlx::FromRow)]
pub struct DimensionRow {
    id: String,
    revision: i64,
    version: String,
    resource_name: String,
    dimension_name: String,
    desired_capacity: f64,
    actual_capacity: f64,
    scaling_status: String,
    failure_reason: Option<String>,
}

impl DimensionRow {
    /// # Errors
    /// `Corrupt`, naming the backend, the row and the broken rule.
    pub fn into_dimension(self, backend: &str) -> Result<Dimension, StoreError> {
        let corrupt = |what: String| StoreError::Corrupt(format!("{backend} row {:?}: {what}", self.id));
        let capacity = |col: &str, v: f64| Capacity::new(v).map_err(|v| corrupt(format!("{col} is {v}")));
        Ok(Dimension {
            scalable_target_dimension_id: DimensionId::parse(&self.id).map_err(|e| corrupt(e.to_string()))?,
            desired_capacity: capacity("desired_capacity", self.desired_capacity)?,
            actual_capacity: capacity("actual_capacity", self.actual_capacity)?,
            scaling_status: ScalingStatus::parse(&self.scaling_status)
                .ok_or_else(|| corrupt(format!("scaling_status is {:?}", self.scaling_status)))?,
            revision: u64::try_from(self.revision).map_err(|_| corrupt("negative revision".into()))?,
            version: self.version,
            resource_name: self.resource_name,
            dimension_name: self.dimension_name,
            failure_reason: self.failure_reason,
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
