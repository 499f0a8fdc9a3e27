//! The HTTPS and ACME settings: `tls::TlsOptions` and `acme::AcmeOptions`
//! from the merged `Settings`, validated.

use super::{ConfigError, Settings, bad, duration};
use crate::acme::{AcmeChallenge, AcmeOptions, LETSENCRYPT, LETSENCRYPT_STAGING};
use crate::secret::Secret;
use crate::tls::{ClientAuth, TlsOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub(super) fn tls(s: &Settings) -> Result<(Option<TlsOptions>, Option<AcmeOptions>), ConfigError> {
    let Some(listen) = &s.tls_listen else {
        for (set, key, flag) in [
            (!s.acme_domain.is_empty(), "acme_domain", "--acme-domain"),
            (s.tls_cert.is_some(), "tls_cert", "--tls-cert"),
            (s.tls_key.is_some(), "tls_key", "--tls-key"),
            (!s.client_ca.is_empty(), "client_ca", "--client-ca"),
            (!s.client_cert_pin.is_empty(), "client_cert_pin", "--client-cert-pin"),
            (s.client_auth.is_some(), "client_auth", "--client-auth"),
        ] {
            if set {
                return Err(bad(key, flag, "needs tls_listen (--tls-listen, CREST_TLS_LISTEN), e.g. 0.0.0.0:443"));
            }
        }
        return Ok((None, None));
    };
    let listen = listen.parse().map_err(|e| {
        bad("tls_listen", "--tls-listen", format!("{listen:?} is not an address like 0.0.0.0:443 ({e})"))
    })?;
    let acme = acme(s, listen)?;
    let file = |v: &Option<String>, key: &str, flag: &str| -> Result<Option<PathBuf>, ConfigError> {
        match v {
            Some(_) if acme.is_some() => Err(bad(
                key,
                flag,
                "and acme_domain exclude each other: the certificate comes either from files or from ACME",
            )),
            Some(p) if !p.is_empty() => Ok(Some(PathBuf::from(p))),
            _ if acme.is_some() => Ok(None),
            _ => Err(bad(key, flag, "is required with tls_listen: a PEM file (or use acme_domain)")),
        }
    };
    let cert = file(&s.tls_cert, "tls_cert", "--tls-cert")?;
    let key = file(&s.tls_key, "tls_key", "--tls-key")?;
    let client_auth = match s.client_auth.as_deref() {
        None | Some("optional") => ClientAuth::Optional,
        Some("required") => ClientAuth::Required,
        Some(other) => {
            return Err(bad("client_auth", "--client-auth", format!("{other:?} is not one of optional, required")));
        }
    };
    let config = TlsOptions {
        listen,
        cert,
        key,
        acme_tls_alpn: acme.as_ref().is_some_and(|a| a.challenge == AcmeChallenge::TlsAlpn01),
        client_ca: s.client_ca.iter().map(PathBuf::from).collect(),
        client_cert_pin: s.client_cert_pin.iter().map(PathBuf::from).collect(),
        client_auth,
        handshake_timeout: match &s.tls_handshake_timeout {
            Some(v) => duration(v, "tls_handshake_timeout", "--tls-handshake-timeout")?,
            None => Duration::from_secs(10),
        },
        reload_interval: match &s.tls_reload_interval {
            Some(v) => duration(v, "tls_reload_interval", "--tls-reload-interval")?,
            None => Duration::from_secs(10),
        },
    };
    if client_auth == ClientAuth::Required && !config.verifies_clients() {
        return Err(bad(
            "client_auth",
            "--client-auth",
            "required needs client_ca or client_cert_pin to verify against",
        ));
    }
    Ok((Some(config), acme))
}

fn acme(s: &Settings, listen: SocketAddr) -> Result<Option<AcmeOptions>, ConfigError> {
    let acme_only = [
        (s.acme_email.is_some(), "acme_email", "--acme-email"),
        (s.acme_directory.is_some(), "acme_directory", "--acme-directory"),
        (s.acme_ca_root.is_some(), "acme_ca_root", "--acme-ca-root"),
        (s.acme_challenge.is_some(), "acme_challenge", "--acme-challenge"),
        (s.acme_eab_kid.is_some() || s.acme_eab_hmac.is_some(), "acme_eab_kid", "--acme-eab-kid"),
    ];
    if s.acme_domain.is_empty() {
        if let Some((_, key, flag)) = acme_only.iter().find(|(set, _, _)| *set) {
            return Err(bad(key, flag, "needs acme_domain (--acme-domain, CREST_ACME_DOMAIN)"));
        }
        return Ok(None);
    }
    let mut domains = Vec::new();
    for d in &s.acme_domain {
        let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
        let ok = !d.is_empty()
            && d.len() <= 253
            && d.split('.')
                .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if !ok {
            return Err(bad("acme_domain", "--acme-domain", format!("{d:?} is not a DNS name like api.example.com")));
        }
        if !domains.contains(&d) {
            domains.push(d);
        }
    }
    let directory = match s.acme_directory.as_deref() {
        None | Some("letsencrypt") => LETSENCRYPT.to_owned(),
        Some("letsencrypt-staging") => LETSENCRYPT_STAGING.to_owned(),
        Some(url) if url.starts_with("https://") => url.to_owned(),
        Some(other) => {
            return Err(bad(
                "acme_directory",
                "--acme-directory",
                format!("{other:?} is not an https:// URL, letsencrypt or letsencrypt-staging"),
            ));
        }
    };
    let challenge = match s.acme_challenge.as_deref() {
        None if listen.port() == 443 => AcmeChallenge::TlsAlpn01,
        None | Some("http-01") => AcmeChallenge::Http01,
        Some("tls-alpn-01") => AcmeChallenge::TlsAlpn01,
        Some(other) => {
            return Err(bad(
                "acme_challenge",
                "--acme-challenge",
                format!("{other:?} is not one of http-01, tls-alpn-01"),
            ));
        }
    };
    let eab = match (&s.acme_eab_kid, &s.acme_eab_hmac) {
        (Some(kid), Some(hmac)) => Some((kid.clone(), Secret::new(hmac.clone()))),
        (None, None) => None,
        _ => return Err(bad("acme_eab_kid", "--acme-eab-kid", "and acme_eab_hmac (--acme-eab-hmac) go together")),
    };
    let retry_min = match &s.acme_retry_min {
        Some(v) => duration(v, "acme_retry_min", "--acme-retry-min")?,
        None => Duration::from_secs(60),
    };
    let poll_interval = match &s.acme_poll_interval {
        Some(v) => duration(v, "acme_poll_interval", "--acme-poll-interval")?,
        None => Duration::from_secs(60),
    };
    Ok(Some(AcmeOptions {
        domains,
        email: s.acme_email.clone(),
        directory,
        ca_root: s.acme_ca_root.as_ref().map(PathBuf::from),
        challenge,
        eab,
        retry_min,
        poll_interval,
    }))
}
