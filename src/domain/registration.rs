//! Registration (`PUT /v1/scalableTargetDimensions/{id}`): metadata, bounds
//! and capacities set by an operator, as a pure function like the lifecycle.

use super::change::{Outcome, TransitionError, check_bounds, diff};
use super::dimension::{Capacity, Defaults, Dimension, DimensionId, ScalingStatus};

/// What `PUT /v1/scalableTargetDimensions/{id}` sets: metadata, bounds and
/// (optionally) capacities. Absent fields keep their value (or the default
/// for a new dimension); bounds are replaced as given (absent = none).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registration {
    pub version: Option<String>,
    pub resource_name: Option<String>,
    pub dimension_name: Option<String>,
    pub desired_capacity: Option<Capacity>,
    pub actual_capacity: Option<Capacity>,
    pub min_capacity: Option<Capacity>,
    pub max_capacity: Option<Capacity>,
}

/// Registers (creates or updates) a dimension. A changed desiredCapacity
/// starts a new scaling activity (Pending), as a PATCH does.
///
/// # Errors
/// `BadBounds`, or `OutOfBounds` when the (new or kept) desiredCapacity is
/// outside the new bounds.
pub fn register(
    current: Option<&Dimension>,
    id: &DimensionId,
    reg: &Registration,
    defaults: &Defaults,
) -> Result<Outcome, TransitionError> {
    if let (Some(min), Some(max)) = (reg.min_capacity, reg.max_capacity)
        && min > max
    {
        return Err(TransitionError::BadBounds(format!("minCapacity {min} is above maxCapacity {max}")));
    }
    let (old, created) = match current {
        Some(d) => (d.clone(), false),
        None => (Dimension::new(id.clone(), defaults), true),
    };
    let mut new = old.clone();
    if let Some(v) = &reg.version {
        new.version.clone_from(v);
    }
    if let Some(v) = &reg.resource_name {
        new.resource_name.clone_from(v);
    }
    if let Some(v) = &reg.dimension_name {
        new.dimension_name.clone_from(v);
    }
    new.min_capacity = reg.min_capacity;
    new.max_capacity = reg.max_capacity;
    if let Some(actual) = reg.actual_capacity {
        new.actual_capacity = actual;
    }
    if let Some(desired) = reg.desired_capacity.filter(|d| *d != old.desired_capacity) {
        new.desired_capacity = desired;
        if !created {
            new.scaling_status = ScalingStatus::Pending;
            new.failure_reason = None;
        }
    }
    check_bounds(new.desired_capacity, new.min_capacity, new.max_capacity)?;
    let changes = diff(&old, &new);
    if created || !changes.is_empty() {
        new.revision = old.revision + 1;
    }
    Ok(Outcome { dimension: new, changes, created })
}
