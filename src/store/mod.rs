//! The `Store` trait and `open(url)`. A store keeps dimensions and owns the
//! atomicity of every change: `update` runs the pure transition inside the
//! store's own lock or transaction, so concurrent requests never lose an update.

mod file;
mod memory;
mod sqlite;

pub use file::FileStore;
pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

use crate::domain::{Dimension, DimensionId, Outcome, TransitionError};
use async_trait::async_trait;
use std::sync::Arc;

/// A pure transition: the stored dimension (None if absent) to the outcome.
/// It may run more than once (retries), so it must not have side effects.
pub type Transition<'a> =
    dyn Fn(Option<&Dimension>) -> Result<Outcome, TransitionError> + Send + Sync + 'a;

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

/// Where dimensions live. Implementations: memory, file, sqlite.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads a dimension without creating it.
    ///
    /// # Errors
    /// `Unavailable` or `Corrupt`.
    async fn get(&self, id: &DimensionId) -> Result<Option<Dimension>, StoreError>;

    /// Atomically reads the dimension, applies `transition` and, when the
    /// outcome says so, writes the result durably before returning it.
    ///
    /// # Errors
    /// `Rejected` when the transition refuses; `Store` when nothing was written.
    async fn update(
        &self,
        id: &DimensionId,
        transition: &Transition<'_>,
    ) -> Result<Outcome, UpdateError>;

    /// Checks that the store answers (for `/readyz`).
    ///
    /// # Errors
    /// `Unavailable` when it does not.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Flushes and releases the store (locks, connections). Idempotent.
    async fn close(&self);

    /// A short name for logs: "memory", "file", "sqlite".
    fn kind(&self) -> &'static str;
}

/// Applies `transition` with a read-only fast path: when the transition would
/// change nothing on the current state, no lock or transaction is taken.
/// Otherwise the store re-reads and re-applies under its lock.
///
/// # Errors
/// As [`Store::update`].
pub async fn change(
    store: &dyn Store,
    id: &DimensionId,
    transition: &Transition<'_>,
) -> Result<Outcome, UpdateError> {
    let current = store.get(id).await?;
    let outcome = transition(current.as_ref())?;
    if !outcome.must_write() {
        return Ok(outcome);
    }
    store.update(id, transition).await
}

/// Opens the store named by `url`: `memory:`, `file:DIR` or `sqlite:PATH`.
///
/// # Errors
/// `Open` with a message naming the `store` setting and what to change.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url == "memory:" || url == "memory" {
        return Ok(Arc::new(MemoryStore::default()));
    }
    if let Some(dir) = url.strip_prefix("file:") {
        let dir = dir.strip_prefix("//").unwrap_or(dir);
        return Ok(Arc::new(FileStore::open(dir).await?));
    }
    if let Some(path) = url.strip_prefix("sqlite:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        return Ok(Arc::new(SqliteStore::open(path).await?));
    }
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        return Err(StoreError::Open(
            "store: postgres is not available in this build yet; use sqlite:PATH or file:DIR"
                .into(),
        ));
    }
    Err(StoreError::Open(format!(
        "store: unknown store URL {:?}; use memory:, file:DIR or sqlite:PATH",
        redact_url(url)
    )))
}

/// A store URL safe to log: any `user:password@` part is masked.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_credentials() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://***@h/db"
        );
        assert_eq!(
            redact_url("sqlite:./data/crest.db"),
            "sqlite:./data/crest.db"
        );
    }
}
