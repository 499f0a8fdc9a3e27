//! SHA-256 fingerprints: of certificates (pins, client identities, the
//! ACME leaf), tokens, store keys. One type, written as 64 lowercase hex
//! digits and read back strictly (the `hex` crate: exactly 64 digits,
//! nothing else).

use sha2::{Digest, Sha256};
use std::fmt;

/// The SHA-256 of some bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

/// Why a text is not a fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("needs 64 hex digits (0-9, a-f), got {0} characters")]
pub struct FingerprintError(usize);

impl Fingerprint {
    /// The fingerprint of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Reads 64 hex digits (either case).
    ///
    /// # Errors
    /// Any other length, or a character that is not a hex digit.
    pub fn parse(text: &str) -> Result<Self, FingerprintError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).map_err(|_| FingerprintError(text.chars().count()))?;
        Ok(Self(out))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Equal without an early exit, so timing does not tell how much matched.
    pub fn same(&self, other: &Self) -> bool {
        self.0.iter().zip(&other.0).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{self}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_anything_else() {
        let f = Fingerprint::of(b"abc");
        let text = f.to_string();
        assert_eq!(text, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(Fingerprint::parse(&text), Ok(f));
        assert_eq!(Fingerprint::parse(&text.to_ascii_uppercase()), Ok(f));
        let plus = format!("+f{}", &text[2..]);
        for bad in ["", "00", &text[1..], &format!("{text}0"), &plus, &text.replace('a', "g")] {
            assert!(Fingerprint::parse(bad).is_err(), "{bad:?}");
        }
        assert!(f.same(&f) && !f.same(&Fingerprint::of(b"abd")));
    }
}
