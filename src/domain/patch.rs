//! `Patch`: a PATCH body parsed once, with a precise message for each
//! problem. Unknown fields are ignored, as AAS may add some.

use super::dimension::{Capacity, ScalingStatus};
use serde_json::{Map, Value};

/// The longest `failureReason` we keep, in bytes.
pub const MAX_REASON_BYTES: usize = 4096;

/// The fields a PATCH may set. At least one is present.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Patch {
    pub desired_capacity: Option<Capacity>,
    pub actual_capacity: Option<Capacity>,
    pub scaling_status: Option<ScalingStatus>,
    pub failure_reason: Option<String>,
}

/// What is wrong with a PATCH body; the text is sent to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    #[error("request body must be a JSON object such as {{\"desiredCapacity\": 2.0}}, got {0}")]
    NotAnObject(&'static str),
    #[error(
        "request body has none of the fields desiredCapacity, actualCapacity, scalingStatus, failureReason; send at least one"
    )]
    Empty,
    #[error("{field} must be a number, got {got}")]
    NotANumber { field: &'static str, got: &'static str },
    #[error("{field} must be a finite number >= 0, got {got}")]
    BadCapacity { field: &'static str, got: String },
    #[error("scalingStatus must be a string, one of Pending, InProgress, Successful, Failed; got {0}")]
    StatusNotAString(&'static str),
    #[error("scalingStatus must be one of Pending, InProgress, Successful, Failed; got {0:?}")]
    UnknownStatus(String),
    #[error("failureReason must be a string, got {0}")]
    ReasonNotAString(&'static str),
    #[error("failureReason is {0} bytes long; the limit is {MAX_REASON_BYTES}")]
    ReasonTooLong(usize),
    #[error("failureReason must not contain NUL characters (\\u0000)")]
    ReasonHasNul,
    #[error("failureReason is only kept with scalingStatus Failed; send \"scalingStatus\": \"Failed\" with it")]
    ReasonWithoutFailed,
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn capacity(map: &Map<String, Value>, field: &'static str) -> Result<Option<Capacity>, PatchError> {
    let Some(v) = map.get(field) else {
        return Ok(None);
    };
    let Value::Number(n) = v else {
        return Err(PatchError::NotANumber { field, got: kind(v) });
    };
    // serde_json rejects NaN/Infinity literals and overflowing numbers when
    // parsing, so as_f64 only fails for exotic representations.
    let x = n.as_f64().ok_or_else(|| PatchError::BadCapacity { field, got: n.to_string() })?;
    Capacity::new(x).map(Some).map_err(|_| PatchError::BadCapacity { field, got: n.to_string() })
}

impl Patch {
    /// Parses a decoded JSON body.
    ///
    /// # Errors
    /// The first problem found, naming the field.
    pub fn from_json(body: &Value) -> Result<Self, PatchError> {
        let Value::Object(map) = body else {
            return Err(PatchError::NotAnObject(kind(body)));
        };
        let desired_capacity = capacity(map, "desiredCapacity")?;
        let actual_capacity = capacity(map, "actualCapacity")?;
        let scaling_status = match map.get("scalingStatus") {
            None => None,
            Some(Value::String(s)) => {
                Some(ScalingStatus::parse(s).ok_or_else(|| PatchError::UnknownStatus(s.clone()))?)
            }
            Some(v) => return Err(PatchError::StatusNotAString(kind(v))),
        };
        let failure_reason = match map.get("failureReason") {
            None => None,
            Some(Value::String(s)) if s.len() > MAX_REASON_BYTES => {
                return Err(PatchError::ReasonTooLong(s.len()));
            }
            Some(Value::String(s)) if s.contains('\0') => return Err(PatchError::ReasonHasNul),
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => return Err(PatchError::ReasonNotAString(kind(v))),
        };
        if failure_reason.is_some() && scaling_status.is_some_and(|s| s != ScalingStatus::Failed) {
            return Err(PatchError::ReasonWithoutFailed);
        }
        let patch = Self { desired_capacity, actual_capacity, scaling_status, failure_reason };
        if patch == Self::default() {
            return Err(PatchError::Empty);
        }
        Ok(patch)
    }
}

impl Patch {
    /// The fields only a scaler reports (`actualCapacity`, `scalingStatus`,
    /// `failureReason`) that this patch carries, comma-separated; None when
    /// it carries none (AAS only ever sends desiredCapacity).
    pub fn scaler_fields(&self) -> Option<String> {
        let present = [
            ("actualCapacity", self.actual_capacity.is_some()),
            ("scalingStatus", self.scaling_status.is_some()),
            ("failureReason", self.failure_reason.is_some()),
        ];
        let names: Vec<&str> = present.into_iter().filter_map(|(name, here)| here.then_some(name)).collect();
        (!names.is_empty()).then(|| names.join(", "))
    }

    /// The patch as compact JSON, for logs (strings escaped).
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        if let Some(v) = self.desired_capacity {
            map.insert("desiredCapacity".into(), v.get().into());
        }
        if let Some(v) = self.actual_capacity {
            map.insert("actualCapacity".into(), v.get().into());
        }
        if let Some(v) = self.scaling_status {
            map.insert("scalingStatus".into(), v.as_str().into());
        }
        if let Some(v) = &self.failure_reason {
            map.insert("failureReason".into(), v.clone().into());
        }
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Patch, PatchError> {
        Patch::from_json(&v)
    }

    #[test]
    fn accepts_known_fields_and_ignores_unknown_ones() {
        let p = parse(json!({"desiredCapacity": 2, "extra": [1]})).unwrap();
        assert_eq!(p.desired_capacity.map(Capacity::get), Some(2.0));
        let p = parse(json!({"actualCapacity": 3.5, "scalingStatus": "Failed", "failureReason": "quota"})).unwrap();
        assert_eq!(p.actual_capacity.map(Capacity::get), Some(3.5));
        assert_eq!(p.scaling_status, Some(ScalingStatus::Failed));
        assert_eq!(p.failure_reason.as_deref(), Some("quota"));
    }

    #[test]
    fn rejects_each_problem_with_a_message_naming_the_field() {
        let cases = [
            (json!([1]), "must be a JSON object"),
            (json!({}), "none of the fields"),
            (json!({"other": 1}), "none of the fields"),
            (json!({"desiredCapacity": "2"}), "desiredCapacity must be a number, got a string"),
            (json!({"desiredCapacity": null}), "desiredCapacity must be a number, got null"),
            (json!({"desiredCapacity": -1}), "desiredCapacity must be a finite number >= 0, got -1"),
            (json!({"actualCapacity": -0.5}), "actualCapacity must be a finite number >= 0, got -0.5"),
            (
                json!({"scalingStatus": "Done"}),
                "scalingStatus must be one of Pending, InProgress, Successful, Failed; got \"Done\"",
            ),
            (json!({"scalingStatus": "successful"}), "got \"successful\""),
            (json!({"scalingStatus": 1}), "scalingStatus must be a string"),
            (json!({"failureReason": 1}), "failureReason must be a string, got a number"),
            (
                json!({"scalingStatus": "Successful", "failureReason": "x"}),
                "failureReason is only kept with scalingStatus Failed",
            ),
        ];
        for (body, want) in cases {
            let err = parse(body.clone()).expect_err(&body.to_string()).to_string();
            assert!(err.contains(want), "{body}: {err:?} lacks {want:?}");
        }
        assert_eq!(parse(json!({"failureReason": "a\u{0}b"})), Err(PatchError::ReasonHasNul));
        let long = "x".repeat(MAX_REASON_BYTES + 1);
        assert!(matches!(parse(json!({"failureReason": long})), Err(PatchError::ReasonTooLong(_))));
    }
}
