//! The SQLite store's in-memory copies of committed dimensions, in shards.
//! A copy is put in only after its commit, by the holder of the id's lock,
//! so GETs of cached dimensions touch no file at all.

use crate::domain::{Dimension, DimensionId, IdMap};
use std::sync::{Mutex, PoisonError};

/// Cached dimensions, at most (about 400 bytes each); beyond it reads go to
/// SQLite. Split in shards so that threads rarely wait for each other.
const CACHE_ENTRIES: usize = 4096;
pub(super) const CACHE_SHARDS: usize = 16;

pub(super) type Shard = Mutex<IdMap<Dimension>>;

/// An empty cache.
pub(super) fn shards() -> Box<[Shard]> {
    (0..CACHE_SHARDS).map(|_| Mutex::new(IdMap::default())).collect()
}

pub(super) fn cached(shard: &Shard, id: &DimensionId) -> Option<Dimension> {
    shard.lock().unwrap_or_else(PoisonError::into_inner).get(id).cloned()
}

/// Puts (Some) or drops (None) the id's cached copy. The caller holds the
/// id's lock and `value` is what is committed.
pub(super) fn remember(shard: &Shard, id: &DimensionId, value: Option<&Dimension>) {
    let mut map = shard.lock().unwrap_or_else(PoisonError::into_inner);
    match value {
        Some(d) => {
            if map.len() >= CACHE_ENTRIES / CACHE_SHARDS && !map.contains_key(id) {
                let victim = map.keys().next().cloned();
                if let Some(victim) = victim {
                    map.remove(&victim);
                }
            }
            map.insert(id.clone(), d.clone());
        }
        None => {
            map.remove(id);
        }
    }
}

pub(super) fn clear(shards: &[Shard]) {
    for shard in shards {
        shard.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}
