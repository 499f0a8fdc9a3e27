//! PATCH body: bytes -> JSON -> `Patch::from_json`. An accepted patch
//! survives `to_json` (as a value and as JSON text) unchanged.
#![no_main]

use crest::domain::Patch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(patch) = Patch::from_json(&value) else {
        return;
    };
    let json = patch.to_json();
    let again = Patch::from_json(&json).unwrap_or_else(|e| panic!("to_json of {patch:?} is {json} and fails: {e}"));
    assert_eq!(again, patch, "to_json value round trip");
    let text = json.to_string();
    let reparsed: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("to_json text {text:?} does not parse: {e}"));
    let again = Patch::from_json(&reparsed).unwrap_or_else(|e| panic!("to_json text {text} fails: {e}"));
    assert_eq!(again, patch, "to_json text round trip");
});
