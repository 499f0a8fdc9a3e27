//! Who may do what. Four roles: `aas` (read, set desiredCapacity), `scaler`
//! (read, report actualCapacity/scalingStatus/failureReason), `admin`
//! (everything), `read` (read only). A caller's role comes from a verified
//! client certificate (a pinned API Gateway certificate is `aas` unless
//! mapped otherwise) or from a bearer token, stored as its SHA-256 only and
//! compared in constant time. With neither configured, crest stays open.
//! Certificates are mapped by SHA-256 or by their parsed subject (`dn`),
//! never by a rendered string.

pub mod dn;

use crate::fingerprint::Fingerprint;
pub use dn::Name;
use std::fmt;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Aas,
    Scaler,
    Admin,
    Read,
}

impl Role {
    pub const ALL: [Role; 4] = [Self::Aas, Self::Scaler, Self::Admin, Self::Read];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aas => "aas",
            Self::Scaler => "scaler",
            Self::Admin => "admin",
            Self::Read => "read",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A configured bearer token: its name (for logs and history), its role and
/// the SHA-256 of its secret. The secret itself is never kept.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    pub name: String,
    pub role: Role,
    pub sha256: Fingerprint,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token").field("name", &self.name).field("role", &self.role).finish_non_exhaustive()
    }
}

/// Which verified certificates get which role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertMatch {
    /// The SHA-256 of the DER certificate.
    Sha256(Fingerprint),
    /// The exact subject, attribute by attribute (read from RFC 4514 text
    /// such as `CN=scaler-1`, written the way crest logs it).
    Subject(Name),
}

/// How callers are authenticated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    pub tokens: Vec<Token>,
    pub cert_roles: Vec<(CertMatch, Role)>,
    /// The role of a verified CA-issued certificate no mapping names
    /// (pinned certificates, i.e. API Gateway's, are `aas`).
    pub cert_default_role: Option<Role>,
}

/// The caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Authentication is off: everything is allowed.
    Open,
    Token {
        name: String,
        role: Role,
    },
    Certificate {
        /// The subject, RFC 4514-escaped.
        subject: String,
        sha256: Fingerprint,
        role: Role,
    },
}

impl Principal {
    pub fn role(&self) -> Option<Role> {
        match self {
            Self::Open => None,
            Self::Token { role, .. } | Self::Certificate { role, .. } => Some(*role),
        }
    }

    /// For history and logs: `token:NAME` or the certificate.
    pub fn label(&self) -> Option<String> {
        match self {
            Self::Open => None,
            Self::Token { name, .. } => Some(format!("token:{name}")),
            Self::Certificate { subject, sha256, .. } => Some(format!("{subject} (sha256:{sha256})")),
        }
    }

    /// Ok when the caller has one of `roles` (admin always does).
    ///
    /// # Errors
    /// The message for a 403: what was refused and which roles may do it.
    pub fn require(&self, roles: &[Role], action: &str) -> Result<(), String> {
        match self.role() {
            None => Ok(()),
            Some(r) if r == Role::Admin || roles.contains(&r) => Ok(()),
            Some(r) => {
                let mut allowed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                allowed.push("admin");
                Err(format!("{action} needs role {}; this caller has role {r}", allowed.join(" or ")))
            }
        }
    }
}

/// SHA-256 of a token.
pub fn hash(token: &str) -> Fingerprint {
    Fingerprint::of(token.as_bytes())
}

impl AuthConfig {
    /// True when callers must identify themselves: tokens are configured, or
    /// the TLS listener verifies client certificates.
    pub fn enabled(&self, verifies_certificates: bool) -> bool {
        !self.tokens.is_empty() || verifies_certificates
    }

    /// The token whose hash matches `presented`; every configured token is
    /// compared, so the time does not depend on which one matched.
    pub fn token(&self, presented: &str) -> Option<&Token> {
        let h = hash(presented);
        let mut found = None;
        for t in &self.tokens {
            if t.sha256.same(&h) {
                found = Some(t);
            }
        }
        found
    }

    /// The role of a verified certificate: a `cert_roles` mapping, else
    /// `aas` for a pinned certificate, else `cert_default_role` (aas).
    pub fn certificate_role(&self, subject: &Name, sha256: &Fingerprint, pinned: bool) -> Role {
        let mapped = self.cert_roles.iter().find(|(m, _)| match m {
            CertMatch::Sha256(h) => h == sha256,
            CertMatch::Subject(s) => s == subject,
        });
        match mapped {
            Some((_, r)) => *r,
            None if pinned => Role::Aas,
            None => self.cert_default_role.unwrap_or(Role::Aas),
        }
    }
}

/// A new random token (32 bytes from the OS, URL-safe base64).
///
/// # Errors
/// When the OS random source cannot be read.
pub fn generate() -> std::io::Result<String> {
    use base64::Engine;
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AuthConfig {
        AuthConfig {
            tokens: vec![
                Token { name: "scaler".into(), role: Role::Scaler, sha256: hash("s3cret") },
                Token { name: "ops".into(), role: Role::Admin, sha256: hash("other") },
            ],
            cert_roles: vec![(CertMatch::Subject(name("CN=scaler-1")), Role::Scaler)],
            cert_default_role: None,
        }
    }

    #[test]
    fn tokens_match_by_hash_only() {
        let c = config();
        assert_eq!(c.token("s3cret").map(|t| t.name.as_str()), Some("scaler"));
        assert_eq!(c.token("other").map(|t| t.role), Some(Role::Admin));
        assert!(c.token("s3cre").is_none() && c.token("").is_none());
        assert!(!format!("{:?}", c.tokens[0]).contains("sha256"), "no hash in Debug");
    }

    fn name(text: &str) -> Name {
        text.parse().unwrap()
    }

    #[test]
    fn certificates_map_to_roles_with_aas_by_default() {
        let c = config();
        let (ab, cd) = (Fingerprint::of(b"ab"), Fingerprint::of(b"cd"));
        assert_eq!(c.certificate_role(&name("CN=scaler-1"), &ab, false), Role::Scaler);
        assert_eq!(c.certificate_role(&name("CN=ApiGateway"), &ab, false), Role::Aas);
        assert_eq!(c.certificate_role(&name("CN=scaler-1, O=x"), &ab, false), Role::Aas, "the whole name");
        assert_eq!(c.certificate_role(&name(r"CN=scaler-1\, O=x"), &ab, false), Role::Aas);
        let by_hash = AuthConfig { cert_roles: vec![(CertMatch::Sha256(ab), Role::Read)], ..config() };
        assert_eq!(by_hash.certificate_role(&name("CN=x"), &ab, true), Role::Read, "a mapping wins");
        assert_eq!(by_hash.certificate_role(&name("CN=x"), &cd, false), Role::Aas, "another hash is not mapped");
        let strict = AuthConfig { cert_default_role: Some(Role::Read), ..config() };
        assert_eq!(strict.certificate_role(&name("CN=leaf"), &cd, false), Role::Read);
        assert_eq!(strict.certificate_role(&name("CN=ApiGateway"), &cd, true), Role::Aas, "pinned: aas");
    }

    #[test]
    fn admin_may_do_everything_and_messages_name_the_role() {
        let scaler = Principal::Token { name: "s".into(), role: Role::Scaler };
        assert!(scaler.require(&[Role::Scaler], "x").is_ok());
        let err = scaler.require(&[Role::Aas], "setting desiredCapacity").unwrap_err();
        assert_eq!(err, "setting desiredCapacity needs role aas or admin; this caller has role scaler");
        let admin = Principal::Token { name: "a".into(), role: Role::Admin };
        assert!(admin.require(&[Role::Aas], "x").is_ok());
        assert!(Principal::Open.require(&[], "x").is_ok());
    }

    #[test]
    fn generated_tokens_differ() {
        let (a, b) = (generate().unwrap(), generate().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
    }
}
