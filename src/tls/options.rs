//! What the HTTPS listener is configured with (built by `crate::config`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Whether the API needs a client certificate at the handshake already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Ask for a certificate; `/v1/…` answers 403 without a verified one.
    Optional,
    /// Refuse handshakes without a verified certificate.
    Required,
}

/// The HTTPS listener and its certificates.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsOptions {
    pub listen: SocketAddr,
    /// Certificate and key files (none when the certificate comes from ACME).
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Offer the `acme-tls/1` protocol: ACME answers TLS-ALPN-01 challenges.
    pub acme_tls_alpn: bool,
    pub client_ca: Vec<PathBuf>,
    pub client_cert_pin: Vec<PathBuf>,
    pub client_auth: ClientAuth,
    pub handshake_timeout: Duration,
    pub reload_interval: Duration,
}

impl TlsOptions {
    /// True when client certificates are verified (CA or pins configured).
    pub fn verifies_clients(&self) -> bool {
        !self.client_ca.is_empty() || !self.client_cert_pin.is_empty()
    }
}
