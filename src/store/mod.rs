//! The `Store` trait and `open(url)`. A store keeps dimensions and owns the
//! atomicity of every change: `update` runs the pure transition inside the
//! store's own lock or transaction, so concurrent requests never lose an update.

mod exclusive;
mod file;
mod instrumented;
mod memory;
mod migrations;
mod postgres;
mod row;
mod sqlite;

pub use exclusive::lock_exclusive;
pub use file::FileStore;
pub use instrumented::instrument;
pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use crate::clock::Clock;
use crate::domain::{Dimension, DimensionId, HistoryEntry, HistoryQuery, Outcome, Retention, Source, TransitionError};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A pure transition: the stored dimension (None if absent) to the outcome.
/// It may run more than once (retries), so it must not have side effects.
pub type Transition<'a> = dyn Fn(Option<&Dimension>) -> Result<Outcome, TransitionError> + Send + Sync + 'a;

/// A store-level failure. The text is for logs; callers get a generic answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or written now (I/O error, database down).
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    /// Stored data cannot be read back as a dimension.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The store cannot be opened as configured (bad URL, directory in use…).
    #[error("{0}")]
    Open(String),
}

/// Why an `update` did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(transparent)]
    Rejected(#[from] TransitionError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where dimensions live. Implementations: memory, file, sqlite, postgres.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads a dimension without creating it.
    ///
    /// # Errors
    /// `Unavailable` or `Corrupt`.
    async fn get(&self, id: &DimensionId) -> Result<Option<Dimension>, StoreError>;

    /// The dimension when the store holds a committed copy in memory (the
    /// file store's and the SQLite store's caches), without an await: a
    /// cached GET then skips two boxed futures. None: ask `get`.
    fn cached(&self, _id: &DimensionId) -> Option<Dimension> {
        None
    }

    /// Atomically reads the dimension, applies `transition` and, when the
    /// outcome says so, writes the result and its history entry (made by
    /// [`record`] with `source`) durably before returning it.
    ///
    /// # Errors
    /// `Rejected` when the transition refuses; `Store` when nothing was written.
    async fn update(
        &self,
        id: &DimensionId,
        transition: &Transition<'_>,
        source: &Source,
    ) -> Result<Outcome, UpdateError>;

    /// As [`Store::update`], told `seen`: the state the caller has just read.
    /// A store whose `update` would read it again over the network
    /// (Postgres) tries its conditional write against `seen` first, and
    /// reads again only if the row changed meanwhile.
    ///
    /// # Errors
    /// As [`Store::update`].
    async fn update_seen(
        &self,
        id: &DimensionId,
        seen: Option<Dimension>,
        transition: &Transition<'_>,
        source: &Source,
    ) -> Result<Outcome, UpdateError> {
        let _ = seen;
        self.update(id, transition, source).await
    }

    /// Dimensions in id order after `query.after`, optionally only those in
    /// one status, at most `query.limit`.
    ///
    /// # Errors
    /// `Unavailable` or `Corrupt`.
    async fn list(&self, query: &ListQuery) -> Result<Vec<Dimension>, StoreError>;

    /// How many dimensions are stored (all processes sharing the store).
    /// Asked only when a change would create one, so it may cost a query.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn count(&self) -> Result<u64, StoreError>;

    /// Removes a dimension and its history; false when there was none.
    ///
    /// # Errors
    /// `Unavailable`; then nothing was removed.
    async fn delete(&self, id: &DimensionId) -> Result<bool, StoreError>;

    /// A page of the dimension's history, newest first, within retention.
    ///
    /// # Errors
    /// `Unavailable` or `Corrupt`.
    async fn history(&self, id: &DimensionId, query: HistoryQuery) -> Result<Vec<HistoryEntry>, StoreError>;

    /// Reads a named secret (ACME account, certificate and key).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Writes a named secret durably (files: mode 0600, atomic replace).
    ///
    /// # Errors
    /// `Unavailable`; nothing is half-written.
    async fn put_secret(&self, name: &str, value: &[u8]) -> Result<(), StoreError>;

    /// Takes an exclusive lock named `name` across every process sharing
    /// this store, without waiting: None when another holder has it. The
    /// lock is released when the returned value is dropped. Single-process
    /// stores always grant it.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn try_lock(&self, name: &str) -> Result<Option<StoreLock>, StoreError> {
        let _ = name;
        Ok(Some(StoreLock::default()))
    }

    /// Publishes to `feed` the changes other processes make, until
    /// `shutdown` (Postgres: by polling its `changes` table). Single-process stores return at
    /// once: every change they see is made here.
    async fn follow(&self, feed: Arc<crate::watch::Feed>, shutdown: tokio_util::sync::CancellationToken) {
        let _ = (feed, shutdown);
    }

    /// Checks that the store answers (for `/readyz`).
    ///
    /// # Errors
    /// `Unavailable` when it does not.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Why the store cannot serve yet (Postgres started while its database
    /// was down, and keeps trying); None when it can.
    fn readiness(&self) -> Option<NotReady> {
        None
    }

    /// Hands the store the metrics it reports itself (Postgres: its pool).
    fn observe(&self, metrics: &Arc<crate::metrics::Metrics>) {
        let _ = metrics;
    }

    /// Flushes and releases the store (locks, connections). Idempotent.
    async fn close(&self);

    /// A short name for logs: "memory", "file", "sqlite".
    fn kind(&self) -> &'static str;
}

/// Why a store is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady {
    /// In a few words, without addresses: for `/readyz`.
    pub reason: String,
    /// The whole cause (address, server message; never a password): for the log.
    pub detail: String,
}

/// A page of `list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Only ids after this one (the last id of the previous page).
    pub after: Option<DimensionId>,
    pub limit: u64,
    pub status: Option<crate::domain::ScalingStatus>,
}

impl ListQuery {
    /// True when `d` belongs on this page (before paging by `limit`).
    pub fn admits(&self, d: &Dimension) -> bool {
        self.after.as_ref().is_none_or(|a| d.id() > a) && self.status.is_none_or(|s| d.scaling_status == s)
    }
}

/// A held `try_lock`; dropping it releases the lock.
#[derive(Default)]
pub struct StoreLock {
    _guard: Option<Box<dyn Send + Sync>>,
}

impl StoreLock {
    pub fn holding(guard: Box<dyn Send + Sync>) -> Self {
        Self { _guard: Some(guard) }
    }
}

/// Which of `n` locks or shards `id` belongs to (a stable hash within the
/// process).
pub(crate) fn bucket(id: &DimensionId, n: usize) -> usize {
    use std::hash::BuildHasher;
    // foldhash, not SipHash: a few nanoseconds per id (a GET picks a stripe).
    let h = foldhash::fast::FixedState::default().hash_one(id);
    // The remainder is below n, so it fits a usize.
    usize::try_from(h % n as u64).unwrap_or(0)
}

/// Stamps an outcome about to be stored at `now` (the time its status
/// changed) and returns its history entry. Stores call it inside their lock,
/// with the time of their clock.
pub fn record(outcome: &mut Outcome, source: &Source, now: SystemTime) -> HistoryEntry {
    // Milliseconds: what every store can keep exactly.
    let now = crate::domain::history::from_ms(crate::domain::history::to_ms(now));
    if outcome.created || outcome.changes.iter().any(|c| c.field == "scalingStatus") {
        outcome.dimension.status_since = Some(now);
    }
    outcome.dimension.changed_at = Some(now);
    HistoryEntry::of(outcome, source, now)
}

/// Connection settings for the database stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Pool size (postgres).
    pub max_connections: u32,
    /// How long a request waits for a connection before answering 503.
    pub acquire_timeout: Duration,
    /// The longest one SQL statement (or lock wait) may take (postgres).
    pub statement_timeout: Duration,
    /// How much change history is kept per dimension.
    pub retention: Retention,
    /// The time of history entries and of retention by age.
    pub clock: Clock,
    /// A file holding the database password, re-read when it changes (postgres).
    pub password_file: Option<std::path::PathBuf>,
    /// How often the changes of other replicas are polled (postgres).
    pub poll_interval: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
            retention: Retention::default(),
            clock: Clock::system(),
            password_file: None,
            poll_interval: Duration::from_millis(100),
        }
    }
}

/// Opens the store named by `url`: `memory:`, `file:DIR`, `sqlite:PATH` or
/// `postgres://user:password@host:port/db?sslmode=…`.
///
/// # Errors
/// `Open` with a message naming the `store` setting and what to change.
pub async fn open(url: &str, options: &StoreOptions) -> Result<Arc<dyn Store>, StoreError> {
    if url == "memory:" || url == "memory" {
        return Ok(Arc::new(MemoryStore::new(options.retention, options.clock.clone())));
    }
    if let Some(dir) = url.strip_prefix("file:") {
        let dir = dir.strip_prefix("//").unwrap_or(dir);
        return Ok(Arc::new(FileStore::open(dir, options.retention, options.clock.clone()).await?));
    }
    if let Some(path) = url.strip_prefix("sqlite:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        return Ok(Arc::new(SqliteStore::open(path, options).await?));
    }
    if is_postgres(url) {
        return Ok(Arc::new(PostgresStore::open(url, options).await?));
    }
    let problem =
        check_url(url).err().unwrap_or_else(|| format!("{:?} is not a store URL; {URL_FORMS}", redact_url(url)));
    Err(StoreError::Open(format!("store: {problem}")))
}

const URL_FORMS: &str = "use memory:, file:DIR, sqlite:PATH or postgres://user:password@host:port/db";

/// Checks that `url` names a kind of store [`open`] knows, without opening
/// anything (`config` runs it, so a wrong URL is a config error).
///
/// # Errors
/// What is wrong, with the URL's password masked, naming the forms.
pub fn check_url(url: &str) -> Result<(), String> {
    let shown = redact_url(url);
    if url == "memory:" || url == "memory" || is_postgres(url) {
        return Ok(());
    }
    if url.starts_with("memory:") {
        return Err(format!("{shown:?}: memory: takes nothing after the colon; {URL_FORMS}"));
    }
    for (scheme, what) in [("file:", "a directory"), ("sqlite:", "a file path")] {
        if let Some(rest) = url.strip_prefix(scheme) {
            if rest.strip_prefix("//").unwrap_or(rest).is_empty() {
                return Err(format!("{shown:?}: {scheme} needs {what} after it; {URL_FORMS}"));
            }
            return Ok(());
        }
    }
    Err(format!("{shown:?} is not a store URL; {URL_FORMS}"))
}

/// Applies the schema migrations of the store at `url` (opening it does)
/// and closes it again: `crest migrate`.
///
/// # Errors
/// As [`open`].
pub async fn migrate(url: &str, options: &StoreOptions) -> Result<&'static str, StoreError> {
    let store = open(url, options).await?;
    let kind = store.kind();
    let not_ready = store.readiness();
    store.close().await;
    match not_ready {
        Some(not) => Err(StoreError::Open(not.detail)),
        None => Ok(kind),
    }
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// A store URL safe to log: a `user:password@` part and any `password=`
/// query parameter are masked.
pub fn redact_url(url: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &base[..scheme], &base[at + 1..])
        }
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => p.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_credentials() {
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://***@h/db");
        assert_eq!(redact_url("sqlite:./data/crest.db"), "sqlite:./data/crest.db");
    }
}
