//! `DimensionId`, `Capacity`, `ScalingStatus` and `Dimension`: the resource of
//! CONTRACT.md, with every invariant checked once, at parse time.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest id we accept, in bytes.
pub const MAX_ID_BYTES: usize = 255;

/// One path segment naming a dimension: 1–255 bytes, no control or
/// invisible characters, no `/` or `\`, not `.` or `..`, and not a word the
/// router owns (`watch`). Never used as a file name as is.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DimensionId(String);

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
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
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

impl<'de> Deserialize<'de> for DimensionId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A capacity: a finite number >= 0, written as a JSON double.
#[derive(Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Capacity(f64);

impl Capacity {
    /// # Errors
    /// Returns the value back when it is negative, NaN or infinite.
    pub fn new(value: f64) -> Result<Self, f64> {
        if value.is_finite() && value >= 0.0 {
            // -0.0 would print as "-0.0": normalise it.
            Ok(Self(value + 0.0))
        } else {
            Err(value)
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Capacity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        Self::new(v).map_err(|v| serde::de::Error::custom(format!("capacity must be a finite number >= 0, got {v}")))
    }
}

impl fmt::Display for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Always show a decimal point, as the reference log and JSON do (2.0).
        if self.0.fract() == 0.0 && self.0.abs() < 1e15 { write!(f, "{:.1}", self.0) } else { write!(f, "{}", self.0) }
    }
}

impl fmt::Debug for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Where a scaling activity stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum ScalingStatus {
    Pending,
    InProgress,
    Successful,
    Failed,
}

impl ScalingStatus {
    pub const ALL: [ScalingStatus; 4] = [Self::Pending, Self::InProgress, Self::Successful, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::InProgress => "InProgress",
            Self::Successful => "Successful",
            Self::Failed => "Failed",
        }
    }

    /// Parses the exact (case-sensitive) name AAS uses.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

impl fmt::Display for ScalingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The values a dimension gets when it is created on first touch.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    pub version: String,
    pub resource_name: String,
    pub dimension_name: String,
    pub desired_capacity: Capacity,
    pub actual_capacity: Capacity,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            version: "MyVersion".into(),
            resource_name: "MyService".into(),
            dimension_name: "MyDimension".into(),
            desired_capacity: Capacity(1.0),
            actual_capacity: Capacity(1.0),
        }
    }
}

/// One scalable target dimension, as stored and as sent (field names and
/// order follow CONTRACT.md; `revision` is internal and not serialised).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dimension {
    #[schema(value_type = String, min_length = 1, max_length = 255)]
    pub scalable_target_dimension_id: DimensionId,
    pub version: String,
    pub resource_name: String,
    pub dimension_name: String,
    #[schema(value_type = f64, minimum = 0)]
    pub desired_capacity: Capacity,
    #[schema(value_type = f64, minimum = 0)]
    pub actual_capacity: Capacity,
    pub scaling_status: ScalingStatus,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failure_reason: Option<String>,
    /// Increases by one with every stored change; 0 before the first write.
    #[serde(skip)]
    pub revision: u64,
    /// When `scaling_status` last changed (stamped by the store; None when
    /// the store has no record of it).
    #[serde(skip)]
    pub status_since: Option<std::time::SystemTime>,
    /// Bounds on desiredCapacity set by the admin API (not sent to AAS).
    #[serde(skip)]
    pub min_capacity: Option<Capacity>,
    #[serde(skip)]
    pub max_capacity: Option<Capacity>,
    /// When the dimension was last stored (stamped by the store).
    #[serde(skip)]
    pub changed_at: Option<std::time::SystemTime>,
}

impl Dimension {
    /// A new dimension with the configured defaults, `Successful`.
    pub fn new(id: DimensionId, defaults: &Defaults) -> Self {
        Self {
            scalable_target_dimension_id: id,
            version: defaults.version.clone(),
            resource_name: defaults.resource_name.clone(),
            dimension_name: defaults.dimension_name.clone(),
            desired_capacity: defaults.desired_capacity,
            actual_capacity: defaults.actual_capacity,
            scaling_status: ScalingStatus::Successful,
            failure_reason: None,
            revision: 0,
            status_since: None,
            min_capacity: None,
            max_capacity: None,
            changed_at: None,
        }
    }

    pub fn id(&self) -> &DimensionId {
        &self.scalable_target_dimension_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        assert!(DimensionId::parse(&"x".repeat(255)).is_ok());
        assert_eq!(DimensionId::parse(&"x".repeat(256)), Err(IdError::TooLong(256)));
        // 128 two-byte characters are 256 bytes: the limit is in bytes.
        assert_eq!(DimensionId::parse(&"é".repeat(128)), Err(IdError::TooLong(256)));
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

    #[test]
    fn capacities_are_finite_and_not_negative() {
        assert!(Capacity::new(0.0).is_ok());
        assert!(Capacity::new(2.5).is_ok());
        assert!(Capacity::new(-1.0).is_err());
        assert!(Capacity::new(f64::NAN).is_err());
        assert!(Capacity::new(f64::INFINITY).is_err());
        assert_eq!(Capacity::new(-0.0).map(|c| c.to_string()), Ok("0.0".to_string()));
        assert_eq!(Capacity(2.0).to_string(), "2.0");
        assert_eq!(Capacity(2.5).to_string(), "2.5");
    }

    #[test]
    fn dimension_serialises_as_the_documented_example() {
        let id = DimensionId::parse("1-23456789").unwrap_or_else(|e| panic!("{e}"));
        let d = Dimension::new(id, &Defaults::default());
        let v = serde_json::to_value(&d).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            v,
            serde_json::json!({"scalableTargetDimensionId": "1-23456789", "scalingStatus": "Successful",
                "resourceName": "MyService", "desiredCapacity": 1.0, "actualCapacity": 1.0,
                "dimensionName": "MyDimension", "version": "MyVersion"})
        );
        let text = serde_json::to_string(&d).unwrap_or_else(|e| panic!("{e}"));
        assert!(text.contains("\"desiredCapacity\":1.0"), "{text}");
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

        #[test]
        fn status_names_round_trip(i in 0usize..4) {
            let s = ScalingStatus::ALL[i];
            prop_assert_eq!(ScalingStatus::parse(s.as_str()), Some(s));
        }
    }
}
