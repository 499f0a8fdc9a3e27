//! Test certificates made with rcgen: a CA with server and client leaves,
//! and one shaped like API Gateway's client certificate (self-signed,
//! CA:TRUE, RSA 2048; the RSA key comes from `openssl genpkey`, because
//! rcgen's ring backend cannot generate RSA keys).

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_RSA_SHA256,
};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// A certificate with its key, as PEM.
pub struct Pem {
    pub cert: String,
    pub key: String,
}

impl Pem {
    /// Writes `NAME.pem` and `NAME.key` into `dir`; returns both paths.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")));
        std::fs::write(&cert, &self.cert).unwrap();
        std::fs::write(&key, &self.key).unwrap();
        (cert, key)
    }

    /// Certificate then key, as reqwest's `Identity::from_pem` wants.
    pub fn identity(&self) -> reqwest::Identity {
        reqwest::Identity::from_pem(format!("{}{}", self.cert, self.key).as_bytes()).unwrap()
    }
}

fn params(cn: &str, names: &[&str], valid: (OffsetDateTime, OffsetDateTime)) -> CertificateParams {
    let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.not_before = valid.0;
    p.not_after = valid.1;
    p
}

fn days(from_now: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() + Duration::days(from_now)
}

/// Valid from yesterday for `n` days.
pub fn valid_for(n: i64) -> (OffsetDateTime, OffsetDateTime) {
    (days(-1), days(n))
}

pub struct Ca {
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(cn: &str) -> Self {
        let mut p = params(cn, &[], valid_for(3650));
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        Self { cert_pem: cert.pem(), issuer: Issuer::new(p, key) }
    }

    fn leaf(
        &self,
        cn: &str,
        names: &[&str],
        usage: ExtendedKeyUsagePurpose,
        valid: (OffsetDateTime, OffsetDateTime),
    ) -> Pem {
        let mut p = params(cn, names, valid);
        p.is_ca = IsCa::ExplicitNoCa;
        p.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        Pem { cert: cert.pem(), key: key.serialize_pem() }
    }

    /// A server certificate for localhost and 127.0.0.1 (ECDSA P-256).
    pub fn server(&self, cn: &str, valid: (OffsetDateTime, OffsetDateTime)) -> Pem {
        self.leaf(cn, &["localhost", "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth, valid)
    }

    /// A client certificate issued by this CA.
    pub fn client(&self, cn: &str) -> Pem {
        self.leaf(cn, &[], ExtendedKeyUsagePurpose::ClientAuth, valid_for(365))
    }

    /// A client certificate whose subject is exactly `rdns`, in this order,
    /// one attribute per RDN.
    pub fn client_named(&self, rdns: &[(DnType, &str)]) -> Pem {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        for (ty, value) in rdns {
            p.distinguished_name.push(ty.clone(), *value);
        }
        (p.not_before, p.not_after) = valid_for(365);
        p.is_ca = IsCa::ExplicitNoCa;
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        Pem { cert: cert.pem(), key: key.serialize_pem() }
    }
}

/// Like API Gateway's generated client certificate: self-signed, CA:TRUE,
/// RSA 2048, SHA-256.
pub fn api_gateway_style(cn: &str, valid: (OffsetDateTime, OffsetDateTime)) -> Pem {
    let out = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
        .output()
        .expect("openssl is installed");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key_pem = String::from_utf8(out.stdout).unwrap();
    let key = KeyPair::from_pem_and_sign_algo(&key_pem, &PKCS_RSA_SHA256).unwrap();
    let mut p = params(cn, &[], valid);
    p.distinguished_name.push(DnType::LocalityName, "Seattle");
    p.distinguished_name.push(DnType::CountryName, "US");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = p.self_signed(&key).unwrap();
    Pem { cert: cert.pem(), key: key_pem }
}
