//! The one seam between TLS and ACME: the resolver owns the live server
//! certificate and the ACME challenge table. rustls asks it for the
//! certificate of each handshake; ACME only installs into it (a new
//! certificate, challenge answers).

use super::CertInfo;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

/// The ALPN protocol of TLS-ALPN-01 (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// Challenge answers for orders in flight.
#[derive(Debug, Default)]
pub struct Challenges {
    http01: RwLock<HashMap<String, String>>,
    alpn: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl Challenges {
    pub fn set_http01(&self, token: &str, key_authorization: &str) {
        self.http01
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token.to_owned(), key_authorization.to_owned());
    }

    pub fn http01(&self, token: &str) -> Option<String> {
        self.http01.read().unwrap_or_else(PoisonError::into_inner).get(token).cloned()
    }

    pub fn set_alpn(&self, domain: &str, cert: Arc<CertifiedKey>) {
        self.alpn.write().unwrap_or_else(PoisonError::into_inner).insert(domain.to_ascii_lowercase(), cert);
    }

    pub fn alpn_certificate(&self, domain: &str) -> Option<Arc<CertifiedKey>> {
        self.alpn.read().unwrap_or_else(PoisonError::into_inner).get(&domain.to_ascii_lowercase()).cloned()
    }

    /// Forgets every answer (the order is over).
    pub fn clear(&self) {
        self.http01.write().unwrap_or_else(PoisonError::into_inner).clear();
        self.alpn.write().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

/// Picks the certificate for a handshake: the current server certificate,
/// or an ACME TLS-ALPN-01 challenge certificate for `acme-tls/1` hellos.
#[derive(Debug, Default)]
pub struct Resolver {
    current: RwLock<Option<(Arc<CertifiedKey>, CertInfo)>>,
    challenges: Arc<Challenges>,
}

impl Resolver {
    pub fn challenges(&self) -> Arc<Challenges> {
        self.challenges.clone()
    }

    pub(super) fn set(&self, key: Arc<CertifiedKey>, info: CertInfo) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some((key, info));
    }

    pub(super) fn info(&self) -> Option<CertInfo> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).as_ref().map(|(_, i)| i.clone())
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let acme = hello.alpn().is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        if acme {
            return hello.server_name().and_then(|name| self.challenges.alpn_certificate(name));
        }
        // None before the first ACME certificate: the handshake fails cleanly.
        self.current.read().unwrap_or_else(PoisonError::into_inner).as_ref().map(|(k, _)| k.clone())
    }
}
