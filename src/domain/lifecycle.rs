//! Pure transitions of a dimension in demo and production mode
//! (CONTRACT.md, "Modes"). `apply` takes the stored dimension (if any) and an
//! event and returns the new dimension with the list of changed fields.

use super::dimension::{Capacity, Defaults, Dimension, DimensionId, ScalingStatus};
use super::patch::Patch;
use serde_json::Value;
use std::fmt;

/// The reason a simulated failure reports.
pub const SIMULATED_FAILURE: &str = "simulated failure: crest runs in demo mode with simulate_failure on";

/// How a demo-mode GET advances a simulated scaling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DemoStyle {
    /// The reference's three steps: Pending -> InProgress -> Successful.
    Steps,
    /// actualCapacity moves toward desiredCapacity by `step` per GET.
    Gradual { step: Capacity },
    /// actualCapacity moves toward desiredCapacity at `rate` per second of
    /// wall time since the last stored change, however often it is polled.
    Timed { rate: Capacity },
}

/// How GET and PATCH change a dimension.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// GETs advance the simulated scaling; PATCH only sets desiredCapacity.
    Demo { simulate_failure: bool, style: DemoStyle },
    /// GET never changes state; the scaler reports progress by PATCH.
    Production,
}

/// What happened to a dimension.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    Get,
    Patch(&'a Patch),
}

/// The rules for dimensions that do not exist yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub mode: Mode,
    /// Unknown ids are 404 instead of being created on first touch.
    pub strict: bool,
    pub defaults: Defaults,
}

/// Why an event cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("no scalable target dimension {0:?}; crest runs in strict mode, so dimensions must be registered first")]
    NotFound(DimensionId),
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

/// Applies `event` to the stored dimension `current` (None: not stored yet).
/// When something changes, the revision goes up by one.
///
/// # Errors
/// `NotFound` in strict mode for an unknown id; `ReasonWithoutFailed` when a
/// production PATCH sets only a failureReason on a dimension that has not failed.
pub fn apply(
    current: Option<&Dimension>,
    id: &DimensionId,
    event: Event<'_>,
    policy: &Policy,
) -> Result<Outcome, TransitionError> {
    let (old, created) = match current {
        Some(d) => (d.clone(), false),
        None if policy.strict => return Err(TransitionError::NotFound(id.clone())),
        None => (Dimension::new(id.clone(), &policy.defaults), true),
    };
    let new = transition(&old, event, policy.mode)?;
    let changes = diff(&old, &new);
    let mut dimension = new;
    if created || !changes.is_empty() {
        dimension.revision = old.revision + 1;
    }
    Ok(Outcome { dimension, changes, created })
}

/// The new state of `d` after `event` in `mode`.
///
/// # Errors
/// See [`apply`].
pub fn transition(d: &Dimension, event: Event<'_>, mode: Mode) -> Result<Dimension, TransitionError> {
    let mut n = d.clone();
    match (mode, event) {
        (Mode::Production, Event::Get) => {}
        (Mode::Demo { simulate_failure, style: DemoStyle::Gradual { step } }, Event::Get) => {
            advance(d, &mut n, step.get(), simulate_failure);
        }
        (Mode::Demo { simulate_failure, style: DemoStyle::Timed { rate } }, Event::Get) => {
            // The clock is the one input outside the state: a retried
            // transition sees a slightly later time, and that run is stored.
            let elapsed = d
                .changed_at
                .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
                .map_or(0.0, |e| e.as_secs_f64());
            advance(d, &mut n, rate.get() * elapsed, simulate_failure);
        }
        (Mode::Demo { simulate_failure, style: DemoStyle::Steps }, Event::Get) => match d.scaling_status {
            ScalingStatus::Successful => {}
            ScalingStatus::Pending => n.scaling_status = ScalingStatus::InProgress,
            ScalingStatus::InProgress | ScalingStatus::Failed if simulate_failure => {
                n.scaling_status = ScalingStatus::Failed;
                if n.failure_reason.is_none() {
                    n.failure_reason = Some(SIMULATED_FAILURE.to_owned());
                }
            }
            ScalingStatus::InProgress | ScalingStatus::Failed => {
                n.scaling_status = ScalingStatus::Successful;
                n.actual_capacity = d.desired_capacity;
                n.failure_reason = None;
            }
        },
        (Mode::Demo { .. }, Event::Patch(p)) => {
            if let Some(desired) = p.desired_capacity.filter(|v| *v != d.desired_capacity) {
                check_bounds(desired, d.min_capacity, d.max_capacity)?;
                n.desired_capacity = desired;
                n.scaling_status = ScalingStatus::Pending;
                n.failure_reason = None;
            }
        }
        (Mode::Production, Event::Patch(p)) => {
            if let Some(actual) = p.actual_capacity {
                n.actual_capacity = actual;
            }
            if let Some(desired) = p.desired_capacity.filter(|v| *v != d.desired_capacity) {
                check_bounds(desired, d.min_capacity, d.max_capacity)?;
                // A new scaling activity: the body's status does not count.
                n.desired_capacity = desired;
                n.scaling_status = ScalingStatus::Pending;
                n.failure_reason = None;
                return Ok(n);
            }
            if let Some(status) = p.scaling_status {
                n.scaling_status = status;
                if status != ScalingStatus::Failed {
                    n.failure_reason = None;
                }
            }
            if let Some(reason) = &p.failure_reason {
                if n.scaling_status != ScalingStatus::Failed {
                    return Err(TransitionError::ReasonWithoutFailed(n.scaling_status));
                }
                n.failure_reason = Some(reason.clone());
            }
        }
    }
    Ok(n)
}

/// One gradual or timed demo step: actualCapacity moves by `by` toward
/// desiredCapacity; reaching it ends the activity (Successful, or Failed
/// with simulate_failure, actualCapacity then staying where it was).
fn advance(d: &Dimension, n: &mut Dimension, by: f64, simulate_failure: bool) {
    match d.scaling_status {
        ScalingStatus::Successful => return,
        ScalingStatus::Failed if simulate_failure => return,
        _ => {}
    }
    let (actual, target) = (d.actual_capacity.get(), d.desired_capacity.get());
    let moved = if actual < target { (actual + by).min(target) } else { (actual - by).max(target) };
    // Micro-units: no float noise such as 1.9999999 in the JSON.
    let moved = (moved * 1e6).round() / 1e6;
    if (moved - target).abs() < 1e-9 {
        if simulate_failure {
            n.scaling_status = ScalingStatus::Failed;
            if n.failure_reason.is_none() {
                n.failure_reason = Some(SIMULATED_FAILURE.to_owned());
            }
        } else {
            n.actual_capacity = d.desired_capacity;
            n.scaling_status = ScalingStatus::Successful;
            n.failure_reason = None;
        }
    } else {
        if let Ok(c) = Capacity::new(moved) {
            n.actual_capacity = c;
        }
        n.scaling_status = ScalingStatus::InProgress;
        n.failure_reason = None;
    }
}

/// The fields that differ between `old` and `new`, in contract order.
pub fn diff(old: &Dimension, new: &Dimension) -> Vec<Change> {
    let mut out = Vec::new();
    let mut push = |field, o: Value, n: Value| {
        if o != n {
            out.push(Change { field, old: o, new: n });
        }
    };
    push("version", old.version.clone().into(), new.version.clone().into());
    push("resourceName", old.resource_name.clone().into(), new.resource_name.clone().into());
    push("dimensionName", old.dimension_name.clone().into(), new.dimension_name.clone().into());
    push("desiredCapacity", old.desired_capacity.get().into(), new.desired_capacity.get().into());
    push("actualCapacity", old.actual_capacity.get().into(), new.actual_capacity.get().into());
    push("scalingStatus", old.scaling_status.as_str().into(), new.scaling_status.as_str().into());
    push("failureReason", old.failure_reason.clone().into(), new.failure_reason.clone().into());
    push("minCapacity", old.min_capacity.map(Capacity::get).into(), new.min_capacity.map(Capacity::get).into());
    push("maxCapacity", old.max_capacity.map(Capacity::get).into(), new.max_capacity.map(Capacity::get).into());
    out
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
