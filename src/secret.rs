//! `Secret`: a string that must never reach logs or `Debug` output (a store
//! URL with its password, the ACME EAB HMAC key). It has no `Display`;
//! `expose()` reads the value where it is used. A leaf: it imports nothing
//! from the crate.

use std::fmt;

/// A secret string; `Debug` prints `Secret(***)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself: only for the code that uses it, never for logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_hides_the_value() {
        let s = Secret::new("postgres://crest:hunter2@db/crest");
        let text = format!("{s:?} {:?} {:#?}", Some(&s), ("kid", &s));
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("Secret(***)"), "{text}");
        assert_eq!(s.expose(), "postgres://crest:hunter2@db/crest");
    }
}
