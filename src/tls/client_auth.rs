//! Client-certificate verification: pinned certificates (API Gateway's
//! self-signed `CA:TRUE` certificates, which webpki refuses as a leaf with
//! `CaUsedAsEndEntity`) and CA bundles. A pinned certificate still has to
//! prove possession of its key (the handshake signature is verified with its
//! public key) and be within its validity dates. The same settings judge
//! each request again (`judge`, via `trust`): a reload or the calendar may
//! have ended the trust the handshake found.

use super::TlsOptions;
use super::trust::Standing;
use super::{CertInfo, TlsError, read_certs};
use crate::net::ClientIdentity;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, RootCertStore, SignatureScheme};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug)]
pub struct ClientVerifier {
    /// SHA-256 of the DER -> validity (not_before, not_after), in seconds.
    pins: HashMap<[u8; 32], (i64, i64)>,
    ca: Option<Arc<dyn ClientCertVerifier>>,
    hints: Vec<DistinguishedName>,
    mandatory: bool,
    provider: Arc<CryptoProvider>,
}

fn sha256(der: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(der).into()
}

fn subject_dn(der: &[u8]) -> Option<DistinguishedName> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(DistinguishedName::from(cert.subject().as_raw().to_vec()))
}

/// Builds the verifier from `client_cert_pin` and `client_ca` files.
///
/// # Errors
/// A file that cannot be read or holds no usable certificate.
pub fn build(
    settings: &TlsOptions,
    provider: Arc<CryptoProvider>,
    mandatory: bool,
) -> Result<(Arc<ClientVerifier>, Vec<CertInfo>), TlsError> {
    let mut infos = Vec::new();
    let mut pins = HashMap::new();
    let mut hints = Vec::new();
    for path in &settings.client_cert_pin {
        for der in read_certs("client_cert_pin", path)? {
            let info = CertInfo::parse("pinned client certificate", path, &der)?;
            pins.insert(sha256(&der), (info.not_before, info.not_after));
            hints.extend(subject_dn(&der));
            infos.push(info);
        }
    }
    let ca = if settings.client_ca.is_empty() {
        None
    } else {
        let mut roots = RootCertStore::empty();
        for path in &settings.client_ca {
            for der in read_certs("client_ca", path)? {
                infos.push(CertInfo::parse("client CA", path, &der)?);
                hints.extend(subject_dn(&der));
                roots.add(der).map_err(|e| super::file_err("client_ca", path, e))?;
            }
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .allow_unauthenticated()
            .build()
            .map_err(|e| TlsError::Setup(format!("client_ca: {e}")))?;
        Some(verifier)
    };
    let verifier = ClientVerifier { pins, ca, hints, mandatory, provider };
    Ok((Arc::new(verifier), infos))
}

impl ClientVerifier {
    /// How `client` stands with these settings at `now`: pinned, issued by
    /// one of the CAs (the chain it sent verified again), or not trusted.
    pub fn judge(&self, client: &ClientIdentity, now: UnixTime) -> Standing {
        if self.pins.contains_key(client.sha256.as_bytes()) {
            return Standing::Pinned;
        }
        let (Some(ca), Some((leaf, intermediates))) = (&self.ca, client.chain.split_first()) else {
            return Standing::Untrusted;
        };
        match ca.verify_client_cert(leaf, intermediates, now) {
            Ok(_) => Standing::Issued,
            Err(Error::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. })) => {
                Standing::Expired
            }
            Err(Error::InvalidCertificate(
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
            )) => Standing::NotYetValid,
            Err(_) => Standing::Untrusted,
        }
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        if let Some(&(not_before, not_after)) = self.pins.get(&sha256(end_entity)) {
            let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
            if now < not_before {
                return Err(Error::InvalidCertificate(CertificateError::NotValidYet));
            }
            if now > not_after {
                return Err(Error::InvalidCertificate(CertificateError::Expired));
            }
            return Ok(ClientCertVerified::assertion());
        }
        match &self.ca {
            Some(ca) => ca.verify_client_cert(end_entity, intermediates, now),
            None => Err(Error::InvalidCertificate(CertificateError::UnknownIssuer)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
