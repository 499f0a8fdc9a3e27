//! Every transition of both modes, table-driven, plus properties.

use super::*;
use crate::domain::change::check;
use crate::domain::{
    Capacity, Changes, Defaults, Dimension, DimensionId, Patch, Precondition, ScalingStatus, TransitionError,
};
use ScalingStatus::{Failed, InProgress, Pending, Successful};
use proptest::prelude::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DEMO: Mode = Mode::Demo { simulate_failure: false, style: DemoStyle::Steps };
const DEMO_FAIL: Mode = Mode::Demo { simulate_failure: true, style: DemoStyle::Steps };
const PROD: Mode = Mode::Production;

/// The time of every transition here: the core never reads a clock.
const T0: SystemTime = UNIX_EPOCH;

fn cap(v: f64) -> Capacity {
    Capacity::new(v).unwrap()
}

fn dim(status: ScalingStatus, desired: f64, actual: f64) -> Dimension {
    let mut d = Dimension::new(DimensionId::parse("d-1").unwrap(), &Defaults::default());
    d.scaling_status = status;
    d.desired_capacity = cap(desired);
    d.actual_capacity = cap(actual);
    if status == Failed {
        d.failure_reason = Some("old reason".into());
    }
    d.revision = 7;
    d
}

fn patch(desired: Option<f64>, actual: Option<f64>, status: Option<ScalingStatus>, reason: Option<&str>) -> Patch {
    Patch {
        desired_capacity: desired.map(cap),
        actual_capacity: actual.map(cap),
        scaling_status: status,
        failure_reason: reason.map(str::to_owned),
    }
}

/// (mode, from status, desired, actual) -> (to status, actual, has reason)
#[test]
fn get_transitions() {
    let table = [
        (DEMO, Successful, Successful, 1.0, false),
        (DEMO, Pending, InProgress, 1.0, false),
        (DEMO, InProgress, Successful, 2.0, false),
        (DEMO, Failed, Successful, 2.0, false),
        (DEMO_FAIL, Successful, Successful, 1.0, false),
        (DEMO_FAIL, Pending, InProgress, 1.0, false),
        (DEMO_FAIL, InProgress, Failed, 1.0, true),
        (DEMO_FAIL, Failed, Failed, 1.0, true),
        (PROD, Successful, Successful, 1.0, false),
        (PROD, Pending, Pending, 1.0, false),
        (PROD, InProgress, InProgress, 1.0, false),
        (PROD, Failed, Failed, 1.0, true),
    ];
    for (mode, from, to, actual, reason) in table {
        let d = dim(from, 2.0, 1.0);
        let n = transition(&d, Event::Get, mode, T0).unwrap();
        assert_eq!(n.scaling_status, to, "{mode:?} {from}");
        assert_eq!(n.actual_capacity.get(), actual, "{mode:?} {from}");
        assert_eq!(n.desired_capacity.get(), 2.0);
        assert_eq!(n.failure_reason.is_some(), reason, "{mode:?} {from}");
    }
    let failed = transition(&dim(InProgress, 2.0, 1.0), Event::Get, DEMO_FAIL, T0).unwrap();
    assert_eq!(failed.failure_reason.as_deref(), Some(SIMULATED_FAILURE));
}

#[test]
fn demo_patch_sets_only_a_new_desired_capacity() {
    for from in ScalingStatus::ALL {
        for mode in [DEMO, DEMO_FAIL] {
            let d = dim(from, 2.0, 1.0);
            let n = transition(&d, Event::Patch(&patch(Some(3.0), None, None, None)), mode, T0).unwrap();
            assert_eq!((n.scaling_status, n.desired_capacity.get(), n.failure_reason.clone()), (Pending, 3.0, None));
            let same = transition(&d, Event::Patch(&patch(Some(2.0), None, None, None)), mode, T0).unwrap();
            assert_eq!(same, d, "same desired changes nothing");
            let other =
                transition(&d, Event::Patch(&patch(None, Some(9.0), Some(Successful), None)), mode, T0).unwrap();
            assert_eq!(other, d, "demo mode ignores other fields");
        }
    }
}

#[test]
fn production_patch_table() {
    // (from, patch, to status, desired, actual, reason)
    type Row = (ScalingStatus, Patch, ScalingStatus, f64, f64, Option<&'static str>);
    let table: Vec<Row> = vec![
        (Successful, patch(Some(3.0), None, None, None), Pending, 3.0, 1.0, None),
        (Successful, patch(Some(3.0), None, Some(Successful), None), Pending, 3.0, 1.0, None),
        (Failed, patch(Some(3.0), Some(2.0), Some(Failed), Some("x")), Pending, 3.0, 2.0, None),
        (Pending, patch(Some(2.0), None, Some(InProgress), None), InProgress, 2.0, 1.0, None),
        (InProgress, patch(None, Some(2.0), Some(Successful), None), Successful, 2.0, 2.0, None),
        (InProgress, patch(None, None, Some(Failed), Some("quota")), Failed, 2.0, 1.0, Some("quota")),
        (InProgress, patch(None, None, Some(Failed), None), Failed, 2.0, 1.0, None),
        (Failed, patch(None, None, None, Some("new")), Failed, 2.0, 1.0, Some("new")),
        (Failed, patch(None, None, Some(Failed), None), Failed, 2.0, 1.0, Some("old reason")),
        (Failed, patch(None, None, Some(Pending), None), Pending, 2.0, 1.0, None),
        (Successful, patch(None, Some(5.0), None, None), Successful, 2.0, 5.0, None),
    ];
    for (from, p, to, desired, actual, reason) in table {
        let n = transition(&dim(from, 2.0, 1.0), Event::Patch(&p), PROD, T0).unwrap();
        assert_eq!(n.scaling_status, to, "{from} {p:?}");
        assert_eq!(n.desired_capacity.get(), desired, "{from} {p:?}");
        assert_eq!(n.actual_capacity.get(), actual, "{from} {p:?}");
        assert_eq!(n.failure_reason.as_deref(), reason, "{from} {p:?}");
    }
    let err = transition(&dim(InProgress, 2.0, 1.0), Event::Patch(&patch(None, None, None, Some("x"))), PROD, T0);
    assert_eq!(err, Err(TransitionError::ReasonWithoutFailed(InProgress)));
}

fn policy(mode: Mode, strict: bool) -> Policy {
    Policy { mode, strict, defaults: Defaults::default() }
}

#[test]
fn apply_creates_on_first_touch_unless_strict() {
    let id = DimensionId::parse("new").unwrap();
    let o = apply(None, &id, Event::Get, &policy(DEMO, false), T0).unwrap();
    assert!(o.created && o.must_write() && o.changes.is_empty());
    assert_eq!(o.dimension.revision, 1);
    assert_eq!(o.dimension.scaling_status, Successful);
    assert_eq!(apply(None, &id, Event::Get, &policy(PROD, true), T0), Err(TransitionError::NotFound(id.clone())));
    let p = patch(Some(2.0), None, None, None);
    let o = apply(None, &id, Event::Patch(&p), &policy(DEMO, false), T0).unwrap();
    assert_eq!(o.dimension.scaling_status, Pending);
    assert_eq!(o.changes.len(), 2);
}

#[test]
fn apply_reports_changes_like_the_reference_log() {
    let d = dim(Successful, 1.0, 1.0);
    let p = patch(Some(2.0), None, None, None);
    let o = apply(Some(&d), d.id(), Event::Patch(&p), &policy(DEMO, false), T0).unwrap();
    assert_eq!(Changes(&o.changes).to_string(), "desiredCapacity: 1.0 -> 2.0  scalingStatus: Successful -> Pending");
    assert_eq!(o.dimension.revision, 8);
    let o = apply(Some(&d), d.id(), Event::Get, &policy(DEMO, false), T0).unwrap();
    assert!(!o.must_write());
    assert_eq!(o.dimension.revision, 7, "no change, no new revision");
}

#[test]
fn user_strings_in_changes_are_escaped() {
    let mut d = dim(Failed, 1.0, 1.0);
    d.failure_reason = None;
    let p = patch(None, None, None, Some("line\nInjected: yes"));
    let o = apply(Some(&d), d.id(), Event::Patch(&p), &policy(PROD, false), T0).unwrap();
    let text = Changes(&o.changes).to_string();
    assert_eq!(text, r#"failureReason: null -> "line\nInjected: yes""#);
}

fn any_status() -> impl Strategy<Value = ScalingStatus> {
    prop::sample::select(ScalingStatus::ALL.to_vec())
}

fn any_dim() -> impl Strategy<Value = Dimension> {
    (any_status(), 0.0..1e6f64, 0.0..1e6f64).prop_map(|(s, d, a)| dim(s, d, a))
}

proptest! {
    #[test]
    fn demo_without_failures_succeeds_within_two_gets(d in any_dim(), desired in 0.0..1e6f64) {
        let p = patch(Some(desired), None, None, None);
        let mut n = transition(&d, Event::Patch(&p), DEMO, T0).unwrap();
        for _ in 0..2 {
            n = transition(&n, Event::Get, DEMO, T0).unwrap();
        }
        prop_assert_eq!(n.scaling_status, Successful);
        prop_assert_eq!(n.actual_capacity, n.desired_capacity);
        prop_assert_eq!(n.desired_capacity.get(), desired);
        prop_assert!(n.failure_reason.is_none());
    }

    #[test]
    fn demo_with_failures_ends_failed_with_a_reason(d in any_dim(), desired in 1e6..2e6f64) {
        let p = patch(Some(desired), None, None, None);
        let mut n = transition(&d, Event::Patch(&p), DEMO_FAIL, T0).unwrap();
        for _ in 0..3 {
            n = transition(&n, Event::Get, DEMO_FAIL, T0).unwrap();
        }
        prop_assert_eq!(n.scaling_status, Failed);
        prop_assert!(n.failure_reason.is_some());
    }

    #[test]
    fn production_get_never_changes_state(d in any_dim()) {
        let o = apply(Some(&d), d.id(), Event::Get, &policy(PROD, false), T0).unwrap();
        prop_assert_eq!(&o.dimension, &d);
        prop_assert!(!o.must_write());
    }

    #[test]
    fn a_view_never_changes_state_in_any_mode(
        mut d in any_dim(), mode in prop::sample::select(vec![DEMO, DEMO_FAIL, PROD, gradual(1.0, false),
            Mode::Demo { simulate_failure: false, style: DemoStyle::Timed { rate: cap(1.0) } }]),
        secs in 0u64..100_000,
    ) {
        d.changed_at = Some(T0);
        let o = apply(Some(&d), d.id(), Event::View, &policy(mode, true), T0 + Duration::from_secs(secs)).unwrap();
        prop_assert_eq!(&o.dimension, &d);
        prop_assert!(!o.must_write());
    }

    #[test]
    fn failure_reason_only_with_failed(
        d in any_dim(), mode in prop::sample::select(vec![DEMO, DEMO_FAIL, PROD]),
        desired in prop::option::of(0.0..10.0f64), actual in prop::option::of(0.0..10.0f64),
        status in prop::option::of(any_status()), reason in prop::option::of("[a-z]{1,8}"),
    ) {
        let p = patch(desired, actual, status, reason.as_deref());
        for event in [Event::Get, Event::Patch(&p)] {
            if let Ok(n) = transition(&d, event, mode, T0) {
                prop_assert!(n.failure_reason.is_none() || n.scaling_status == Failed);
                let changes = diff(&d, &n);
                prop_assert_eq!(changes.is_empty(), n == d);
            }
        }
    }
}

#[test]
fn preconditions_compare_the_revision() {
    let d = dim(Successful, 1.0, 1.0); // revision 7
    assert_eq!(check(Some(&d), None), Ok(()));
    assert_eq!(check(Some(&d), Some(Precondition::Revision(7))), Ok(()));
    assert_eq!(check(Some(&d), Some(Precondition::Exists)), Ok(()));
    assert_eq!(
        check(Some(&d), Some(Precondition::Revision(6))),
        Err(TransitionError::Stale { expected: Precondition::Revision(6), actual: 7 })
    );
    assert!(check(None, Some(Precondition::Exists)).is_err());
    assert_eq!(check(None, Some(Precondition::Revision(0))), Ok(()), "revision 0: create only if absent");
    let msg = check(Some(&d), Some(Precondition::Revision(3))).unwrap_err().to_string();
    assert!(msg.contains(r#"If-Match "3" does not match: the dimension is at revision 7"#), "{msg}");
}

fn gradual(step: f64, fail: bool) -> Mode {
    Mode::Demo { simulate_failure: fail, style: DemoStyle::Gradual { step: Capacity::new(step).unwrap() } }
}

/// gradual: actualCapacity moves by the step per GET, up or down, and the
/// activity ends when it reaches desiredCapacity (Failed with simulate_failure).
#[test]
fn gradual_moves_actual_by_a_step_per_get() {
    let walk = |from: f64, to: f64, step: f64, fail: bool| {
        let mut d = dim(Pending, to, from);
        let mut seen = Vec::new();
        for _ in 0..10 {
            d = transition(&d, Event::Get, gradual(step, fail), T0).unwrap();
            seen.push((d.actual_capacity.get(), d.scaling_status));
            if matches!(d.scaling_status, Successful | Failed) {
                break;
            }
        }
        seen
    };
    assert_eq!(walk(1.0, 5.0, 2.0, false), [(3.0, InProgress), (5.0, Successful)]);
    assert_eq!(walk(5.0, 0.0, 2.0, false), [(3.0, InProgress), (1.0, InProgress), (0.0, Successful)]);
    assert_eq!(walk(1.0, 2.0, 0.3, false).len(), 4, "1.3, 1.6, 1.9, 2.0 with no float noise");
    assert_eq!(walk(1.0, 2.0, 0.3, false)[2], (1.9, InProgress));
    assert_eq!(walk(1.0, 5.0, 2.0, true), [(3.0, InProgress), (3.0, Failed)]);
    assert_eq!(walk(2.0, 2.0, 1.0, false), [(2.0, Successful)], "nothing to move");
}

/// timed: the move is rate × seconds since the last stored change, however
/// often it is polled.
#[test]
fn timed_moves_actual_with_wall_time() {
    let timed = Mode::Demo { simulate_failure: false, style: DemoStyle::Timed { rate: Capacity::new(1.0).unwrap() } };
    let mut d = dim(Pending, 10.0, 1.0);
    let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
    d.changed_at = Some(now - Duration::from_secs(2));
    let n = transition(&d, Event::Get, timed, now).unwrap();
    assert_eq!(n.scaling_status, InProgress);
    assert_eq!(n.actual_capacity.get(), 3.0, "exactly 2 s at 1/s from 1.0");
    d.changed_at = Some(now - Duration::from_secs(60));
    let n = transition(&d, Event::Get, timed, now).unwrap();
    assert_eq!((n.actual_capacity.get(), n.scaling_status), (10.0, Successful));
}

fn timed(rate: f64, fail: bool) -> Mode {
    Mode::Demo { simulate_failure: fail, style: DemoStyle::Timed { rate: Capacity::new(rate).unwrap() } }
}

/// The GETs of one activity from `from` to `to`, `by` per GET (timed: `secs`
/// after the last stored change), until it ends or `limit` GETs.
fn run(from: f64, to: f64, mode: Mode, secs: f64, limit: usize) -> Vec<Dimension> {
    let mut d = dim(Pending, to, from);
    let mut seen = Vec::new();
    for _ in 0..limit {
        d.changed_at = Some(T0);
        d = transition(&d, Event::Get, mode, T0 + Duration::from_secs_f64(secs)).unwrap();
        seen.push(d.clone());
        if matches!(d.scaling_status, Successful | Failed) {
            break;
        }
    }
    seen
}

/// Issue 15.11: huge capacities (`moved * 1e6` overflowed) and steps too small
/// to move a huge number (`actual + step == actual`) used to stay InProgress
/// forever; tiny steps were rounded away to nothing.
#[test]
fn gradual_and_timed_end_for_any_finite_capacity() {
    let end = |seen: &[Dimension]| seen.last().map(|d| (d.scaling_status, d.actual_capacity.get()));
    let brief = |seen: &[Dimension]| seen.iter().map(|d| (d.scaling_status, d.actual_capacity)).collect::<Vec<_>>();
    let cases = [
        (0.0, f64::MAX, f64::MAX / 4.0, 4),
        (f64::MAX, 0.0, 1e308, 2),
        (1.8e302, 1.9e302, 3e300, 4),
        (0.0, 1e303, 1e303, 1),
        (0.0, 1e17, 1e17, 1), // 1e17 in micro-units rounded back to 99999999999999980
        (1e20, 2e20, 1.0, 1), // 1e20 + 1 == 1e20: no step can move it
        (f64::MAX, 1.0, 1.0, 1),
        (1e17, 1e17 + 64.0, 1.0, 1),
        (0.0, 1e-5, 4e-7, 20), // under half a micro-unit: rounding no longer undoes it
    ];
    for (from, to, step, gets) in cases {
        let seen = run(from, to, gradual(step, false), 0.0, 100);
        assert_eq!(seen.len(), gets, "{from:e} -> {to:e} by {step:e}: {:?}", brief(&seen[..seen.len().min(5)]));
        assert_eq!(end(&seen), Some((Successful, to)), "{from:e} -> {to:e} by {step:e}: {:?}", brief(&seen));
        let failed = run(from, to, gradual(step, true), 0.0, gets);
        assert_eq!(failed.last().map(|d| d.scaling_status), Some(Failed), "{from:e} -> {to:e} by {step:e}");
    }
    // A tenth of a micro-unit per GET: not done yet, but never standing still.
    let actual: Vec<f64> =
        run(2.0, 1.0, gradual(1e-7, false), 0.0, 3).iter().map(|d| d.actual_capacity.get()).collect();
    assert!(actual.len() == 3 && actual[0] < 2.0 && actual[1] < actual[0] && actual[2] < actual[1], "{actual:?}");
    // timed: 60 s at 1/s cannot move 1e300; at f64::MAX per second, rate × 60 s is infinite.
    assert_eq!(end(&run(1e300, 2e300, timed(1.0, false), 60.0, 1)), Some((Successful, 2e300)));
    assert_eq!(end(&run(0.0, f64::MAX, timed(f64::MAX, false), 60.0, 1)), Some((Successful, f64::MAX)));
    assert_eq!(end(&run(1e303, 0.0, timed(1e301, false), 60.0, 2)), Some((Successful, 0.0)));
    // timed, no time passed: nothing moves, nothing ends.
    assert_eq!(end(&run(1.0, 2.0, timed(1.0, false), 0.0, 1)), Some((InProgress, 1.0)));
}

/// Any finite capacity, up to f64::MAX.
fn any_capacity() -> impl Strategy<Value = f64> {
    use prop::num::f64::{NORMAL, POSITIVE, SUBNORMAL, ZERO};
    let edges = vec![0.0, 1.0, 2f64.powi(33), 2f64.powi(53), 1e17, 1.8e302, f64::MAX, f64::MIN_POSITIVE, 5e-324];
    prop_oneof![0.0..1e6f64, POSITIVE | NORMAL | SUBNORMAL | ZERO, prop::sample::select(edges)]
}

proptest! {
    /// Every GET moves actualCapacity strictly toward desiredCapacity and never
    /// past it, so the activity ends (there are finitely many floats between);
    /// and it ends within 2 × ceil(distance / step) + 3 GETs: a step moves by
    /// `step`, give or take a micro-unit of rounding or the float grid (which
    /// keeps at least two thirds of a step that moves at all); a step too small
    /// to move the number at all ends the activity at once. No NaN or
    /// infinity is ever stored.
    #[test]
    fn gradual_and_timed_always_end(
        from in any_capacity(), to in any_capacity(), fail in any::<bool>(), is_timed in any::<bool>(),
        step in prop_oneof![prop::num::f64::POSITIVE, 1e-7..10.0f64, (1u32..400).prop_map(|k| -f64::from(k))],
    ) {
        // A negative step k means: the distance in k steps.
        let step = if step < 0.0 { ((to - from).abs() / -step).max(1e-9) } else { step };
        let (mode, secs) = if is_timed { (timed(step, fail), 1.0) } else { (gradual(step, fail), 0.0) };
        let bound = 2.0 * ((to - from).abs() / step).ceil() + 3.0;
        let limit = if bound <= 2000.0 { bound as usize } else { 60 };
        let seen = run(from, to, mode, secs, limit);
        let (low, high) = (from.min(to), from.max(to));
        let mut last = from;
        for d in &seen {
            let actual = d.actual_capacity.get();
            prop_assert!(actual.is_finite() && low <= actual && actual <= high, "{actual} outside {low}..{high}");
            prop_assert_eq!(d.desired_capacity.get(), to);
            match d.scaling_status {
                InProgress | Pending => {
                    prop_assert_eq!(d.scaling_status, InProgress, "a GET starts the activity");
                    let closer = if from < to { last < actual } else { actual < last };
                    prop_assert!(closer, "stood still at {actual} ({from} -> {to} by {step})");
                }
                Successful => prop_assert_eq!((actual, fail), (to, false)),
                Failed => prop_assert!(fail && d.failure_reason.is_some()),
            }
            last = actual;
        }
        if bound <= 2000.0 {
            let last = seen.last().map(|d| d.scaling_status);
            prop_assert!(matches!(last, Some(Successful | Failed)), "{from} -> {to} by {step}: {} GETs", seen.len());
        }
    }
}
