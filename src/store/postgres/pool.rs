//! The connection pool, made to work behind a transaction pooler and with
//! credentials that rotate:
//! * connections send no startup parameter a pooler refuses: no `options`,
//!   no `extra_float_digits` (only user, database, `DateStyle`,
//!   `client_encoding`, `TimeZone` and `application_name`, which PgBouncer
//!   tracks itself); the timeouts go into each transaction instead, as
//!   `set_config(…, true)` (`SET LOCAL`) in the same message ([`Pool::run`]);
//! * with `store_password_file`, the password is read from that file, which
//!   is checked every second and whenever a login is refused: new
//!   connections use what it says now, and connections made before it
//!   changed are retired when next taken from the pool;
//! * waiting for a connection is timed (`crest_store_pool_acquire_seconds`)
//!   and a login refused while the file is being rotated is retried within
//!   the acquire timeout.

use super::unavailable;
use crate::metrics::{Gauge, GaugeValue, Metrics, Sampler};
use crate::store::{StoreError, StoreOptions};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Column, Postgres, Row, raw_sql};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// The name of the first column of the settings row (left out of results).
const SETTINGS: &str = "crest_settings";
/// A pooled connection idle longer than this is pinged before use.
const IDLE_PING_AFTER: Duration = Duration::from_secs(10);
/// How often the password file is checked for a change.
pub(super) const PASSWORD_CHECK_EVERY: Duration = Duration::from_secs(1);
/// A connection is closed after this long and a new one made (with the
/// credentials in force then).
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// The pool and what each use of it needs.
pub(super) struct Pool {
    pub(super) pool: PgPool,
    /// `SET LOCAL …;` for the start of every transaction.
    prefix: String,
    acquire_timeout: Duration,
    password: Option<PasswordFile>,
    /// When the password last changed: older connections are retired.
    rotated: Arc<Mutex<Option<Instant>>>,
    metrics: OnceLock<Arc<Metrics>>,
}

/// `store_password_file` and the password last read from it.
struct PasswordFile {
    path: PathBuf,
    last: Mutex<String>,
}

/// Reads the password in `path` (its content without the line end).
///
/// # Errors
/// Why it cannot be read, naming the file and the setting.
pub(super) fn read_password(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the database password from {} (store_password_file): {e}", path.display()))?;
    Ok(text.strip_suffix('\n').map_or(text.as_str(), |t| t.strip_suffix('\r').unwrap_or(t)).to_owned())
}

impl Pool {
    /// The options of `url` as crest connects (with the password of the
    /// file, if any), and a lazy pool: connections are made on demand and
    /// re-made after an outage.
    ///
    /// # Errors
    /// The URL does not parse, or the password file cannot be read.
    pub(super) fn new(url: &str, options: &StoreOptions) -> Result<Self, String> {
        let mut connect = PgConnectOptions::from_str(url)
            .map_err(|e| e.to_string())?
            .application_name("crest")
            .extra_float_digits(None);
        let password = match &options.password_file {
            Some(path) => {
                let secret = read_password(path)?;
                connect = connect.password(&secret);
                Some(PasswordFile { path: path.clone(), last: Mutex::new(secret) })
            }
            None => None,
        };
        // One statement for every setting (each extra statement in the
        // message costs the server more than the function calls do).
        let statement_ms = options.statement_timeout.as_millis();
        let prefix = format!(
            "SELECT set_config('statement_timeout', '{statement_ms}', true) AS {SETTINGS}, \
             set_config('lock_timeout', '{statement_ms}', true), \
             set_config('idle_in_transaction_session_timeout', '60000', true), \
             set_config('extra_float_digits', '3', true);\n"
        );
        let rotated: Arc<Mutex<Option<Instant>>> = Arc::default();
        let (retire, retire_released) = (rotated.clone(), rotated.clone());
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            .max_lifetime(MAX_LIFETIME)
            // A ping before every use doubled the round trips of a GET. Busy
            // connections are trusted (a dead one fails its query, is dropped
            // and replaced); one idle for a while is pinged first. One made
            // before the password changed is closed.
            .test_before_acquire(false)
            .after_release(move |_conn, meta| {
                let keep = !made_before_rotation(&retire_released, meta.age);
                Box::pin(async move { Ok(keep) })
            })
            .before_acquire(move |conn, meta| {
                let old = made_before_rotation(&retire, meta.age);
                Box::pin(async move {
                    if old {
                        return Ok(false);
                    }
                    if meta.idle_for > IDLE_PING_AFTER {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(connect);
        Ok(Self { pool, prefix, acquire_timeout: options.acquire_timeout, password, rotated, metrics: OnceLock::new() })
    }

    /// `/metrics` from now on: the acquire wait here, the pool's gauges at
    /// every scrape.
    pub(super) fn attach(&self, metrics: &Arc<Metrics>) {
        if self.metrics.set(metrics.clone()).is_ok() {
            metrics.sample(Arc::new(PoolSampler { pool: self.pool.clone() }));
        }
    }

    /// A connection, within the acquire timeout. A login the server refuses
    /// while a password file is set is retried (the file may be mid-rotation).
    ///
    /// # Errors
    /// `Unavailable`.
    pub(super) async fn conn(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        let started = Instant::now();
        loop {
            match self.pool.acquire().await {
                Ok(conn) => {
                    if let Some(m) = self.metrics.get() {
                        m.store_acquired(started.elapsed());
                    }
                    return Ok(conn);
                }
                Err(e) if self.password.is_some() && is_login_refused(&e) => {
                    self.reload_password().await;
                    if started.elapsed() + Duration::from_millis(100) >= self.acquire_timeout {
                        return Err(unavailable(e));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
    }

    /// Runs `sql` (one or more statements, values as literals) as one
    /// simple-protocol message, in one implicit transaction with crest's
    /// timeouts; returns the rows of every statement.
    ///
    /// # Errors
    /// `Unavailable`.
    pub(super) async fn run(&self, sql: &str) -> Result<Vec<PgRow>, StoreError> {
        let mut conn = self.conn().await?;
        self.run_on(&mut conn, sql).await
    }

    /// [`Pool::run`] on a connection the caller holds (inside its transaction).
    ///
    /// # Errors
    /// `Unavailable`.
    pub(super) async fn run_on(&self, conn: &mut sqlx::PgConnection, sql: &str) -> Result<Vec<PgRow>, StoreError> {
        let text = format!("{}{sql}", self.prefix);
        // Executor's own method: RawSql's `async fn`s make futures that are
        // not `Send` for every lifetime, which `tokio::spawn` needs.
        let mut rows = sqlx::Executor::fetch_all(conn, raw_sql(&text)).await.map_err(unavailable)?;
        rows.retain(|r| r.columns().first().is_none_or(|c| c.name() != SETTINGS));
        Ok(rows)
    }

    /// Reads the password file again; when it says something new, new
    /// connections use it, idle older ones are closed now, and those in use
    /// when they come back to the pool.
    pub(super) async fn reload_password(&self) {
        if self.take_new_password() {
            for _ in 0..self.pool.size() {
                let Some(conn) = self.pool.try_acquire() else { break };
                let _ = conn.close().await;
            }
        }
    }

    /// True when the file says something new (then in force for new connections).
    fn take_new_password(&self) -> bool {
        let Some(file) = &self.password else { return false };
        let secret = match read_password(&file.path) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "postgres: keeping the password read before");
                return false;
            }
        };
        let mut last = file.last.lock().unwrap_or_else(PoisonError::into_inner);
        if *last == secret {
            return false;
        }
        let options = (*self.pool.connect_options()).clone().password(&secret);
        self.pool.set_connect_options(options);
        *last = secret;
        *self.rotated.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        tracing::info!(file = %file.path.display(), "postgres: the password file changed; new connections use it");
        true
    }

    /// True when a password file is set (a task checks it every second).
    pub(super) fn has_password_file(&self) -> bool {
        self.password.is_some()
    }
}

/// True when a connection `age` old was made before the password last changed.
fn made_before_rotation(rotated: &Mutex<Option<Instant>>, age: Duration) -> bool {
    let rotated = *rotated.lock().unwrap_or_else(PoisonError::into_inner);
    matches!((rotated, Instant::now().checked_sub(age)), (Some(r), Some(born)) if born < r)
}

/// The server refused the login (SQLSTATE class 28: a wrong password, an
/// expired IAM token).
fn is_login_refused(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().is_some_and(|c| c.starts_with("28")))
}

/// The pool's gauges at scrape time.
struct PoolSampler {
    pool: PgPool,
}

impl Sampler for PoolSampler {
    fn gauges(&self, _now: SystemTime) -> Vec<Gauge> {
        let idle = self.pool.num_idle();
        let open = usize::try_from(self.pool.size()).unwrap_or(usize::MAX);
        #[allow(clippy::cast_precision_loss)] // connection counts are small
        let series = vec![
            (vec![("state", "in_use".to_owned())], open.saturating_sub(idle) as f64),
            (vec![("state", "idle".to_owned())], idle as f64),
        ];
        vec![
            Gauge {
                name: "crest_store_pool_connections",
                help: "Connections of the Postgres pool, in use by a request or idle.",
                value: GaugeValue::Labelled(series),
            },
            Gauge {
                name: "crest_store_pool_max_connections",
                help: "The most connections the Postgres pool opens (store_max_connections).",
                value: GaugeValue::Plain(Some(f64::from(self.pool.options().get_max_connections()))),
            },
        ]
    }
}
