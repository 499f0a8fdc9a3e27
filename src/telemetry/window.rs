//! A log line's own rate limit, for lines a client can cause as often as it
//! likes (a refused request, a failed TLS handshake): at most N a second are
//! written, the others counted, and the count comes with the next line
//! written. One window per kind of line, for the process.

use std::time::{Duration, Instant};

/// The lines of the current second.
#[derive(Debug)]
pub struct LogWindow {
    started: Option<Instant>,
    logged: u32,
    unlogged: u64,
}

impl LogWindow {
    #[must_use]
    pub const fn new() -> Self {
        Self { started: None, logged: 0, unlogged: 0 }
    }

    /// `Some(n)` when one more line may be written at `now`, `n` being the
    /// lines not written since the last one; `None` (and counted) when
    /// `per_second` lines were written in this second already.
    pub fn admit(&mut self, now: Instant, per_second: u32) -> Option<u64> {
        if self.started.is_none_or(|s| now.saturating_duration_since(s) >= Duration::from_secs(1)) {
            *self = Self { started: Some(now), logged: 0, unlogged: self.unlogged };
        }
        if self.logged < per_second {
            self.logged += 1;
            Some(std::mem::take(&mut self.unlogged))
        } else {
            self.unlogged += 1;
            None
        }
    }
}

impl Default for LogWindow {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::LogWindow;
    use std::time::{Duration, Instant};

    /// N lines a second; the rest are counted and the count comes with the
    /// next line written.
    #[test]
    fn n_lines_a_second_and_the_count_of_the_rest_with_the_next() {
        let mut w = LogWindow::new();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let admitted: Vec<Option<u64>> = (0..1000).map(|n| w.admit(at(n / 2), 10)).collect();
        assert_eq!(admitted.iter().filter(|a| a.is_some()).count(), 10, "500 ms: one window");
        assert!(admitted.iter().flatten().all(|n| *n == 0));
        assert_eq!(w.admit(at(999), 10), None);
        assert_eq!(w.admit(at(1000), 10), Some(991), "a new second: the count of the others");
        assert_eq!(w.admit(at(1001), 10), Some(0));
    }
}
