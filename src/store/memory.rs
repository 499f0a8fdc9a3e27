//! `memory:` — a map behind a mutex, for tests. Nothing survives a restart.

use super::{ListQuery, Store, StoreError, Transition, UpdateError, record};
use crate::clock::Clock;
use crate::domain::{Dimension, DimensionId, HistoryEntry, HistoryQuery, Outcome, Retention, Source};
use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Default)]
pub struct MemoryStore {
    map: Mutex<HashMap<DimensionId, Entry>>,
    secrets: Mutex<HashMap<String, Vec<u8>>>,
    retention: Retention,
    clock: Clock,
}

#[derive(Default)]
struct Entry {
    dimension: Option<Dimension>,
    history: VecDeque<HistoryEntry>,
}

impl MemoryStore {
    pub fn new(retention: Retention, clock: Clock) -> Self {
        Self { retention, clock, ..Self::default() }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<DimensionId, Entry>> {
        // A panic while holding the lock cannot leave a half-written entry
        // (the writes are the last steps), so a poisoned map is consistent.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, id: &DimensionId) -> Result<Option<Dimension>, StoreError> {
        Ok(self.lock().get(id).and_then(|e| e.dimension.clone()))
    }

    async fn update(
        &self,
        id: &DimensionId,
        transition: &Transition<'_>,
        source: &Source,
    ) -> Result<Outcome, UpdateError> {
        let mut map = self.lock();
        let mut outcome = transition(map.get(id).and_then(|e| e.dimension.as_ref()))?;
        if outcome.must_write() {
            let entry = record(&mut outcome, source, self.clock.now());
            let slot = map.entry(id.clone()).or_default();
            let cutoff = self.retention.cutoff(entry.time);
            let drop_through = self.retention.drop_through(entry.revision);
            slot.history.retain(|h| h.revision > drop_through && h.time >= cutoff);
            slot.history.push_back(entry);
            slot.dimension = Some(outcome.dimension.clone());
        }
        Ok(outcome)
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Dimension>, StoreError> {
        let map = self.lock();
        let mut page: Vec<Dimension> =
            map.values().filter_map(|e| e.dimension.as_ref()).filter(|d| query.admits(d)).cloned().collect();
        page.sort_by(|a, b| a.id().cmp(b.id()));
        page.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
        Ok(page)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        // An entry exists only while its dimension does (see update, delete).
        Ok(self.lock().len() as u64)
    }

    async fn delete(&self, id: &DimensionId) -> Result<bool, StoreError> {
        Ok(self.lock().remove(id).is_some_and(|e| e.dimension.is_some()))
    }

    async fn history(&self, id: &DimensionId, query: HistoryQuery) -> Result<Vec<HistoryEntry>, StoreError> {
        let now = self.clock.now();
        let map = self.lock();
        let Some(entry) = map.get(id) else { return Ok(Vec::new()) };
        let page = entry.history.iter().rev().filter(|h| query.admits(h, &self.retention, now));
        Ok(page.take(usize::try_from(query.limit).unwrap_or(usize::MAX)).cloned().collect())
    }

    async fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.secrets.lock().unwrap_or_else(PoisonError::into_inner).get(name).cloned())
    }

    async fn put_secret(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.secrets.lock().unwrap_or_else(PoisonError::into_inner).insert(name.to_owned(), value.to_vec());
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
