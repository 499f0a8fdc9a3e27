//! Registration (`PUT /v1/scalableTargetDimensions/{id}`): metadata, bounds
//! and capacities set by an operator, as a pure function like the lifecycle.

use super::change::{Outcome, TransitionError, check_bounds, diff};
use super::dimension::{Capacity, Defaults, Dimension, ScalingStatus};
use super::id::DimensionId;

/// What a registration does to one bound on desiredCapacity.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Bound {
    /// Not given: keep the bound the dimension has (none for a new one).
    #[default]
    Keep,
    /// Given as `null`: remove the bound.
    Clear,
    /// Given as a number: the new bound.
    Set(Capacity),
}

impl Bound {
    /// The bound after this registration, from the one the dimension has.
    pub fn apply(self, current: Option<Capacity>) -> Option<Capacity> {
        match self {
            Self::Keep => current,
            Self::Clear => None,
            Self::Set(c) => Some(c),
        }
    }
}

impl From<Option<Option<Capacity>>> for Bound {
    /// `None`: the field was absent; `Some(None)`: it was `null`.
    fn from(field: Option<Option<Capacity>>) -> Self {
        match field {
            None => Self::Keep,
            Some(None) => Self::Clear,
            Some(Some(c)) => Self::Set(c),
        }
    }
}

/// What `PUT /v1/scalableTargetDimensions/{id}` sets: metadata, bounds and
/// (optionally) capacities. Absent fields keep their value (or the default
/// for a new dimension); a bound can also be cleared ([`Bound`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registration {
    pub version: Option<String>,
    pub resource_name: Option<String>,
    pub dimension_name: Option<String>,
    pub desired_capacity: Option<Capacity>,
    pub actual_capacity: Option<Capacity>,
    pub min_capacity: Bound,
    pub max_capacity: Bound,
}

/// Registers (creates or updates) a dimension. A changed desiredCapacity
/// starts a new scaling activity (Pending), as a PATCH does.
///
/// # Errors
/// `BadBounds` when the resulting minCapacity is above the resulting
/// maxCapacity (a new one or one kept), or `OutOfBounds` when the (new or
/// kept) desiredCapacity is outside the resulting bounds.
pub fn register(
    current: Option<&Dimension>,
    id: &DimensionId,
    reg: &Registration,
    defaults: &Defaults,
) -> Result<Outcome, TransitionError> {
    let (old, created) = match current {
        Some(d) => (d.clone(), false),
        None => (Dimension::new(id.clone(), defaults), true),
    };
    let mut new = old.clone();
    new.min_capacity = reg.min_capacity.apply(old.min_capacity);
    new.max_capacity = reg.max_capacity.apply(old.max_capacity);
    if let (Some(min), Some(max)) = (new.min_capacity, new.max_capacity)
        && min > max
    {
        return Err(TransitionError::BadBounds(format!("minCapacity {min} is above maxCapacity {max}")));
    }
    if let Some(v) = &reg.version {
        new.version = v.as_str().into();
    }
    if let Some(v) = &reg.resource_name {
        new.resource_name = v.as_str().into();
    }
    if let Some(v) = &reg.dimension_name {
        new.dimension_name = v.as_str().into();
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(v: f64) -> Capacity {
        Capacity::new(v).unwrap()
    }

    /// "web" at desiredCapacity 2.0 with bounds [1.0, 10.0], as a first PUT leaves it.
    fn bounded() -> Dimension {
        let mut d = Dimension::new(DimensionId::parse("web").unwrap(), &Defaults::default());
        (d.desired_capacity, d.min_capacity, d.max_capacity, d.revision) =
            (cap(2.0), Some(cap(1.0)), Some(cap(10.0)), 1);
        d
    }

    fn put(d: Option<&Dimension>, reg: &Registration) -> Result<Outcome, TransitionError> {
        register(d, &DimensionId::parse("web").unwrap(), reg, &Defaults::default())
    }

    #[test]
    fn bounds_a_put_does_not_name_are_kept() {
        let d = bounded();
        let out = put(Some(&d), &Registration { version: Some("v2".into()), ..Registration::default() }).unwrap();
        assert_eq!((out.dimension.min_capacity, out.dimension.max_capacity), (Some(cap(1.0)), Some(cap(10.0))));
        assert_eq!(out.changes.iter().map(|c| c.field).collect::<Vec<_>>(), ["version"]);
        // So a desiredCapacity outside them is still refused.
        let err =
            put(Some(&out.dimension), &Registration { desired_capacity: Some(cap(50.0)), ..Registration::default() });
        assert_eq!(
            err.map_err(|e| e.to_string()),
            Err("desiredCapacity 50.0 is above maxCapacity 10.0 of this dimension; send a value from 1.0 to 10.0"
                .into())
        );
    }

    #[test]
    fn null_clears_a_bound_and_a_number_sets_it() {
        let d = bounded();
        let reg = |min, max| Registration { min_capacity: min, max_capacity: max, ..Registration::default() };
        let bounds = |out: Outcome| (out.dimension.min_capacity, out.dimension.max_capacity);
        let cleared = put(Some(&d), &reg(Bound::Keep, Bound::Clear)).unwrap();
        assert_eq!(cleared.changes.iter().map(|c| c.to_string()).collect::<Vec<_>>(), ["maxCapacity: 10.0 -> null"]);
        assert_eq!(bounds(cleared), (Some(cap(1.0)), None));
        assert_eq!(bounds(put(Some(&d), &reg(Bound::Clear, Bound::Set(cap(20.0)))).unwrap()), (None, Some(cap(20.0))));
        // Clearing what is not there changes nothing (no new revision).
        let mut bare = d.clone();
        (bare.min_capacity, bare.max_capacity) = (None, None);
        let same = put(Some(&bare), &reg(Bound::Clear, Bound::Clear)).unwrap();
        assert!(!same.must_write() && same.dimension.revision == 1, "{same:?}");
        // A new dimension: nothing to keep, so no bounds.
        assert_eq!(bounds(put(None, &reg(Bound::Keep, Bound::Clear)).unwrap()), (None, None));
    }

    #[test]
    fn the_resulting_bounds_are_checked_with_the_ones_kept() {
        let d = bounded();
        let reg = |min, max| Registration { min_capacity: min, max_capacity: max, ..Registration::default() };
        let err = |r: Registration| put(Some(&d), &r).map_err(|e| e.to_string()).err();
        // A new minimum above the kept maximum, a new maximum below the kept minimum.
        let above = "minCapacity 20.0 is above maxCapacity 10.0".to_owned();
        assert_eq!(err(reg(Bound::Set(cap(20.0)), Bound::Keep)), Some(above));
        let below = "minCapacity 1.0 is above maxCapacity 0.5".to_owned();
        assert_eq!(err(reg(Bound::Keep, Bound::Set(cap(0.5)))), Some(below));
        // Both given: checked together, whatever was stored.
        assert_eq!(
            err(reg(Bound::Set(cap(3.0)), Bound::Set(cap(2.0)))),
            Some("minCapacity 3.0 is above maxCapacity 2.0".into())
        );
        // The kept desiredCapacity (2.0) must fit the new bounds.
        let text = "desiredCapacity 2.0 is above maxCapacity 1.5 of this dimension; send a value from 1.0 to 1.5";
        assert_eq!(err(reg(Bound::Keep, Bound::Set(cap(1.5)))), Some(text.into()));
        let text = "desiredCapacity 2.0 is below minCapacity 5.0 of this dimension; send a value from 5.0 to any";
        assert_eq!(err(reg(Bound::Set(cap(5.0)), Bound::Clear)), Some(text.into()));
        // And a new desiredCapacity must fit the kept bounds.
        let r = Registration { desired_capacity: Some(cap(0.5)), ..Registration::default() };
        assert!(err(r).is_some_and(|e| e.contains("below minCapacity 1.0")));
        assert_eq!(err(reg(Bound::Set(cap(2.0)), Bound::Set(cap(2.0)))), None);
    }
}
