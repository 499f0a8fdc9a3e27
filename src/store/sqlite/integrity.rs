//! A damaged SQLite file: found at open by a time-boxed `PRAGMA quick_check`
//! (crest refuses to start on it), and at run time by SQLite's own
//! SQLITE_CORRUPT / SQLITE_NOTADB answers, which [`Damage`] turns into
//! `StoreError::Corrupt` (a 500, logged as an ERROR) and remembers, so that
//! `ping` (`/readyz`) fails from then on: retrying cannot mend the file.

use super::connection::{RESTORE, damaged_at_open, is_damage, open_error, unavailable};
use crate::store::StoreError;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A file up to this size is checked whole at open, however busy the
/// machine (some 50,000 dimensions: about 25 ms on the 2-core dev machine).
const CHECK_WHOLE_BYTES: u64 = 8 << 20;

/// The most time the check at open may take on a bigger file: it is checked
/// as far as the budget goes (1M dimensions, 156 MB: a whole check takes
/// about 0.45 s), and SQLite still reports damage when a request reaches it
/// (then [`Damage`] takes over).
const CHECK_BUDGET: Duration = Duration::from_millis(50);

/// Checks the file at `path` with `PRAGMA quick_check`: whole up to
/// [`CHECK_WHOLE_BYTES`], else for at most [`CHECK_BUDGET`]; a check cut
/// short by the budget passes (and says so at debug level). `shown` names
/// the file in messages.
///
/// # Errors
/// `Open`: the file is damaged (saying to restore it from a backup), or
/// cannot be opened at all.
pub(super) async fn check_at_open(path: &Path, shown: &str) -> Result<(), StoreError> {
    let owned = path.to_owned();
    let (conn, size) = tokio::task::spawn_blocking(move || {
        let size = std::fs::metadata(&owned).map_or(0, |m| m.len());
        let conn = Connection::open_with_flags(&owned, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        // The file's structure only: a row breaking a CHECK is no damage to
        // the file, and is refused when read (`row.rs`: a 500 for that id).
        conn.execute_batch("PRAGMA ignore_check_constraints = ON")?;
        Ok::<_, rusqlite::Error>((conn, size))
    })
    .await
    .map_err(|e| open_error(shown, &e))?
    .map_err(|e| if is_damage(&e) { damaged_at_open(shown, &e) } else { open_error(shown, &e) })?;
    let interrupt = conn.get_interrupt_handle();
    let started = Instant::now();
    let mut check = tokio::task::spawn_blocking(move || {
        // The first row is "ok", or the first problem found.
        conn.query_row("PRAGMA quick_check(1)", [], |r| r.get::<_, String>(0))
    });
    let finished = if size <= CHECK_WHOLE_BYTES {
        Ok((&mut check).await)
    } else {
        tokio::time::timeout(CHECK_BUDGET, &mut check).await
    };
    let verdict = match finished {
        Ok(done) => done,
        Err(_) => {
            interrupt.interrupt();
            check.await
        }
    }
    .map_err(|e| open_error(shown, &e))?;
    match verdict {
        Ok(answer) if answer == "ok" => Ok(()),
        // Its report spans lines ("*** in database main ***\nTree 3 page 9 …").
        Ok(problem) => Err(damaged_at_open(shown, &problem.split_whitespace().collect::<Vec<_>>().join(" "))),
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::OperationInterrupted) => {
            tracing::debug!(store = shown, budget = %humantime::format_duration(CHECK_BUDGET), "sqlite: integrity check cut short at start-up");
            Ok(())
        }
        Err(e) if is_damage(&e) => Err(damaged_at_open(shown, &e)),
        Err(e) => Err(open_error(shown, &format!("integrity check failed after {:?}: {e}", started.elapsed()))),
    }
}

/// Whether SQLite has reported the file damaged since the store opened.
/// Shared by the readers, the writer and the checkpointer; never cleared.
#[derive(Clone)]
pub(super) struct Damage(Arc<DamageState>);

struct DamageState {
    seen: AtomicBool,
    /// The path as given, for messages.
    shown: String,
}

impl Damage {
    pub(super) fn new(shown: &str) -> Self {
        Self(Arc::new(DamageState { seen: AtomicBool::new(false), shown: shown.to_owned() }))
    }

    /// An SQLite failure as a `StoreError`: damage is `Corrupt` (and
    /// remembered, logged once as an ERROR), anything else `Unavailable`.
    pub(super) fn error(&self, e: rusqlite::Error) -> StoreError {
        if !is_damage(&e) {
            return unavailable(e);
        }
        let shown = &self.0.shown;
        if !self.0.seen.swap(true, Ordering::Relaxed) {
            let what_to_do = RESTORE;
            let message = "sqlite: the database file is damaged; /readyz fails from now on";
            tracing::error!(store = %shown, error = %e, what_to_do, "{message}");
        }
        StoreError::Corrupt(format!("sqlite:{shown}: {e}; the database file is damaged: {RESTORE}"))
    }

    /// `Unavailable` once damage was seen (for `ping`).
    pub(super) fn check(&self) -> Result<(), StoreError> {
        if self.0.seen.load(Ordering::Relaxed) {
            let shown = &self.0.shown;
            return Err(unavailable(format!("the database file {shown} is damaged; {RESTORE}, then restart crest")));
        }
        Ok(())
    }
}
