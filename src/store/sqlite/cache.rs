//! The SQLite store's in-memory copies of committed dimensions, in shards.
//! A copy is put in only after its commit, by the holder of the id's lock,
//! so GETs of cached dimensions touch no file at all.

use crate::domain::{Dimension, DimensionId, IdMap};
use std::sync::{Mutex, PoisonError};

/// Cached dimensions, at most (about 400 bytes each); beyond it reads go to
/// SQLite. Split in shards so that threads rarely wait for each other.
const CACHE_ENTRIES: usize = 4096;
pub(super) const CACHE_SHARDS: usize = 16;
/// When a shard is full, one new dimension in this many takes the place of
/// a kept one: the kept ones follow what is read, without every read of a
/// dimension spread over far more than fit (1,000,000 read at random)
/// paying to copy it in and drop another.
const REPLACE_EVERY: u64 = 8;

pub(super) type Shard = Mutex<Entries>;

#[derive(Default)]
pub(super) struct Entries {
    map: IdMap<Dimension>,
    /// New dimensions met while the shard was full.
    turned_away: u64,
}

/// An empty cache.
pub(super) fn shards() -> Box<[Shard]> {
    (0..CACHE_SHARDS).map(|_| Mutex::default()).collect()
}

pub(super) fn cached(shard: &Shard, id: &DimensionId) -> Option<Dimension> {
    shard.lock().unwrap_or_else(PoisonError::into_inner).map.get(id).cloned()
}

/// Puts (Some) or drops (None) the id's cached copy. The caller holds the
/// id's lock and `value` is what is committed.
pub(super) fn remember(shard: &Shard, id: &DimensionId, value: Option<&Dimension>) {
    let mut entries = shard.lock().unwrap_or_else(PoisonError::into_inner);
    let Entries { map, turned_away } = &mut *entries;
    match value {
        Some(d) => {
            if let Some(kept) = map.get_mut(id) {
                kept.clone_from(d);
                return;
            }
            if map.len() >= CACHE_ENTRIES / CACHE_SHARDS {
                *turned_away += 1;
                if !turned_away.is_multiple_of(REPLACE_EVERY) {
                    return;
                }
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
        shard.lock().unwrap_or_else(PoisonError::into_inner).map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Capacity, Defaults};

    fn dimension(n: usize) -> (DimensionId, Dimension) {
        let id = DimensionId::parse(&format!("d{n}")).unwrap();
        (id.clone(), Dimension { revision: 1, ..Dimension::new(id, &Defaults::default()) })
    }

    #[test]
    fn a_full_shard_lets_one_new_dimension_in_eight_in_and_keeps_updating_its_own() {
        let (shard, cap) = (Shard::default(), CACHE_ENTRIES / CACHE_SHARDS);
        for n in 0..cap {
            let (id, d) = dimension(n);
            remember(&shard, &id, Some(&d));
        }
        let admitted: Vec<bool> = (cap..cap + 16)
            .map(|n| {
                let (id, d) = dimension(n);
                remember(&shard, &id, Some(&d));
                cached(&shard, &id).is_some()
            })
            .collect();
        assert_eq!(admitted.iter().filter(|a| **a).count(), 2, "{admitted:?}");
        assert_eq!(shard.lock().unwrap().map.len(), cap);
        // A kept dimension is replaced by its committed value, full or not.
        let kept = shard.lock().unwrap().map.keys().next().cloned().unwrap();
        let mut changed = cached(&shard, &kept).unwrap();
        changed.desired_capacity = Capacity::new(9.0).unwrap();
        remember(&shard, &kept, Some(&changed));
        assert_eq!(cached(&shard, &kept), Some(changed));
        remember(&shard, &kept, None);
        assert_eq!(cached(&shard, &kept), None);
    }
}
