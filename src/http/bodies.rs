//! The JSON answers of dimensions, kept by id: a GET of a dimension that has
//! not changed since its last answer sends the same bytes again instead of
//! encoding them again. Encoding was a tenth of a cached GET's instructions
//! (bench/README.md, "Where a cached GET's time goes"); an AAS poll loop
//! reads the same unchanged dimension over and over.
//!
//! An answer is reused only for a dimension equal in every field to the one
//! it was encoded from (revision, times and bounds included), so it can never
//! be stale, whatever changed it (another replica, a delete and a new
//! dimension with the same id). At most `ENTRIES` answers are kept (about
//! 400 bytes each); beyond that one is dropped for each new one.

use crate::domain::{Dimension, DimensionId, IdMap};
use axum::body::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

const ENTRIES: usize = 1024;
const SHARDS: usize = 16;
/// When full, one new answer in this many replaces a kept one.
const REPLACE_EVERY: u64 = 8;

type Shard = Mutex<IdMap<(Dimension, Bytes)>>;

pub struct Bodies {
    shards: Box<[Shard]>,
    /// New answers not kept for want of room.
    misses: AtomicU64,
}

impl Default for Bodies {
    fn default() -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::new(IdMap::default())).collect(), misses: AtomicU64::new(0) }
    }
}

impl Bodies {
    /// The JSON of `d`: the bytes of its last answer when it has not changed
    /// since, else newly encoded (and kept).
    ///
    /// # Errors
    /// The encoding failed (it does not for a `Dimension`).
    pub fn json(&self, d: &Dimension) -> Result<Bytes, serde_json::Error> {
        let shard = &self.shards[shard_of(d.id())];
        if let Some((seen, body)) = shard.lock().unwrap_or_else(PoisonError::into_inner).get(d.id())
            && seen == d
        {
            return Ok(body.clone());
        }
        let mut json = Vec::with_capacity(320);
        encode(d, &mut json)?;
        let body = Bytes::from(json);
        if d.revision == 0 {
            // Not stored (a HEAD or long-poll of an id not created yet).
            return Ok(body);
        }
        let mut map = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(kept) = map.get_mut(d.id()) {
            *kept = (d.clone(), body.clone());
        } else if map.len() < ENTRIES / SHARDS {
            map.insert(d.id().clone(), (d.clone(), body.clone()));
        } else if self.misses.fetch_add(1, Ordering::Relaxed).is_multiple_of(REPLACE_EVERY) {
            // Full: now and then one answer makes room for a new one, so
            // the kept ids follow the ones asked for, at a small cost when
            // reads are spread over many more ids than are kept.
            let victim = map.keys().next().cloned();
            if let Some(victim) = victim {
                map.remove(&victim);
            }
            map.insert(d.id().clone(), (d.clone(), body.clone()));
        }
        Ok(body)
    }

    /// Drops the answer of a deleted dimension.
    pub fn forget(&self, id: &DimensionId) {
        self.shards[shard_of(id)].lock().unwrap_or_else(PoisonError::into_inner).remove(id);
    }

    #[cfg(test)]
    fn kept(&self, id: &str) -> bool {
        let id = DimensionId::parse(id).unwrap();
        self.shards[shard_of(&id)].lock().unwrap_or_else(PoisonError::into_inner).contains_key(&id)
    }

    /// How many answers are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len()).sum()
    }
}

/// Writes the JSON of `d`: the same bytes as `serde_json::to_writer(d)`
/// (the tests hold them equal for any dimension), without serde's walk
/// through every byte of every key and value to escape it: about 1,700
/// instructions less per GET of a dimension read from the store
/// (`bench/README.md`, "Fourth round").
fn encode(d: &Dimension, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    out.extend_from_slice(b"{\"scalableTargetDimensionId\":");
    string(out, d.id().as_str())?;
    out.extend_from_slice(b",\"version\":");
    string(out, &d.version)?;
    out.extend_from_slice(b",\"resourceName\":");
    string(out, &d.resource_name)?;
    out.extend_from_slice(b",\"dimensionName\":");
    string(out, &d.dimension_name)?;
    out.extend_from_slice(b",\"desiredCapacity\":");
    serde_json::to_writer(&mut *out, &d.desired_capacity)?;
    out.extend_from_slice(b",\"actualCapacity\":");
    serde_json::to_writer(&mut *out, &d.actual_capacity)?;
    out.extend_from_slice(b",\"scalingStatus\":\"");
    out.extend_from_slice(d.scaling_status.as_str().as_bytes());
    out.push(b'"');
    if let Some(reason) = &d.failure_reason {
        out.extend_from_slice(b",\"failureReason\":");
        string(out, reason)?;
    }
    out.push(b'}');
    Ok(())
}

/// A JSON string: copied as it is when nothing in it needs escaping (no
/// control character, quote or backslash), else escaped by serde_json.
fn string(out: &mut Vec<u8>, s: &str) -> Result<(), serde_json::Error> {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(out, s)
    }
}

/// The shard of `id`: a cheap mix of its last bytes (the map inside hashes
/// the whole id with a keyed hash; an id that picks a shard on purpose only
/// shares a lock).
fn shard_of(id: &DimensionId) -> usize {
    let bytes = id.as_str().as_bytes();
    let tail = &bytes[bytes.len().saturating_sub(8)..];
    let mut word = [0u8; 8];
    word[..tail.len()].copy_from_slice(tail);
    let mixed = u64::from_le_bytes(word).wrapping_add(bytes.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    // The top bits are the best mixed; SHARDS is a power of two.
    (mixed >> 60) as usize % SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Capacity, Defaults};

    /// A stored dimension (revision 1).
    fn dimension(id: &str) -> Dimension {
        Dimension { revision: 1, ..Dimension::new(DimensionId::parse(id).unwrap(), &Defaults::default()) }
    }

    #[test]
    fn an_unchanged_dimension_gets_the_same_bytes_and_a_changed_one_new_bytes() {
        let bodies = Bodies::default();
        let mut d = dimension("a");
        let first = bodies.json(&d).unwrap();
        let again = bodies.json(&d).unwrap();
        assert_eq!(first.as_ptr(), again.as_ptr(), "the kept answer, not a new encoding");
        assert_eq!(first, serde_json::to_vec(&d).unwrap());
        // Same revision, other content (e.g. deleted and created again elsewhere).
        d.desired_capacity = Capacity::new(7.0).unwrap();
        let changed = bodies.json(&d).unwrap();
        assert_eq!(changed, serde_json::to_vec(&d).unwrap());
        assert!(std::str::from_utf8(&changed).unwrap().contains("\"desiredCapacity\":7.0"));
    }

    proptest::proptest! {
        /// Byte for byte what serde writes, whatever the strings and numbers.
        #[test]
        fn encode_writes_what_serde_writes(
            id in "[a-z0-9.:-]{1,20}|\\PC{1,20}",
            // Plain text, text with what JSON escapes, and any text at all.
            texts in proptest::collection::vec(r#"[a-zA-Z0-9 ./_-]{0,12}|[a-z"\\\t\n\x01\x1f\x7f\u{e9}\u{2028}]{0,12}|.{0,12}"#, 3),
            desired in 0.0f64..1e300,
            actual in proptest::prelude::any::<u32>(),
            status in 0usize..4,
            reason in proptest::option::of(r#"[a-z"\\\n]{0,12}|.{0,12}"#),
        ) {
            let Ok(id) = DimensionId::stored(&id) else { return Ok(()) };
            let mut d = Dimension::new(id, &Defaults::default());
            d.version = texts[0].as_str().into();
            d.resource_name = texts[1].as_str().into();
            d.dimension_name = texts[2].as_str().into();
            d.desired_capacity = Capacity::new(desired).unwrap();
            d.actual_capacity = Capacity::new(f64::from(actual) / 8.0).unwrap();
            d.scaling_status = crate::domain::ScalingStatus::ALL[status];
            d.failure_reason = reason;
            let mut ours = Vec::new();
            encode(&d, &mut ours).unwrap();
            proptest::prop_assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&d).unwrap());
        }
    }

    #[test]
    fn at_most_entries_answers_are_kept() {
        let bodies = Bodies::default();
        for i in 0..(4 * ENTRIES) {
            bodies.json(&dimension(&format!("id-{i}"))).unwrap();
        }
        assert!(bodies.len() <= ENTRIES, "{} kept", bodies.len());
        assert!(bodies.len() >= ENTRIES / 2, "{} kept: the shards are used", bodies.len());
        // Beyond the limit an id is still answered, with its own bytes.
        let late = dimension("late-id");
        assert_eq!(bodies.json(&late).unwrap(), serde_json::to_vec(&late).unwrap());
        // Not stored yet: answered, never kept.
        let before = bodies.len();
        let mut unstored = dimension("not-stored");
        unstored.revision = 0;
        assert_eq!(bodies.json(&unstored).unwrap(), serde_json::to_vec(&unstored).unwrap());
        // Full: new ids now and then replace kept ones, the count stays.
        for i in 0..(4 * ENTRIES) {
            bodies.json(&dimension(&format!("new-{i}"))).unwrap();
        }
        assert!(bodies.len() <= ENTRIES && bodies.len() >= before, "{} kept", bodies.len());
        let replaced = (0..4 * ENTRIES).filter(|i| bodies.kept(&format!("new-{i}"))).count();
        assert!(replaced > 0, "some new ids were kept");
        assert!(!bodies.kept("not-stored"));
        // A deleted id makes room.
        let first = (0..4 * ENTRIES).map(|i| format!("new-{i}")).find(|id| bodies.kept(id)).unwrap();
        let before = bodies.len();
        bodies.forget(&DimensionId::parse(&first).unwrap());
        assert_eq!(bodies.len(), before - 1, "a kept id is dropped");
    }
}
