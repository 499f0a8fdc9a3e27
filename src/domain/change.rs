//! What a change is: the outcome of an event (the new dimension and the
//! fields that changed), the preconditions and bounds it must meet, and why
//! it can be refused. Shared by the lifecycle (GET/PATCH) and registration (PUT).

use super::dimension::{Capacity, Dimension, ScalingStatus};
use super::id::DimensionId;
use serde_json::Value;
use std::fmt;

/// Why an event cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("no scalable target dimension {0:?}; crest runs in strict mode, so dimensions must be registered first")]
    NotFound(DimensionId),
    #[error(
        "no scalable target dimension {0:?}; a caller with role read cannot create dimensions: the first GET or \
         PATCH of a caller with role aas, scaler or admin creates it (or a PUT, role admin)"
    )]
    NotCreated(DimensionId),
    #[error(
        "failureReason is only kept with scalingStatus Failed and the dimension is {0}; send \"scalingStatus\": \"Failed\" with it"
    )]
    ReasonWithoutFailed(ScalingStatus),
    #[error(
        "If-Match {expected} does not match: the dimension is at revision {actual}; GET it (the ETag header) and decide again"
    )]
    Stale { expected: Precondition, actual: u64 },
    /// desiredCapacity outside the dimension's bounds (the text says which).
    #[error("{0}")]
    OutOfBounds(String),
    /// minCapacity above maxCapacity (the text says both).
    #[error("{0}")]
    BadBounds(String),
    /// A demo-mode PATCH carrying a scaler's fields (named, comma-separated).
    #[error(
        "crest runs in demo mode, where it simulates the scaler itself: a PATCH may only set desiredCapacity (what \
         AAS sends), not {0}; to report progress from your own scaler, start crest in production mode (--mode \
         production, CREST_MODE=production or mode = \"production\" in the config file)"
    )]
    ScalerFieldsInDemo(String),
}

/// Checks `desired` against the dimension's bounds.
///
/// # Errors
/// `OutOfBounds` naming the bound it breaks.
pub fn check_bounds(desired: Capacity, min: Option<Capacity>, max: Option<Capacity>) -> Result<(), TransitionError> {
    let show = |b: Option<Capacity>, none: &str| b.map_or_else(|| none.to_owned(), |c| c.to_string());
    let range = format!("send a value from {} to {}", show(min, "0"), show(max, "any"));
    if let Some(m) = min.filter(|m| desired < *m) {
        let text = format!("desiredCapacity {desired} is below minCapacity {m} of this dimension; {range}");
        return Err(TransitionError::OutOfBounds(text));
    }
    if let Some(m) = max.filter(|m| desired > *m) {
        let text = format!("desiredCapacity {desired} is above maxCapacity {m} of this dimension; {range}");
        return Err(TransitionError::OutOfBounds(text));
    }
    Ok(())
}

/// What an `If-Match` header asks for (compare-and-swap on the revision).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// `If-Match: *`: the dimension must exist.
    Exists,
    /// `If-Match: "N"`: the dimension must be at revision N.
    Revision(u64),
}

impl fmt::Display for Precondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exists => f.write_str("*"),
            Self::Revision(n) => write!(f, "\"{n}\""),
        }
    }
}

/// Checks `precondition` against the stored dimension (revision 0 when absent).
///
/// # Errors
/// `Stale` when it does not hold.
pub fn check(current: Option<&Dimension>, precondition: Option<Precondition>) -> Result<(), TransitionError> {
    let actual = current.map_or(0, |d| d.revision);
    match precondition {
        None => Ok(()),
        Some(Precondition::Exists) if current.is_some() => Ok(()),
        Some(Precondition::Revision(n)) if n == actual => Ok(()),
        Some(expected) => Err(TransitionError::Stale { expected, actual }),
    }
}

/// One changed field, for logs and history. Values are JSON, so strings are
/// quoted and escaped (no log injection).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub field: &'static str,
    pub old: Value,
    pub new: Value,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Value, f: &mut fmt::Formatter<'_>| match (self.field, v) {
            ("scalingStatus", Value::String(s)) => f.write_str(s),
            _ => write!(f, "{v}"),
        };
        write!(f, "{}: ", self.field)?;
        show(&self.old, f)?;
        f.write_str(" -> ")?;
        show(&self.new, f)
    }
}

/// Formats changes as the reference log did: `a: 1.0 -> 2.0  b: x -> y`.
pub struct Changes<'a>(pub &'a [Change]);

impl fmt::Display for Changes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("  ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// The result of an event: the dimension to answer with, what changed, and
/// whether the store must write it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub dimension: Dimension,
    pub changes: Vec<Change>,
    pub created: bool,
}

impl Outcome {
    /// True when the store must persist `dimension`.
    pub fn must_write(&self) -> bool {
        self.created || !self.changes.is_empty()
    }
}

/// The fields that differ between `old` and `new`, in contract order.
pub fn diff(old: &Dimension, new: &Dimension) -> Vec<Change> {
    // Compared first, turned into JSON values only when they differ: a GET
    // that changes nothing allocates nothing here.
    fn push<T: PartialEq + Clone + Into<Value>>(out: &mut Vec<Change>, field: &'static str, o: &T, n: &T) {
        if o != n {
            out.push(Change { field, old: o.clone().into(), new: n.clone().into() });
        }
    }
    let bound = |c: Option<Capacity>| c.map(Capacity::get);
    let mut out = Vec::new();
    push(&mut out, "version", &old.version, &new.version);
    push(&mut out, "resourceName", &old.resource_name, &new.resource_name);
    push(&mut out, "dimensionName", &old.dimension_name, &new.dimension_name);
    push(&mut out, "desiredCapacity", &old.desired_capacity.get(), &new.desired_capacity.get());
    push(&mut out, "actualCapacity", &old.actual_capacity.get(), &new.actual_capacity.get());
    push(&mut out, "scalingStatus", &old.scaling_status.as_str(), &new.scaling_status.as_str());
    push(&mut out, "failureReason", &old.failure_reason, &new.failure_reason);
    push(&mut out, "minCapacity", &bound(old.min_capacity), &bound(new.min_capacity));
    push(&mut out, "maxCapacity", &bound(old.max_capacity), &bound(new.max_capacity));
    out
}
