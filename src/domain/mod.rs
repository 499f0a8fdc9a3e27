//! The pure core: what a scalable target dimension is and how it changes.
//! Nothing here knows about HTTP, storage or async.

pub mod dimension;
pub mod history;
pub mod lifecycle;
pub mod patch;

pub use dimension::{Capacity, Defaults, Dimension, DimensionId, IdError, ScalingStatus};
pub use history::{FieldChange, HistoryEntry, HistoryQuery, Retention, Source};
pub use lifecycle::{
    Change, Changes, DemoStyle, Event, Mode, Outcome, Policy, Precondition, Registration, TransitionError,
};
pub use patch::{Patch, PatchError};
