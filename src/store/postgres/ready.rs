//! Getting ready: the first connection (named clearly when it fails) and
//! the migrations. A replica whose database is down at start does not exit:
//! it starts unready (`/readyz` answers 503 with the reason, every request
//! 503) and tries again, 1 s after the first failure and then twice as
//! long each time up to 30 s, until it is ready. Migrations that do not fit
//! this binary are not retried: `open` fails with them, or, found later,
//! the store stays unready and says why.

use super::connect;
use super::migrate::{self, Refusal};
use super::pool::{PASSWORD_CHECK_EVERY, Pool};
use crate::store::migrations::POSTGRES;
use crate::store::{NotReady, StoreError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// None when ready; otherwise why not.
#[derive(Default)]
pub(super) struct Readiness(Mutex<Option<NotReady>>);

impl Readiness {
    pub(super) fn get(&self) -> Option<NotReady> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn set(&self, state: Option<NotReady>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = state;
    }
}

/// Why a try failed.
enum Failure {
    /// Worth another try.
    Retry(NotReady),
    /// A person must act (migrations that do not fit).
    Refused(String),
}

/// One try: connect, then migrate (logging each migration applied).
async fn try_once(pool: &Pool, shown: &str, timeout: Duration) -> Result<(), Failure> {
    let not_ready = |reason: &str, detail: &dyn std::fmt::Display| {
        Failure::Retry(NotReady { reason: reason.to_owned(), detail: format!("store: cannot open {shown}: {detail}") })
    };
    let options = pool.pool.connect_options();
    connect::first(&options, timeout).await.map_err(|e| not_ready(e.1, &e))?;
    match migrate::run(pool, POSTGRES).await {
        Ok(applied) => {
            for (version, description) in applied {
                tracing::info!(store = %shown, version, description = %description, "postgres: migration applied");
            }
            Ok(())
        }
        Err(Refusal::Records(why)) => Err(Failure::Refused(format!("store: cannot open {shown}: {why}"))),
        Err(Refusal::Unavailable(e)) => Err(not_ready("the database cannot be migrated yet", &e)),
    }
}

/// The first try at start. Ready: None. Not ready: the task that keeps
/// trying (stopped by `stop`).
///
/// # Errors
/// `Open` when the migrations do not fit this binary.
pub(super) async fn prepare(
    pool: &Arc<Pool>,
    shown: &str,
    timeout: Duration,
    readiness: &Arc<Readiness>,
    stop: &CancellationToken,
) -> Result<Option<JoinHandle<()>>, StoreError> {
    match try_once(pool, shown, timeout).await {
        Ok(()) => Ok(None),
        Err(Failure::Refused(why)) => Err(StoreError::Open(why)),
        Err(Failure::Retry(not)) => {
            tracing::warn!(error = %not.detail, "postgres: not ready ({}); crest keeps trying", not.reason);
            readiness.set(Some(not));
            let task = retry(pool.clone(), shown.to_owned(), timeout, readiness.clone(), stop.clone());
            Ok(Some(tokio::spawn(task)))
        }
    }
}

/// Tries again with a growing pause until ready, refused or `stop`.
async fn retry(pool: Arc<Pool>, shown: String, timeout: Duration, readiness: Arc<Readiness>, stop: CancellationToken) {
    let mut pause = Duration::from_secs(1);
    loop {
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = stop.cancelled() => return,
        }
        pause = (pause * 2).min(MAX_BACKOFF);
        match try_once(&pool, &shown, timeout).await {
            Ok(()) => {
                readiness.set(None);
                tracing::info!(store = %shown, "postgres: the database answers; ready");
                return;
            }
            Err(Failure::Refused(why)) => {
                tracing::error!(error = %why, "postgres: crest cannot serve from this database");
                readiness.set(Some(NotReady {
                    reason: "the database's schema does not fit this crest; see the log".into(),
                    detail: why,
                }));
                return;
            }
            Err(Failure::Retry(not)) => {
                if readiness.get().is_none_or(|was| was.detail != not.detail) {
                    tracing::warn!(error = %not.detail, "postgres: not ready ({}); crest keeps trying", not.reason);
                }
                readiness.set(Some(not));
            }
        }
    }
}

/// Checks the password file every second until `stop`.
pub(super) async fn watch_password(pool: Arc<Pool>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(PASSWORD_CHECK_EVERY) => pool.reload_password().await,
            () = stop.cancelled() => return,
        }
    }
}
