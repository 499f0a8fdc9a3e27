//! SQL text with its values written in as literals, for statements sent as
//! one simple-protocol `Query` message (`sqlx::raw_sql`): the one kind of
//! statement a transaction pooler (PgBouncer, RDS Proxy) passes through
//! intact. sqlx's bound statements are not safe there: named ones
//! (`sqlx_s_N`, the default, even with the statement cache off) collide
//! between clients sharing a server connection, and unnamed ones are parsed
//! and executed in two messages ending in `Sync`, between which the pooler
//! may switch the server connection (see the closing note of issue 16 and
//! tests/store_contract/pooler.rs).
//!
//! Every value crest puts into SQL goes through this file, nowhere else:
//! * text as `E'…'` with `\` and `'` doubled, which reads the same whatever
//!   `standard_conforming_strings` is; crest's connections are UTF-8, where
//!   no multi-byte character contains either byte; a NUL is refused
//!   (PostgreSQL text cannot hold it);
//! * integers by Rust's formatting, floats only when finite, in the
//!   shortest form that reads back to the same `f64`;
//! * bytes as `decode('<hex>', 'hex')`.

use crate::store::StoreError;
use std::fmt::Write;

/// A statement being written: SQL text and literals, in order.
#[derive(Debug, Default)]
pub(super) struct Sql(String);

impl Sql {
    pub(super) fn new(text: &str) -> Self {
        Self(text.to_owned())
    }

    /// Appends SQL text (crest's own, never a value).
    pub(super) fn sql(mut self, text: &str) -> Self {
        self.0.push_str(text);
        self
    }

    /// Appends `s` as a text literal.
    ///
    /// # Errors
    /// `Unavailable` when `s` holds a NUL.
    pub(super) fn text(mut self, s: &str) -> Result<Self, StoreError> {
        if s.contains('\0') {
            return Err(StoreError::Unavailable(
                "postgres: text with a NUL character (U+0000) cannot be stored in PostgreSQL".into(),
            ));
        }
        self.0.reserve(s.len() + 3);
        self.0.push_str("E'");
        for c in s.chars() {
            match c {
                '\'' => self.0.push_str("''"),
                '\\' => self.0.push_str("\\\\"),
                c => self.0.push(c),
            }
        }
        self.0.push('\'');
        Ok(self)
    }

    /// Appends `s` as a text literal, or NULL.
    ///
    /// # Errors
    /// As [`Sql::text`].
    pub(super) fn opt_text(self, s: Option<&str>) -> Result<Self, StoreError> {
        match s {
            Some(s) => self.text(s),
            None => Ok(self.sql("NULL")),
        }
    }

    /// Appends an integer.
    pub(super) fn int(mut self, n: i64) -> Self {
        let _ = write!(self.0, "{n}");
        self
    }

    /// Appends a boolean.
    pub(super) fn bool(self, b: bool) -> Self {
        self.sql(if b { "TRUE" } else { "FALSE" })
    }

    /// Appends a finite float as `float8`.
    ///
    /// # Errors
    /// `Corrupt` for NaN or an infinity (a `Capacity` is never either).
    pub(super) fn float(mut self, x: f64) -> Result<Self, StoreError> {
        if !x.is_finite() {
            return Err(StoreError::Corrupt(format!("postgres: cannot store the number {x}")));
        }
        // `{:?}` is the shortest text that parses back to the same f64.
        let _ = write!(self.0, "{x:?}::float8");
        Ok(self)
    }

    /// Appends a float or NULL.
    ///
    /// # Errors
    /// As [`Sql::float`].
    pub(super) fn opt_float(self, x: Option<f64>) -> Result<Self, StoreError> {
        match x {
            Some(x) => self.float(x),
            None => Ok(self.sql("NULL::float8")),
        }
    }

    /// Appends bytes as a `bytea` value.
    pub(super) fn bytes(mut self, b: &[u8]) -> Self {
        let _ = write!(self.0, "decode('{}', 'hex')", hex::encode(b));
        self
    }

    /// Appends text literals separated by commas (for `ARRAY[…]` or `IN (…)`).
    ///
    /// # Errors
    /// As [`Sql::text`].
    pub(super) fn text_list<'a>(mut self, items: impl IntoIterator<Item = &'a str>) -> Result<Self, StoreError> {
        for (i, s) in items.into_iter().enumerate() {
            if i > 0 {
                self.0.push_str(", ");
            }
            self = self.text(s)?;
        }
        Ok(self)
    }

    pub(super) fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Sql;

    #[test]
    fn text_is_escaped_for_both_string_syntaxes() {
        let s = Sql::new("").text(r"it's a \ and '' end\").unwrap();
        assert_eq!(s.as_str(), r"E'it''s a \\ and '''' end\\'");
        assert!(Sql::new("").text("a\0b").is_err());
        assert_eq!(Sql::new("").opt_text(None).unwrap().as_str(), "NULL");
    }

    #[test]
    fn numbers_and_bytes() {
        assert_eq!(Sql::new("").int(-42).as_str(), "-42");
        assert_eq!(Sql::new("").float(0.1).unwrap().as_str(), "0.1::float8");
        assert_eq!(Sql::new("").float(1e300).unwrap().as_str(), "1e300::float8");
        assert!(Sql::new("").float(f64::NAN).is_err());
        assert!(Sql::new("").float(f64::INFINITY).is_err());
        assert_eq!(Sql::new("").bytes(&[0, 0xff]).as_str(), "decode('00ff', 'hex')");
        assert_eq!(Sql::new("").text_list(["a", "b'"]).unwrap().as_str(), "E'a', E'b'''");
    }
}
