//! The change history of a dimension: who changed which field from what to
//! what, and when. Stores write one entry per stored change, in the same
//! lock or transaction as the change itself.

use super::change::Outcome;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Who made a change: the HTTP method, the caller's identity when known
/// (client certificate or token name) and the request id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    pub method: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_id: Option<String>,
}

impl Source {
    /// A source with only a method (start-up registration, tests).
    pub fn method(method: &str) -> Self {
        Self { method: method.to_owned(), ..Self::default() }
    }
}

/// One changed field as stored: `old -> new`, JSON values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldChange {
    pub field: String,
    pub old: Value,
    pub new: Value,
}

/// One stored change of a dimension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// The revision this change produced.
    pub revision: u64,
    /// When it was stored (RFC 3339, UTC, milliseconds).
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub time: SystemTime,
    /// True for the change that created the dimension.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub created: bool,
    pub source: Source,
    pub changes: Vec<FieldChange>,
}

impl HistoryEntry {
    /// The entry for a stored `outcome`.
    pub fn of(outcome: &Outcome, source: &Source, time: SystemTime) -> Self {
        Self {
            revision: outcome.dimension.revision,
            time,
            created: outcome.created,
            source: source.clone(),
            changes: outcome
                .changes
                .iter()
                .map(|c| FieldChange { field: c.field.to_owned(), old: c.old.clone(), new: c.new.clone() })
                .collect(),
        }
    }

    /// Milliseconds since the Unix epoch (the SQL column).
    pub fn time_ms(&self) -> i64 {
        to_ms(self.time)
    }
}

/// How much history a store keeps per dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// At most this many entries per dimension (the newest).
    pub keep: u64,
    /// Entries older than this are not shown, and are deleted on the
    /// dimension's next change.
    pub max_age: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self { keep: 1000, max_age: Duration::from_secs(30 * 24 * 3600) }
    }
}

impl Retention {
    /// The oldest time still shown, as of `now`.
    pub fn cutoff(&self, now: SystemTime) -> SystemTime {
        now.checked_sub(self.max_age).unwrap_or(UNIX_EPOCH)
    }

    /// Entries at or below this revision are past the count limit.
    pub fn drop_through(&self, newest: u64) -> u64 {
        newest.saturating_sub(self.keep)
    }
}

/// Which page of a dimension's history to read: newest first, revisions
/// strictly below `before`, at most `limit` entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryQuery {
    pub before: Option<u64>,
    pub limit: u64,
}

impl HistoryQuery {
    /// True when `entry` belongs on this page (before paging by `limit`).
    pub fn admits(&self, entry: &HistoryEntry, retention: &Retention, now: SystemTime) -> bool {
        self.before.is_none_or(|b| entry.revision < b) && entry.time >= retention.cutoff(now)
    }
}

/// Milliseconds since the Unix epoch, saturating.
pub fn to_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The time `ms` milliseconds after the Unix epoch (negative: the epoch).
pub fn from_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::SystemTime;

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_millis(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(revision: u64, time: SystemTime) -> HistoryEntry {
        HistoryEntry { revision, time, created: false, source: Source::method("PATCH"), changes: Vec::new() }
    }

    #[test]
    fn round_trips_through_json_with_millisecond_times() {
        let e = HistoryEntry {
            revision: 7,
            time: from_ms(1_795_000_000_123),
            created: true,
            source: Source { method: "PATCH".into(), client: Some("CN=aas".into()), request_id: Some("r1".into()) },
            changes: vec![FieldChange { field: "desiredCapacity".into(), old: 1.0.into(), new: 2.0.into() }],
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["time"], "2026-11-18T11:06:40.123Z");
        assert_eq!(json["source"]["requestId"], "r1");
        assert_eq!(serde_json::from_value::<HistoryEntry>(json).unwrap(), e);
    }

    #[test]
    fn retention_bounds_count_and_age() {
        let r = Retention { keep: 3, max_age: Duration::from_secs(60) };
        assert_eq!(r.drop_through(10), 7);
        assert_eq!(r.drop_through(2), 0);
        let now = from_ms(1_000_000);
        let q = HistoryQuery { before: Some(5), limit: 10 };
        assert!(q.admits(&entry(4, from_ms(1_000_000 - 59_000)), &r, now));
        assert!(!q.admits(&entry(4, from_ms(1_000_000 - 61_000)), &r, now), "too old");
        assert!(!q.admits(&entry(5, now), &r, now), "not before 5");
    }
}
