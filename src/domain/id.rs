//! `DimensionId`: the name of a dimension, one path segment. Parsed once at
//! the edge with every rule (`parse`); what a store already holds is read
//! back with the rules that keep it safe to log and to address (`stored`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// The longest id we accept, in bytes: an AAS ResourceId may be up to 1,600
/// characters, URL prefix included. Ids are never file names (the file store
/// hashes them), so no file-system limit applies.
pub const MAX_ID_BYTES: usize = 1600;

/// One path segment naming a dimension: 1–1,600 bytes, no control or
/// invisible characters, no `/` or `\`, not `.` or `..`, and not a word the
/// router owns (`watch`). Never used as a file name as is. Shared, so a
/// clone (a cache key, a log field) copies no bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DimensionId(Arc<str>);

/// A map keyed by ids for the maps every GET goes through (several lookups
/// each): foldhash in place of std's SipHash, which costs several times as
/// much per id. Seeded at random per map, so ids cannot be chosen to land
/// in one bucket; and every such map is capped.
pub type IdMap<V> = std::collections::HashMap<DimensionId, V, foldhash::fast::RandomState>;

/// Why a string is not a `DimensionId`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("scalableTargetDimensionId must not be empty")]
    Empty,
    #[error("scalableTargetDimensionId is {0} bytes long; the limit is {MAX_ID_BYTES}")]
    TooLong(usize),
    #[error("scalableTargetDimensionId must not contain '/' or '\\'")]
    Separator,
    #[error("scalableTargetDimensionId must not contain control characters")]
    Control,
    #[error("scalableTargetDimensionId must not be '.' or '..'")]
    Dots,
    #[error("scalableTargetDimensionId must not contain invisible characters (found U+{:04X}); ids must not look \
        alike: remove zero-width, joiner, soft-hyphen, filler, variation-selector and tag characters", u32::from(*.0))]
    Invisible(char),
    #[error(
        "scalableTargetDimensionId must not be {0:?}, however it is percent-encoded: \
        /v1/scalableTargetDimensions/{0} is a route of the API, not a dimension; choose another id"
    )]
    Reserved(&'static str),
}

/// Words the router owns: `/v1/scalableTargetDimensions/watch` is the change stream.
pub const RESERVED_IDS: [&str; 1] = ["watch"];

impl DimensionId {
    /// Parses an id taken from a (percent-decoded) path segment.
    ///
    /// # Errors
    /// Returns the first rule the string breaks.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        if raw.is_empty() {
            return Err(IdError::Empty);
        }
        if raw.len() > MAX_ID_BYTES {
            return Err(IdError::TooLong(raw.len()));
        }
        if raw == "." || raw == ".." {
            return Err(IdError::Dots);
        }
        if let Some(word) = RESERVED_IDS.into_iter().find(|w| *w == raw) {
            return Err(IdError::Reserved(word));
        }
        // Printable ASCII and spaces, but no separator (almost every id):
        // nothing below can object to it.
        if raw.bytes().all(|b| matches!(b, b' '..=b'~') && b != b'/' && b != b'\\') {
            return Ok(Self(raw.into()));
        }
        for c in raw.chars() {
            if c == '/' || c == '\\' {
                return Err(IdError::Separator);
            }
            if c.is_control() || is_line_or_bidi_control(c) {
                return Err(IdError::Control);
            }
            if is_invisible(c) {
                return Err(IdError::Invisible(c));
            }
        }
        Ok(Self(raw.into()))
    }

    /// Reads an id a store already holds. It may predate a rule `parse`
    /// added later (a reserved word, an invisible character), and must stay
    /// readable, listable and deletable by a store operation; the rules that
    /// keep it safe to log and to use as a key (length, separators, control
    /// characters, `.`/`..`) still hold.
    ///
    /// # Errors
    /// The first of those rules the string breaks.
    pub fn stored(raw: &str) -> Result<Self, IdError> {
        match Self::parse(raw) {
            Err(IdError::Reserved(_) | IdError::Invisible(_)) => Ok(Self(raw.into())),
            other => other,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id's text, shared (no copy).
    #[must_use]
    pub fn shared(&self) -> Arc<str> {
        self.0.clone()
    }
}

/// Unicode line/paragraph separators and bidi controls are not `is_control`
/// but can still rewrite a log line; treat them as control characters.
fn is_line_or_bidi_control(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// Invisible or format characters: two ids that differ in them can look the same. The union of
/// Unicode 16.0 general category Cf (`extracted/DerivedGeneralCategory.txt`) and
/// `Default_Ignorable_Code_Point` (`DerivedCoreProperties.txt`: the friends that are not Cf, and
/// reserved code points). A dozen ranges need no crate; `ID_PATTERN` (`http/openapi.rs`) has them too.
fn is_invisible(c: char) -> bool {
    matches!(c,
        // Cf: soft hyphen; Arabic number signs, letter mark, end of ayah, pound, piastre marks; Syriac SAM
        '\u{00ad}' | '\u{0600}'..='\u{0605}' | '\u{061c}' | '\u{06dd}' | '\u{070f}' | '\u{0890}'..='\u{0891}'
        | '\u{08e2}'
        // Mn combining grapheme joiner; Lo Hangul fillers; Mn Khmer inherent vowels; Mongolian FVS1-4 (Mn), MVS
        | '\u{034f}' | '\u{115f}'..='\u{1160}' | '\u{3164}' | '\u{ffa0}' | '\u{17b4}'..='\u{17b5}'
        | '\u{180b}'..='\u{180f}'
        // Cf: zero width space, (non-)joiner, LRM, RLM; bidi embeddings; word joiner .. nominal digit shapes (2065: Cn)
        | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}'
        // Mn variation selectors 1-16; Cf zero width no-break space; Cn reserved, Cf interlinear annotation
        | '\u{fe00}'..='\u{fe0f}' | '\u{feff}' | '\u{fff0}'..='\u{fffb}'
        // Cf: Kaithi number signs; Egyptian hieroglyph, shorthand and musical format controls; language tag and
        // tag characters, with Mn variation selectors 17-256 and reserved (Cn) code points in between
        | '\u{110bd}' | '\u{110cd}' | '\u{13430}'..='\u{1343f}' | '\u{1bca0}'..='\u{1bca3}' | '\u{1d173}'..='\u{1d17a}'
        | '\u{e0000}'..='\u{e0fff}'
    )
}

impl fmt::Display for DimensionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DimensionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Serialize for DimensionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Stored documents are read with [`DimensionId::stored`].
impl<'de> Deserialize<'de> for DimensionId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::stored(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_ascii_character_is_judged_as_the_rules_say() {
        // Printable ASCII takes a shortcut in `parse`; it must agree with the rules.
        for b in 0u8..=127 {
            let c = char::from(b);
            let expected = match c {
                '/' | '\\' => Err(IdError::Separator),
                c if c.is_control() => Err(IdError::Control),
                _ => Ok(()),
            };
            assert_eq!(DimensionId::parse(&format!("a{c}b")).map(drop), expected, "byte {b:#04x}");
        }
    }

    #[test]
    fn ids_follow_the_contract() {
        assert!(DimensionId::parse("1-23456789").is_ok());
        assert!(DimensionId::parse("a b:c%d.e~").is_ok());
        assert!(DimensionId::parse("é…").is_ok());
        assert_eq!(DimensionId::parse(""), Err(IdError::Empty));
        assert_eq!(DimensionId::parse("."), Err(IdError::Dots));
        assert_eq!(DimensionId::parse(".."), Err(IdError::Dots));
        assert!(DimensionId::parse("...").is_ok());
        assert_eq!(DimensionId::parse("../etc"), Err(IdError::Separator));
        assert_eq!(DimensionId::parse("a\\b"), Err(IdError::Separator));
        assert_eq!(DimensionId::parse("a\nb"), Err(IdError::Control));
        assert_eq!(DimensionId::parse("a\u{0}b"), Err(IdError::Control));
        assert_eq!(DimensionId::parse("a\u{2028}b"), Err(IdError::Control));
        assert!(DimensionId::parse(&"x".repeat(1600)).is_ok());
        assert_eq!(DimensionId::parse(&"x".repeat(1601)), Err(IdError::TooLong(1601)));
        assert_eq!(
            IdError::TooLong(1601).to_string(),
            "scalableTargetDimensionId is 1601 bytes long; the limit is 1600"
        );
        // 801 two-byte characters are 1,602 bytes: the limit is in bytes.
        assert!(DimensionId::parse(&"é".repeat(800)).is_ok());
        assert_eq!(DimensionId::parse(&"é".repeat(801)), Err(IdError::TooLong(1602)));
    }

    /// What a store holds is read back even if a later rule refuses it as a
    /// new id; the safety rules still hold.
    #[test]
    fn stored_ids_predating_a_rule_stay_readable() {
        assert_eq!(DimensionId::parse("watch"), Err(IdError::Reserved("watch")));
        assert_eq!(DimensionId::stored("watch").map(|i| i.to_string()), Ok("watch".to_owned()));
        assert!(DimensionId::stored("a\u{200b}b").is_ok());
        let back: DimensionId = serde_json::from_str("\"watch\"").unwrap();
        assert_eq!(back.as_str(), "watch", "documents deserialise as stored");
        for bad in ["", ".", "..", "a/b", "a\\b", "a\nb", "a\u{2028}b"] {
            assert!(DimensionId::stored(bad).is_err(), "{bad:?}");
        }
        assert!(DimensionId::stored(&"x".repeat(1600)).is_ok());
        assert_eq!(DimensionId::stored(&"x".repeat(1601)), Err(IdError::TooLong(1601)));
    }

    /// The characters of the issue and each end of every range; visible neighbours stay allowed.
    #[test]
    fn invisible_characters_are_refused_by_name() {
        let invisible = "\u{200b}\u{200c}\u{200d}\u{2060}\u{00ad}\u{034f}\u{115f}\u{1160}\u{3164}\u{ffa0}\u{e0001}\
            \u{e0020}\u{e007f}\u{0600}\u{0605}\u{061c}\u{06dd}\u{070f}\u{0890}\u{0891}\u{08e2}\u{17b4}\u{17b5}\
            \u{180b}\u{180e}\u{180f}\u{2064}\u{2065}\u{206a}\u{206f}\u{fe00}\u{fe0f}\u{fff0}\u{fffb}\u{110bd}\
            \u{110cd}\u{13430}\u{1343f}\u{1bca0}\u{1bca3}\u{1d173}\u{1d17a}\u{e0000}\u{e0100}\u{e01ef}\u{e0fff}";
        for c in invisible.chars() {
            for raw in [format!("a{c}b"), format!("{c}"), format!("web{c}")] {
                assert_eq!(DimensionId::parse(&raw), Err(IdError::Invisible(c)), "{:04X}", u32::from(c));
            }
        }
        let message = IdError::Invisible('\u{200b}').to_string();
        assert!(message.contains("invisible characters (found U+200B); ids must not look alike"), "{message}");
        assert!(IdError::Invisible('\u{e0001}').to_string().contains("(found U+E0001)"));
        // Still control characters, as before: line separators and bidi controls.
        for c in ['\u{2028}', '\u{2029}', '\u{200e}', '\u{202e}', '\u{2066}', '\u{feff}'] {
            assert_eq!(DimensionId::parse(&format!("a{c}b")), Err(IdError::Control), "{:04X}", u32::from(c));
        }
        let visible = "\u{00ac}\u{00ae}\u{034e}\u{0350}\u{05ff}\u{115e}\u{1161}\u{3163}\u{3165}\u{ff9f}\u{ffa1}\u{fffc}\
            \u{fffd}\u{1bc9f}\u{1d172}\u{1d17b}\u{e1000}가👍 ";
        for raw in visible.chars().map(|c| format!("a{c}b")).chain(["x\u{301}".to_owned(), "...".to_owned()]) {
            assert!(DimensionId::parse(&raw).is_ok(), "{raw:?}");
        }
    }

    /// `watch` (say from `%77atch`) is never an id; ids that merely contain it are.
    #[test]
    fn router_words_are_not_ids() {
        assert_eq!(DimensionId::parse("watch"), Err(IdError::Reserved("watch")));
        let message = IdError::Reserved("watch").to_string();
        assert!(message.contains(r#"must not be "watch", however it is percent-encoded: "#), "{message}");
        assert!(message.ends_with("is a route of the API, not a dimension; choose another id"), "{message}");
        for raw in ["Watch", "WATCH", "watch2", "my-watch", "watch ", "watchdog"] {
            assert!(DimensionId::parse(raw).is_ok(), "{raw:?}");
        }
    }

    proptest! {
        #[test]
        fn parsed_ids_never_contain_a_separator_or_control(raw in any::<String>()) {
            if let Ok(id) = DimensionId::parse(&raw) {
                let s = id.as_str();
                prop_assert!(!s.contains('/') && !s.contains('\\'));
                prop_assert!(!s.chars().any(char::is_control));
                prop_assert!(!s.chars().any(is_invisible));
                prop_assert!(!RESERVED_IDS.contains(&s));
                prop_assert!(s != "." && s != "..");
                prop_assert!(!s.is_empty() && s.len() <= MAX_ID_BYTES);
                prop_assert_eq!(s, raw.as_str());
            }
        }
    }
}
