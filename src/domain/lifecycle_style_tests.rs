//! The gradual and timed demo styles: how far each GET moves actualCapacity,
//! and that every activity ends, whatever the capacities.

use super::*;

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
