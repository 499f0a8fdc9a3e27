//! `Capacity`, `ScalingStatus` and `Dimension`: the resource of CONTRACT.md,
//! with every invariant checked once, at parse time (the id: `id.rs`).

use super::id::DimensionId;
use super::text::Text;
use serde::{Deserialize, Serialize};
use std::fmt;

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
    pub version: Text,
    pub resource_name: Text,
    pub dimension_name: Text,
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
    #[schema(value_type = String, min_length = 1, max_length = 1600)]
    pub scalable_target_dimension_id: DimensionId,
    #[schema(value_type = String)]
    pub version: Text,
    #[schema(value_type = String)]
    pub resource_name: Text,
    #[schema(value_type = String)]
    pub dimension_name: Text,
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
        fn status_names_round_trip(i in 0usize..4) {
            let s = ScalingStatus::ALL[i];
            prop_assert_eq!(ScalingStatus::parse(s.as_str()), Some(s));
        }
    }
}
