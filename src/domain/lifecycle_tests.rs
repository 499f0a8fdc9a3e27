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
        for mode in [DEMO, DEMO_FAIL, gradual(1.0, false), timed(1.0, true)] {
            let d = dim(from, 2.0, 1.0);
            let n = transition(&d, Event::Patch(&patch(Some(3.0), None, None, None)), mode, T0).unwrap();
            assert_eq!((n.scaling_status, n.desired_capacity.get(), n.failure_reason.clone()), (Pending, 3.0, None));
            let same = transition(&d, Event::Patch(&patch(Some(2.0), None, None, None)), mode, T0).unwrap();
            if from == Failed {
                assert_eq!((same.scaling_status, same.failure_reason.clone()), (Pending, None), "a retry: {mode:?}");
            } else {
                assert_eq!(same, d, "same desired changes nothing: {mode:?} {from}");
            }
        }
    }
}

/// Issue 19: AAS retries a failed scaling with the same desiredCapacity. On a
/// Failed dimension that starts a new activity (Pending, reason cleared) in
/// every mode; in every other state it changes nothing and writes nothing.
#[test]
fn a_desired_capacity_on_a_failed_dimension_starts_a_new_activity() {
    let retry = patch(Some(2.0), None, None, None);
    for mode in [DEMO, DEMO_FAIL, gradual(1.0, true), timed(1.0, false), PROD] {
        let d = dim(Failed, 2.0, 1.0);
        let o = apply(Some(&d), d.id(), Event::Patch(&retry), &policy(mode, false), T0).unwrap();
        let n = &o.dimension;
        assert_eq!((n.scaling_status, n.desired_capacity.get(), n.actual_capacity.get()), (Pending, 2.0, 1.0));
        assert_eq!(n.failure_reason, None, "{mode:?}");
        assert_eq!(n.revision, 8, "{mode:?}: a write");
        assert_eq!(
            Changes(&o.changes).to_string(),
            r#"scalingStatus: Failed -> Pending  failureReason: "old reason" -> null"#,
            "{mode:?}"
        );
        // A Failed dimension without a reason (a production scaler may send none) retries too.
        let mut bare = d.clone();
        bare.failure_reason = None;
        let o = apply(Some(&bare), d.id(), Event::Patch(&retry), &policy(mode, false), T0).unwrap();
        assert_eq!((o.dimension.scaling_status, o.dimension.revision), (Pending, 8), "{mode:?}");
        for from in [Successful, Pending, InProgress] {
            let d = dim(from, 2.0, 1.0);
            let o = apply(Some(&d), d.id(), Event::Patch(&retry), &policy(mode, false), T0).unwrap();
            assert!(!o.must_write(), "{mode:?} {from}: an unchanged desiredCapacity writes nothing");
            assert_eq!(o.dimension, d, "{mode:?} {from}");
        }
    }
}

/// Issue 19: in demo mode crest is the scaler, so a PATCH carrying a scaler's
/// field is refused (it used to be ignored, answering 200), alone or with
/// desiredCapacity, on a stored dimension or a new one.
#[test]
fn demo_patch_refuses_the_scaler_fields() {
    let cases = [
        (patch(None, Some(3.0), None, None), "actualCapacity"),
        (patch(None, None, Some(Successful), None), "scalingStatus"),
        (patch(None, None, None, Some("quota")), "failureReason"),
        (patch(Some(3.0), Some(3.0), Some(Successful), None), "actualCapacity, scalingStatus"),
        (patch(None, Some(1.0), Some(Failed), Some("x")), "actualCapacity, scalingStatus, failureReason"),
    ];
    for mode in [DEMO, DEMO_FAIL, gradual(1.0, false), timed(1.0, false)] {
        for (p, fields) in &cases {
            for from in ScalingStatus::ALL {
                let d = dim(from, 2.0, 1.0);
                let err = transition(&d, Event::Patch(p), mode, T0).unwrap_err();
                assert_eq!(err, TransitionError::ScalerFieldsInDemo((*fields).to_owned()), "{mode:?} {from} {p:?}");
            }
            let id = DimensionId::parse("new").unwrap();
            let err = apply(None, &id, Event::Patch(p), &policy(mode, false), T0).unwrap_err();
            assert_eq!(err, TransitionError::ScalerFieldsInDemo((*fields).to_owned()), "nothing is created: {p:?}");
        }
    }
    let message = TransitionError::ScalerFieldsInDemo("actualCapacity, scalingStatus".into()).to_string();
    assert_eq!(
        message,
        "crest runs in demo mode, where it simulates the scaler itself: a PATCH may only set desiredCapacity (what \
         AAS sends), not actualCapacity, scalingStatus; to report progress from your own scaler, start crest in \
         production mode (--mode production, CREST_MODE=production or mode = \"production\" in the config file)"
    );
    // Production mode takes them, as before.
    let p = patch(None, Some(3.0), Some(Successful), None);
    assert_eq!(transition(&dim(InProgress, 3.0, 1.0), Event::Patch(&p), PROD, T0).unwrap().scaling_status, Successful);
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
        // The same desiredCapacity counts as absent, except on a Failed dimension (AAS retrying)...
        (Successful, patch(Some(2.0), Some(3.0), None, None), Successful, 2.0, 3.0, None),
        (InProgress, patch(Some(2.0), None, None, None), InProgress, 2.0, 1.0, None),
        (Failed, patch(Some(2.0), None, None, None), Pending, 2.0, 1.0, None),
        (Failed, patch(Some(2.0), Some(1.5), None, None), Pending, 2.0, 1.5, None),
        // ...unless the body reports a status: that is a scaler echoing desiredCapacity, not AAS.
        (Failed, patch(Some(2.0), None, Some(Failed), Some("again")), Failed, 2.0, 1.0, Some("again")),
        (Failed, patch(Some(2.0), None, None, Some("again")), Failed, 2.0, 1.0, Some("again")),
        (Failed, patch(Some(2.0), Some(2.0), Some(Successful), None), Successful, 2.0, 2.0, None),
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

fn timed(rate: f64, fail: bool) -> Mode {
    Mode::Demo { simulate_failure: fail, style: DemoStyle::Timed { rate: Capacity::new(rate).unwrap() } }
}

/// gradual and timed demo styles.
#[path = "lifecycle_style_tests.rs"]
mod styles;
