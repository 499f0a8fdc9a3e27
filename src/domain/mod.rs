//! The pure core: what a scalable target dimension is and how it changes.
//! Nothing here knows about HTTP, storage or async.

pub mod change;
pub mod dimension;
pub mod history;
pub mod id;
pub mod lifecycle;
pub mod patch;
pub mod registration;
pub mod text;

/// The highest revision a store can keep (a signed 64-bit column).
pub const MAX_REVISION: u64 = i64::MAX as u64;

pub use change::{Change, Changes, Outcome, Precondition, TransitionError};
pub use dimension::{Capacity, Defaults, Dimension, ScalingStatus};
pub use history::{FieldChange, HistoryEntry, HistoryQuery, Retention, Source};
pub use id::{DimensionId, IdError, IdMap};
pub use lifecycle::{DemoStyle, Event, Mode, Policy};
pub use patch::{Patch, PatchError};
pub use registration::Registration;
pub use text::Text;
