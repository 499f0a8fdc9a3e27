//! Pure transitions of a dimension in demo and production mode
//! (CONTRACT.md, "Modes"). `apply` takes the stored dimension (if any), an
//! event and the time, and returns the new dimension with the list of
//! changed fields.

use super::change::{Outcome, TransitionError, check_bounds, diff};
use super::dimension::{Capacity, Defaults, Dimension, ScalingStatus};
use super::id::DimensionId;
use super::patch::Patch;
use std::time::SystemTime;

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
    /// Plain GETs advance the simulated scaling; PATCH only sets
    /// desiredCapacity (a scaler's fields are refused: crest is the scaler).
    Demo { simulate_failure: bool, style: DemoStyle },
    /// GET never changes state; the scaler reports progress by PATCH.
    Production,
}

/// What happened to a dimension.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A plain GET (what AAS sends): advances a demo scaling.
    Get,
    /// A look that changes nothing in any mode (HEAD, long-polls, creating
    /// a configured dimension as it is).
    View,
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

/// Applies `event` to the stored dimension `current` (None: not stored yet).
/// When something changes, the revision goes up by one.
///
/// # Errors
/// `NotFound` in strict mode for an unknown id; `ReasonWithoutFailed` when a
/// production PATCH sets only a failureReason on a dimension that has not
/// failed; `ScalerFieldsInDemo` when a demo PATCH carries a scaler's field;
/// `OutOfBounds` for a desiredCapacity outside the dimension's bounds.
pub fn apply(
    current: Option<&Dimension>,
    id: &DimensionId,
    event: Event<'_>,
    policy: &Policy,
    now: SystemTime,
) -> Result<Outcome, TransitionError> {
    if let Some(d) = current
        && changes_nothing(event, policy.mode)
    {
        // Nothing can change (what AAS polls, in production): nothing to compare.
        return Ok(Outcome { dimension: d.clone(), changes: Vec::new(), created: false });
    }
    let fresh;
    let (old, created) = match current {
        Some(d) => (d, false),
        None if policy.strict => return Err(TransitionError::NotFound(id.clone())),
        None => {
            fresh = Dimension::new(id.clone(), &policy.defaults);
            (&fresh, true)
        }
    };
    let new = transition(old, event, policy.mode, now)?;
    let changes = diff(old, &new);
    let mut dimension = new;
    if created || !changes.is_empty() {
        dimension.revision = old.revision + 1;
    }
    Ok(Outcome { dimension, changes, created })
}

/// Whether `event` leaves every existing dimension as it is in `mode`
/// (a view, or a GET in production: what AAS polls), whatever the time.
pub fn changes_nothing(event: Event<'_>, mode: Mode) -> bool {
    matches!(event, Event::View) || matches!((mode, event), (Mode::Production, Event::Get))
}

/// The new state of `d` after `event` in `mode` at `now`.
///
/// # Errors
/// See [`apply`].
pub fn transition(d: &Dimension, event: Event<'_>, mode: Mode, now: SystemTime) -> Result<Dimension, TransitionError> {
    let mut n = d.clone();
    match (mode, event) {
        (_, Event::View) | (Mode::Production, Event::Get) => {}
        (Mode::Demo { simulate_failure, style: DemoStyle::Gradual { step } }, Event::Get) => {
            advance(d, &mut n, step.get(), simulate_failure);
        }
        (Mode::Demo { simulate_failure, style: DemoStyle::Timed { rate } }, Event::Get) => {
            // The time is the one input outside the state: a retried
            // transition sees a slightly later time, and that run is stored.
            let elapsed = d.changed_at.and_then(|t| now.duration_since(t).ok()).map_or(0.0, |e| e.as_secs_f64());
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
            if let Some(fields) = p.scaler_fields() {
                return Err(TransitionError::ScalerFieldsInDemo(fields));
            }
            if let Some(desired) = new_activity(d, p) {
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
            if let Some(desired) = new_activity(d, p) {
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

/// The desiredCapacity of `p` when it starts a new scaling activity: a value
/// other than the stored one, or any value on a `Failed` dimension, because
/// AAS retries a failed scaling with the same capacity. A body that also
/// reports a status (`scalingStatus` or `failureReason`) is a scaler that
/// echoes desiredCapacity with its report, not a retry. Otherwise an equal
/// value counts as absent, so it changes nothing and writes nothing.
fn new_activity(d: &Dimension, p: &Patch) -> Option<Capacity> {
    let desired = p.desired_capacity?;
    let retry = d.scaling_status == ScalingStatus::Failed && p.scaling_status.is_none() && p.failure_reason.is_none();
    (desired != d.desired_capacity || retry).then_some(desired)
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
    match step_toward(d.actual_capacity.get(), d.desired_capacity.get(), by) {
        Some(moved) => {
            if let Ok(c) = Capacity::new(moved) {
                n.actual_capacity = c;
            }
            n.scaling_status = ScalingStatus::InProgress;
            n.failure_reason = None;
        }
        None if simulate_failure => {
            n.scaling_status = ScalingStatus::Failed;
            if n.failure_reason.is_none() {
                n.failure_reason = Some(SIMULATED_FAILURE.to_owned());
            }
        }
        None => {
            n.actual_capacity = d.desired_capacity;
            n.scaling_status = ScalingStatus::Successful;
            n.failure_reason = None;
        }
    }
}

/// Where a move of `by` from `actual` toward `target` lands, or `None` when
/// the activity ends there. A `Some` lies strictly between `actual` and
/// `target` (so it is finite and >= 0), except that a `by` of 0 (a timed GET
/// with no time passed) stays at `actual`. So repeated moves of the same
/// `by` always end, within about `distance / by` GETs: each goes `by` (give
/// or take a micro-unit, or the float grid, which at worst keeps two thirds
/// of it) and never stands still.
fn step_toward(actual: f64, target: f64, by: f64) -> Option<f64> {
    let up = actual < target;
    // Both are finite and >= 0 (`Capacity`), so the distance is finite too.
    let distance = if up { target - actual } else { actual - target };
    if by >= distance {
        return None;
    }
    if by.is_nan() || by <= 0.0 {
        return (distance >= 1e-9).then_some(actual);
    }
    let exact = if up { actual + by } else { actual - by };
    if exact == actual {
        // The step is under half the gap between `actual` and the next float
        // (1.0 on 1e17, anything under ~1e292 on f64::MAX): it can never move
        // actualCapacity, and repeating it would leave the activity InProgress
        // forever, with AAS polling until it gives up. A simulated scaler
        // cannot do better than the target here, so it finishes.
        return None;
    }
    // Micro-units: no float noise such as 1.9000000000000001 in the JSON;
    // but the exact value when rounding would undo the move (a step under
    // half a micro-unit), so that every GET gets somewhere.
    let rounded = round_micro(exact);
    let moved = if (up && rounded > actual) || (!up && rounded < actual) { rounded } else { exact };
    let reached = if up { moved >= target } else { moved <= target };
    (!reached && (moved - target).abs() >= 1e-9).then_some(moved)
}

/// `x` rounded to millionths. From 2^33 up, f64 is coarser than a millionth,
/// so there is nothing to round (and `x * 1e6` would overflow near f64::MAX).
fn round_micro(x: f64) -> f64 {
    const COARSER_THAN_MICRO: f64 = 8_589_934_592.0; // 2^33
    if x >= COARSER_THAN_MICRO { x } else { (x * 1e6).round() / 1e6 }
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
