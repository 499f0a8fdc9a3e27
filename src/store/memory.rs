//! `memory:` — a map behind a mutex, for tests. Nothing survives a restart.

use super::{Store, StoreError, Transition, UpdateError};
use crate::domain::{Dimension, DimensionId, Outcome};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
pub struct MemoryStore {
    map: Mutex<HashMap<DimensionId, Dimension>>,
    secrets: Mutex<HashMap<String, Vec<u8>>>,
}

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, HashMap<DimensionId, Dimension>> {
        // A panic while holding the lock cannot leave a half-written entry
        // (insert is the last step), so a poisoned map is still consistent.
        self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, id: &DimensionId) -> Result<Option<Dimension>, StoreError> {
        Ok(self.lock().get(id).cloned())
    }

    async fn update(&self, id: &DimensionId, transition: &Transition<'_>) -> Result<Outcome, UpdateError> {
        let mut map = self.lock();
        let outcome = transition(map.get(id))?;
        if outcome.must_write() {
            map.insert(id.clone(), outcome.dimension.clone());
        }
        Ok(outcome)
    }

    async fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.secrets.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(name).cloned())
    }

    async fn put_secret(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.secrets.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(name.to_owned(), value.to_vec());
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn close(&self) {}

    fn kind(&self) -> &'static str {
        "memory"
    }
}
