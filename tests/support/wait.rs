//! Waiting for an event with a deadline, instead of sleeping and hoping.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// How long to pause between two probes.
const POLL: Duration = Duration::from_millis(25);

/// Runs `probe` every 25 ms until it returns `Ok`, and returns that value.
/// `Err` means "not yet" and says why; once `within` has passed, panics with
/// `what`, the time waited and the last `Err`.
pub async fn wait_until<T, E: Display>(
    within: Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    let started = Instant::now();
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(last) => {
                let waited = started.elapsed();
                assert!(waited < within, "{what}: not within {within:?} (waited {waited:?}); last: {last}");
            }
        }
        tokio::time::sleep(POLL).await;
    }
}
