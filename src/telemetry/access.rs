//! The access log's switch and per-second budget. Each answered request
//! may write one access line (`request`, target `crest::access`); at most
//! `log_access_budget` of them a second. The others are counted by status,
//! and once the second is over one INFO line summarises them: `N requests
//! not logged in the last second (over log_access_budget): M × 200, K × 404`.
//! Only access lines are budgeted: change lines, warnings, errors and
//! rejections never pass here. Lock-free: a request pays a few atomics.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

/// Access lines written per second by default.
pub const DEFAULT_BUDGET: u32 = 200;

static ENABLED: AtomicBool = AtomicBool::new(true);
static BUDGET: AtomicU32 = AtomicU32::new(DEFAULT_BUDGET);
static WINDOW: Window = Window::new();

/// Turns the access log on or off and sets its budget (lines a second).
pub fn configure(enabled: bool, budget: u32) {
    ENABLED.store(enabled, Ordering::Relaxed);
    BUDGET.store(budget, Ordering::Relaxed);
}

/// True when this request's access line is to be written: the access log
/// is on, INFO lines of `crest::access` are, and the budget of this second
/// is not spent (else the request is counted for the summary).
pub fn admit(status: u16) -> bool {
    if !ENABLED.load(Ordering::Relaxed) || !tracing::enabled!(target: "crest::access", tracing::Level::INFO) {
        return false;
    }
    WINDOW.admit(second(), status, BUDGET.load(Ordering::Relaxed))
}

/// Writes the summary of a second that is over (the writer thread calls
/// this a few times a second, so it comes also when the flood has stopped).
pub fn tick() {
    WINDOW.roll(second());
}

/// Writes the summary of the requests not logged so far (at exit).
pub fn summarise() {
    WINDOW.roll(u64::MAX);
}

/// Whole seconds since the first call, plus one (0 means no window yet).
fn second() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_secs() + 1
}

/// Statuses counted one by one; others are counted as 999.
const STATUSES: usize = 1000;

/// The current second's lines written and requests not logged, by status.
struct Window {
    second: AtomicU64,
    logged: AtomicU32,
    unlogged: [AtomicU64; STATUSES],
}

impl Window {
    const fn new() -> Self {
        Self { second: AtomicU64::new(0), logged: AtomicU32::new(0), unlogged: [const { AtomicU64::new(0) }; STATUSES] }
    }

    fn admit(&self, now: u64, status: u16, budget: u32) -> bool {
        self.roll(now);
        if self.logged.fetch_add(1, Ordering::Relaxed) < budget {
            return true;
        }
        let slot = usize::from(status).min(STATUSES - 1);
        self.unlogged[slot].fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Starts the window of second `now` if it is not the current one; the
    /// thread that does writes the summary of the one that ended.
    fn roll(&self, now: u64) {
        let current = self.second.load(Ordering::Relaxed);
        if current == now || self.second.compare_exchange(current, now, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            return;
        }
        self.logged.store(0, Ordering::Relaxed);
        if let Some((total, by_status)) = self.take() {
            let budget = BUDGET.load(Ordering::Relaxed);
            tracing::info!(target: "crest::access", parent: None, not_logged = total, log_access_budget = budget,
                "{total} requests not logged in the last second (over log_access_budget): {by_status}");
        }
    }

    /// The requests not logged, in all and by status (`M × 200, K × 404`),
    /// reset to zero; None when there were none.
    fn take(&self) -> Option<(u64, String)> {
        let mut total = 0;
        let mut by_status = Vec::new();
        for (status, count) in self.unlogged.iter().enumerate() {
            let n = count.swap(0, Ordering::Relaxed);
            if n > 0 {
                total += n;
                by_status.push(format!("{n} × {status}"));
            }
        }
        (total > 0).then(|| (total, by_status.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::Window;

    #[test]
    fn the_budget_admits_n_lines_a_second_and_counts_the_rest_by_status() {
        let w = Window::new();
        let admitted = (0..300).filter(|i| w.admit(1, if i % 3 == 0 { 404 } else { 200 }, 200)).count();
        assert_eq!(admitted, 200);
        // 300 requests: 100 × 404 (i % 3 == 0), the first 200 logged.
        let unlogged_404 = (200..300).filter(|i| i % 3 == 0).count() as u64;
        assert_eq!(w.take(), Some((100, format!("{} × 200, {unlogged_404} × 404", 100 - unlogged_404))));
        assert_eq!(w.take(), None, "taken once");
    }

    #[test]
    fn a_new_second_starts_a_new_budget() {
        let w = Window::new();
        assert_eq!((0..5).filter(|_| w.admit(1, 200, 2)).count(), 2);
        assert_eq!((0..5).filter(|_| w.admit(2, 200, 2)).count(), 2, "second 2");
        assert_eq!(w.take(), Some((3, "3 × 200".into())), "second 2's (second 1's were summarised at the roll)");
    }
}
