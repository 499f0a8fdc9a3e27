//! Access settings into `AuthConfig`: bearer tokens (`--token-spec
//! NAME:ROLE:sha256:HEX | file:PATH | env:VAR`, formerly `--token`) and
//! certificate roles (`--cert-role MATCH=ROLE`, `--cert-default-role`). A
//! token's secret is hashed at once and never kept.
//!
//! Lists in a flag or variable separate with `,`, except `--cert-role`
//! (`CREST_CERT_ROLE`), which separates with `;`: a subject is a
//! distinguished name and contains `,` itself. Two mappings joined with `,`
//! would read as one subject (`=` may stand in a value), so that shape is
//! refused with a message that says to use `;`.

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
            return Err(bad("token_spec", "--token-spec", format!("token name {:?} is used twice", t.name)));
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
    let err = |problem: String| bad("token_spec", "--token-spec", problem);
    let mut parts = spec.splitn(3, ':');
    let (name, role_text, secret) = match (parts.next(), parts.next(), parts.next()) {
        (Some(n), Some(r), Some(s)) => (n, r, s),
        _ => return Err(err("must be NAME:ROLE:SECRET, e.g. scaler:scaler:file:/run/secrets/scaler-token".into())),
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        return Err(err(format!("token name {name:?} must be 1 or more of A-Z a-z 0-9 . _ -")));
    }
    let role = role(role_text, "token_spec", "--token-spec")?;
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
    if joined_with_comma(matcher) {
        return Err(bad(
            "cert_role",
            "--cert-role",
            format!(
                "{spec:?} looks like several mappings joined with ','; separate mappings with ';' \
                 (a subject contains ','), or repeat --cert-role"
            ),
        ));
    }
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

/// True when a `,`-separated part of `matcher` before its last one is
/// itself `TYPE=VALUE=ROLE`: `CN=a=admin,CN=b` is `CN=a=admin` and
/// `CN=b=read` joined with `,`, not a subject.
fn joined_with_comma(matcher: &str) -> bool {
    let mut parts = Vec::new();
    let (mut part, mut escaped) = (String::new(), false);
    for ch in matcher.chars() {
        match ch {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                parts.push(std::mem::take(&mut part));
                continue;
            }
            _ => {}
        }
        part.push(ch);
    }
    parts
        .iter()
        .any(|p| p.matches('=').count() >= 2 && p.rsplit('=').next().is_some_and(|r| Role::parse(r.trim()).is_some()))
}

#[cfg(test)]
mod tests {
    use super::joined_with_comma;

    #[test]
    fn mappings_joined_with_a_comma_are_recognised() {
        assert!(joined_with_comma("CN=a=admin,CN=b"));
        assert!(joined_with_comma("CN=a, O=x=read, CN=b"));
        assert!(!joined_with_comma("CN=ops, O=Admins"));
        assert!(!joined_with_comma("CN=a=b, O=x"));
        assert!(!joined_with_comma("CN=a\\=admin\\,x, O=y"));
    }
}
