//! Judging a connection's client certificate on every request against the
//! trust settings in force now, not those of its handshake: a reload may
//! have removed its pin or CA, and its `notAfter` may have passed while the
//! connection stayed open (or, were sessions resumed, long after).
//!
//! Cheap enough for every request: the validity dates are two compares;
//! whether the certificate is pinned or issued by a current CA is decided
//! once per connection and generation of the settings (each reload is a new
//! generation) and kept in the connection's memo (`net::identity::Memo`).
//! A CA chain is thus verified again after each reload; between reloads the
//! certificate's own dates are checked on every request.

use super::TlsState;
use crate::net::ClientIdentity;
use rustls::pki_types::UnixTime;
use std::time::{SystemTime, UNIX_EPOCH};

/// How a connection's client certificate stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// One of the pinned certificates, within its dates.
    Pinned,
    /// Issued by a configured CA, within its dates.
    Issued,
    /// Past its `notAfter`.
    Expired,
    /// Before its `notBefore`.
    NotYetValid,
    /// Neither pinned nor issued by a CA crest trusts now (removed by a reload).
    Untrusted,
}

impl Standing {
    const ALL: [Self; 5] = [Self::Pinned, Self::Issued, Self::Expired, Self::NotYetValid, Self::Untrusted];

    pub fn trusted(self) -> bool {
        matches!(self, Self::Pinned | Self::Issued)
    }

    /// A short fixed word for the log and metrics: why it is refused.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Pinned | Self::Issued => "certificate_trusted",
            Self::Expired => "certificate_expired",
            Self::NotYetValid => "certificate_not_yet_valid",
            Self::Untrusted => "certificate_untrusted",
        }
    }

    /// What a refused caller is told, and what to do about it.
    pub fn message(self) -> &'static str {
        match self {
            Self::Pinned | Self::Issued => "client certificate accepted",
            Self::Expired => {
                "client certificate expired (its notAfter has passed); connect again with a current certificate"
            }
            Self::NotYetValid => {
                "client certificate not yet valid (its notBefore is in the future); check the clocks or use a \
                 current certificate"
            }
            Self::Untrusted => {
                "client certificate no longer trusted: it is not pinned or issued by a CA in crest's current \
                 configuration (it was reloaded); connect again with a certificate crest trusts"
            }
        }
    }

    fn code(self) -> u8 {
        Self::ALL.iter().position(|s| *s == self).map_or(u8::MAX, |i| i as u8)
    }

    fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

impl TlsState {
    /// How `client` stands at `now` with the settings in force: its dates
    /// on every call, pinned or issued by a current CA once per connection
    /// and reload.
    pub fn standing(&self, client: &ClientIdentity, now: SystemTime) -> Standing {
        let seconds = unix_seconds(now);
        if seconds < client.not_before {
            return Standing::NotYetValid;
        }
        if seconds > client.not_after {
            return Standing::Expired;
        }
        let loaded = self.now();
        if let Some(known) = client.memo.get(loaded.generation).and_then(Standing::from_code) {
            return known;
        }
        let at = UnixTime::since_unix_epoch(now.duration_since(UNIX_EPOCH).unwrap_or_default());
        let standing = loaded.clients.as_ref().map_or(Standing::Untrusted, |v| v.judge(client, at));
        client.memo.set(loaded.generation, standing.code());
        standing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for s in Standing::ALL {
            assert_eq!(Standing::from_code(s.code()), Some(s));
        }
        assert_eq!(Standing::from_code(9), None);
        assert!(Standing::Pinned.trusted() && Standing::Issued.trusted() && !Standing::Expired.trusted());
    }
}
