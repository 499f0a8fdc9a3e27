//! Making answers to ACME challenges (the resolver in `crate::tls` keeps
//! and serves them). HTTP-01: key authorizations by token, served by the
//! plain listener at `/.well-known/acme-challenge/{token}` (also written to
//! the store under `http01_secret`, so any replica behind a load balancer can
//! answer). TLS-ALPN-01: a self-signed certificate with the critical
//! acmeIdentifier extension, served for `acme-tls/1` handshakes; rustls'
//! `with_single_cert` would refuse that extension, so the `CertifiedKey` is
//! built by hand.

use rcgen::{CertificateParams, CustomExtension, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

/// The store key under which an HTTP-01 key authorization is shared.
pub fn http01_secret(token: &str) -> String {
    format!("acme-http01/{token}")
}

/// The TLS-ALPN-01 certificate for `domain`: self-signed, with the SHA-256
/// of the key authorization in a critical acmeIdentifier extension.
///
/// # Errors
/// Key generation or signing failed.
pub fn alpn_certificate(domain: &str, key_authorization_digest: &[u8]) -> Result<CertifiedKey, String> {
    let mut params = CertificateParams::new(vec![domain.to_owned()]).map_err(|e| e.to_string())?;
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(key_authorization_digest)];
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signing =
        rustls::crypto::ring::default_provider().key_provider.load_private_key(der).map_err(|e| e.to_string())?;
    Ok(CertifiedKey::new(vec![cert.der().clone()], signing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpn_certificate_carries_the_critical_acme_identifier() {
        let digest = [7u8; 32];
        let ck = alpn_certificate("example.com", &digest).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(ck.cert[0].as_ref()).unwrap();
        let ext = cert
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31")
            .expect("acmeIdentifier extension");
        assert!(ext.critical);
        assert!(ext.value.ends_with(&digest), "the extension holds the digest as an OCTET STRING");
    }
}
