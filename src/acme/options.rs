//! What ACME is configured with (built by `crate::config`).

use crate::secret::Secret;
use std::path::PathBuf;
use std::time::Duration;

/// How the ACME CA checks that we control the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeChallenge {
    Http01,
    TlsAlpn01,
}

impl AcmeChallenge {
    /// The challenge's name in RFC 8555 and in crest's settings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http01 => "http-01",
            Self::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

impl std::fmt::Display for AcmeChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Let's Encrypt's production directory, the default.
pub const LETSENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory (`letsencrypt-staging`).
pub const LETSENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// Certificates from an ACME CA instead of files.
#[derive(Debug, Clone, PartialEq)]
pub struct AcmeOptions {
    pub domains: Vec<String>,
    pub email: Option<String>,
    pub directory: String,
    pub ca_root: Option<PathBuf>,
    pub challenge: AcmeChallenge,
    /// External account binding: key id and base64url HMAC key.
    pub eab: Option<(String, Secret)>,
    pub retry_min: Duration,
    pub poll_interval: Duration,
}
