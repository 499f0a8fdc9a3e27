//! When to renew and how long to wait after a failure. Pure functions.

use std::time::Duration;

/// The longest wait between failed attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);

/// When to renew a certificate valid from `not_before` to `not_after`
/// (Unix seconds): inside the CA's ARI window when it gave one (at the
/// fraction `pick` in [0, 1) of it), else when a third of the lifetime is left.
pub fn renew_at(not_before: i64, not_after: i64, ari_window: Option<(i64, i64)>, pick: f64) -> i64 {
    if let Some((start, end)) = ari_window.filter(|(s, e)| e >= s) {
        return start + ((end - start) as f64 * pick.clamp(0.0, 1.0)) as i64;
    }
    let lifetime = (not_after - not_before).max(0);
    not_after - lifetime / 3
}

/// The wait after `failures` failed attempts in a row (1, 2, …): `min`
/// doubling up to `MAX_BACKOFF`, plus up to 10% jitter (`jitter` in [0, 1)).
pub fn backoff(failures: u32, min: Duration, jitter: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(30);
    let base = min.saturating_mul(1u32 << exp.min(20)).min(MAX_BACKOFF);
    base + base.mul_f64(0.1 * jitter.clamp(0.0, 1.0))
}

/// A wait as the log shows it, in the settings' syntax: whole seconds (the
/// jitter's fractions are noise there), or milliseconds under a second.
pub fn for_the_log(wait: Duration) -> String {
    if wait >= Duration::from_secs(1) { format!("{}s", wait.as_secs()) } else { format!("{}ms", wait.as_millis()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_logged_in_whole_units() {
        assert_eq!(for_the_log(Duration::from_secs_f64(61.234_567)), "61s");
        assert_eq!(for_the_log(Duration::from_secs_f64(0.250_9)), "250ms");
    }

    #[test]
    fn renews_at_two_thirds_of_the_lifetime_without_ari() {
        // 90 days: renew with 30 days left.
        let day = 86_400;
        assert_eq!(renew_at(0, 90 * day, None, 0.5), 60 * day);
        assert_eq!(renew_at(100, 130, None, 0.0), 120);
    }

    #[test]
    fn renews_inside_the_ari_window_when_offered() {
        let day = 86_400;
        let window = Some((50 * day, 52 * day));
        assert_eq!(renew_at(0, 90 * day, window, 0.0), 50 * day);
        assert_eq!(renew_at(0, 90 * day, window, 0.5), 51 * day);
        let t = renew_at(0, 90 * day, window, 0.999);
        assert!((50 * day..=52 * day).contains(&t));
        // A CA asking for early renewal (e.g. revocation) is followed.
        assert_eq!(renew_at(0, 90 * day, Some((day, day)), 0.3), day);
        // A nonsensical window falls back to the lifetime rule.
        assert_eq!(renew_at(0, 90 * day, Some((10, 5)), 0.3), 60 * day);
    }

    #[test]
    fn backoff_doubles_from_one_minute_up_to_six_hours() {
        let m = Duration::from_secs(60);
        assert_eq!(backoff(1, m, 0.0), m);
        assert_eq!(backoff(2, m, 0.0), 2 * m);
        assert_eq!(backoff(4, m, 0.0), 8 * m);
        assert_eq!(backoff(9, m, 0.0), 256 * m);
        assert_eq!(backoff(10, m, 0.0), MAX_BACKOFF);
        assert_eq!(backoff(500, m, 0.0), MAX_BACKOFF);
        let j = backoff(3, m, 0.99);
        assert!(j > 4 * m && j < 4 * m + m.mul_f64(0.4 + 0.01), "{j:?}");
    }
}
