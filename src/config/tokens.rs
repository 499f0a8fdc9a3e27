//! Access settings into `AuthConfig`: bearer tokens (`--token
//! NAME:ROLE:sha256:HEX | file:PATH | env:VAR`) and certificate roles
//! (`--cert-role MATCH=ROLE`, `--cert-default-role`). A token's secret is
//! hashed at once and never kept.

use super::{ConfigError, bad};
use crate::auth::{AuthConfig, CertMatch, Role, Token};
use crate::fingerprint::Fingerprint;

/// Tokens and certificate roles, validated.
pub(super) fn auth(
    tokens: &[String],
    cert_roles: &[String],
    default_role: Option<&str>,
) -> Result<AuthConfig, ConfigError> {
    let mut out = AuthConfig::default();
    for spec in tokens {
        let t = token(spec)?;
        if out.tokens.iter().any(|known| known.name == t.name) {
            return Err(bad("token", "--token", format!("token name {:?} is used twice", t.name)));
        }
        out.tokens.push(t);
    }
    for spec in cert_roles {
        out.cert_roles.push(cert_role(spec)?);
    }
    out.cert_default_role = default_role.map(|r| role(r, "cert_default_role", "--cert-default-role")).transpose()?;
    Ok(out)
}

fn role(raw: &str, key: &str, flag: &str) -> Result<Role, ConfigError> {
    Role::parse(raw).ok_or_else(|| bad(key, flag, format!("{raw:?} is not a role; use aas, scaler, admin or read")))
}

/// One `NAME:ROLE:SECRET`.
fn token(spec: &str) -> Result<Token, ConfigError> {
    let err = |problem: String| bad("token", "--token", problem);
    let mut parts = spec.splitn(3, ':');
    let (name, role_text, secret) = match (parts.next(), parts.next(), parts.next()) {
        (Some(n), Some(r), Some(s)) => (n, r, s),
        _ => return Err(err("must be NAME:ROLE:SECRET, e.g. scaler:scaler:file:/run/secrets/scaler-token".into())),
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        return Err(err(format!("token name {name:?} must be 1 or more of A-Z a-z 0-9 . _ -")));
    }
    let role = role(role_text, "token", "--token")?;
    let sha256 = if let Some(hex) = secret.strip_prefix("sha256:") {
        Fingerprint::parse(hex)
            .map_err(|_| err(format!("token {name}: sha256: needs 64 hex digits (crest token prints them)")))?
    } else {
        let value = if let Some(path) = secret.strip_prefix("file:") {
            std::fs::read_to_string(path).map_err(|e| err(format!("token {name}: cannot read {path}: {e}")))?
        } else if let Some(var) = secret.strip_prefix("env:") {
            std::env::var(var).map_err(|_| err(format!("token {name}: environment variable {var} is not set")))?
        } else {
            return Err(err(format!(
                "token {name}: the secret must be sha256:HEX, file:PATH or env:VAR (never the token itself on a command line)"
            )));
        };
        let value = value.trim();
        if value.len() < 16 {
            return Err(err(format!("token {name}: the token must be at least 16 characters (crest token makes one)")));
        }
        crate::auth::hash(value)
    };
    Ok(Token { name: name.to_owned(), role, sha256 })
}

/// One `MATCH=ROLE`, MATCH being `sha256:HEX` or a subject in RFC 4514
/// text, RDNs in the certificate's order (`auth::dn`).
fn cert_role(spec: &str) -> Result<(CertMatch, Role), ConfigError> {
    let (matcher, role_text) = spec.rsplit_once('=').ok_or_else(|| {
        bad("cert_role", "--cert-role", format!("{spec:?} must be MATCH=ROLE, e.g. CN=scaler=scaler"))
    })?;
    let role = role(role_text, "cert_role", "--cert-role")?;
    let matcher = match matcher.strip_prefix("sha256:") {
        Some(hex) => CertMatch::Sha256(
            Fingerprint::parse(hex).map_err(|_| bad("cert_role", "--cert-role", "sha256: needs 64 hex digits"))?,
        ),
        None if matcher.is_empty() => return Err(bad("cert_role", "--cert-role", "the match must not be empty")),
        None => CertMatch::Subject(matcher.parse().map_err(|e| {
            bad(
                "cert_role",
                "--cert-role",
                format!(
                    "{matcher:?} is not a distinguished name: {e} (RFC 4514, first RDN first as crest logs it, \
                     e.g. CN=scaler-1, O=Example; escape , + \" \\ < > as \\, and so on; in a flag or \
                     CREST_CERT_ROLE ';' separates mappings, so write a ';' in a value as \\3B)"
                ),
            )
        })?),
    };
    Ok((matcher, role))
}
