//! crest: the backend endpoint AWS Application Auto Scaling calls for a
//! custom resource. See README.md and ../shared/CONTRACT.md.

pub mod domain;
