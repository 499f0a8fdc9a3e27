//! Who presented a client certificate at the handshake: the facts crest
//! judges again on every request (the certificate's SHA-256, parsed
//! subject, validity dates, and the chain as sent) and a one-word memo of
//! the last verdict, so that a CA chain is verified again only after the
//! trust settings change (`tls::TlsState::standing`).

use crate::auth::dn::{Attribute, AttributeType, Name, Value};
use crate::fingerprint::Fingerprint;
use rustls::pki_types::CertificateDer;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The client certificate of a connection, as verified at its handshake.
/// Whether it is still trusted is judged per request, above (`http`).
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    /// The subject, attribute by attribute (for `--cert-role`).
    pub name: Name,
    /// The subject written with RFC 4514 escapes (history and logs).
    pub subject: String,
    /// The SHA-256 of the DER certificate.
    pub sha256: Fingerprint,
    /// Validity, in Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// The certificates the client sent, its own first.
    pub chain: Arc<[CertificateDer<'static>]>,
    /// The last verdict on this certificate (shared by the connection's requests).
    pub memo: Arc<Memo>,
}

impl ClientIdentity {
    /// From the chain a client sent (its certificate first). None when
    /// there is none, or it cannot be parsed: no identity, no trust.
    pub fn from_chain(chain: &[CertificateDer<'_>]) -> Option<Self> {
        let der = chain.first()?;
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
            tracing::warn!(sha256 = %Fingerprint::of(der), "a verified client certificate cannot be parsed; ignored");
            return None;
        };
        let name = name_of(cert.subject())?;
        let validity = cert.validity();
        Some(Self {
            subject: name.to_string(),
            name,
            sha256: Fingerprint::of(der),
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            chain: chain.iter().map(|c| c.clone().into_owned()).collect(),
            memo: Arc::default(),
        })
    }
}

/// A parsed X.509 name as data. None when an attribute type has an arc
/// too large to hold (no real certificate has one).
pub fn name_of(name: &x509_parser::x509::X509Name<'_>) -> Option<Name> {
    let mut rdns = Vec::new();
    for rdn in name.iter() {
        let mut attrs = Vec::new();
        for atv in rdn.iter() {
            let arcs: Vec<u64> = atv.attr_type().iter()?.collect();
            let any = atv.attr_value();
            attrs.push(Attribute { kind: AttributeType::new(arcs), value: Value::from_der(&der_of(any)) });
        }
        rdns.push(attrs);
    }
    Some(Name::new(rdns))
}

/// The DER of a parsed value: its tag, its length, its content.
fn der_of(any: &x509_parser::der_parser::asn1_rs::Any<'_>) -> Vec<u8> {
    let h = &any.header;
    let mut out = match h.raw_tag() {
        Some(raw) => raw.to_vec(),
        None => {
            let lead = ((h.class() as u8) << 6) | (u8::from(h.is_constructed()) << 5);
            match u8::try_from(h.tag().0) {
                Ok(t) if t < 31 => vec![lead | t],
                _ => {
                    // High tag number: base 128, most significant first.
                    let mut n = h.tag().0;
                    let mut rest = vec![(n & 0x7f) as u8];
                    n >>= 7;
                    while n > 0 {
                        rest.push(0x80 | (n & 0x7f) as u8);
                        n >>= 7;
                    }
                    rest.push(lead | 0x1f);
                    rest.reverse();
                    rest
                }
            }
        }
    };
    let len = any.data.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(any.data);
    out
}

/// One atomic word: the generation of trust settings a verdict was made
/// under, and the verdict (a small code the judge defines). No lock per
/// request; 0 means no verdict yet.
#[derive(Debug, Default)]
pub struct Memo(AtomicU64);

impl Memo {
    /// The verdict made under `generation`, if that is the last one.
    pub fn get(&self, generation: u64) -> Option<u8> {
        let word = self.0.load(Ordering::Acquire);
        (word != 0 && word >> 8 == generation).then_some((word & 0xff) as u8)
    }

    /// Keeps `verdict` for `generation` (at least 1, below 2^56).
    pub fn set(&self, generation: u64, verdict: u8) {
        self.0.store((generation << 8) | u64::from(verdict), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memo_holds_one_generation() {
        let m = Memo::default();
        assert_eq!(m.get(1), None);
        m.set(1, 3);
        assert_eq!((m.get(1), m.get(2)), (Some(3), None));
        m.set(2, 0);
        assert_eq!((m.get(1), m.get(2)), (None, Some(0)));
    }

    /// A subject with a comma in its CN, a multi-valued RDN and a BMPString.
    #[test]
    fn a_certificate_subject_becomes_a_name() {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(rcgen::DnType::CommonName, "ops, O=Admins");
        let bmp = rcgen::DnValue::BmpString("Zoë".try_into().unwrap());
        p.distinguished_name.push(rcgen::DnType::OrganizationName, bmp);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        let id = ClientIdentity::from_chain(&[cert.der().clone()]).unwrap();
        assert_eq!(id.subject, r"CN=ops\, O=Admins, O=Zo\C3\AB");
        assert_eq!(id.name, r"CN=ops\, O=Admins, O=Zoë".parse().unwrap());
        assert_eq!(id.sha256, Fingerprint::of(cert.der()));
        assert!(id.not_before < id.not_after);
    }
}
