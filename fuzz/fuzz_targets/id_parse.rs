//! `DimensionId::parse` on arbitrary UTF-8: never panics, and every accepted
//! id keeps the documented invariants.
#![no_main]

use crest::domain::DimensionId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    let Ok(id) = DimensionId::parse(raw) else {
        return;
    };
    let s = id.as_str();
    assert_eq!(s, raw, "an accepted id is kept as is");
    assert!(!s.is_empty(), "accepted an empty id");
    assert!(s.len() <= 1600, "accepted an id of {} bytes", s.len());
    assert!(!s.contains('/') && !s.contains('\\'), "accepted a separator: {s:?}");
    assert!(!s.chars().any(char::is_control), "accepted a control character: {s:?}");
    assert!(s != "." && s != "..", "accepted {s:?}");
    // Display and parse agree.
    assert_eq!(DimensionId::parse(&id.to_string()).ok(), Some(id.clone()));
});
