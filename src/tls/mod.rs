//! The HTTPS side: certificates loaded from PEM files into a rustls
//! `ServerConfig` (ALPN h2 + http/1.1), client-certificate verification (CA
//! bundles and pinned certificates), live reload, and expiry tracking.
//! A reload builds a whole new `ServerConfig` and swaps it in: handshakes
//! after the swap use it, open connections keep theirs, but their client
//! certificates are judged against the new settings on their next request
//! (`trust`). When client certificates are verified, TLS sessions are not
//! resumed: a session would outlive its certificate's checks.

pub mod client_auth;
mod options;
pub mod reload;
mod resolver;
mod trust;

pub use options::{ClientAuth, TlsOptions};
pub use resolver::{ACME_TLS_ALPN, Challenges, Resolver};
pub use trust::Standing;

use crate::fingerprint::Fingerprint;
use crate::metrics::{Gauge, GaugeValue};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_rustls::TlsAcceptor;

/// Why certificates could not be loaded. The text names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{what} {path}: {detail}")]
    File { what: &'static str, path: PathBuf, detail: String },
    #[error("TLS setup failed: {0}")]
    Setup(String),
}

fn file_err(what: &'static str, path: &Path, detail: impl std::fmt::Display) -> TlsError {
    TlsError::File { what, path: path.to_owned(), detail: detail.to_string() }
}

/// What we track about one configured certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct CertInfo {
    /// "server certificate", "client CA", "pinned client certificate".
    pub role: &'static str,
    pub path: PathBuf,
    pub subject: String,
    /// The SHA-256 of the DER certificate.
    pub sha256: Fingerprint,
    pub not_before: i64,
    pub not_after: i64,
}

impl CertInfo {
    /// # Errors
    /// When the DER is not an X.509 certificate.
    pub fn parse(role: &'static str, path: &Path, der: &[u8]) -> Result<Self, TlsError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| file_err(role, path, format!("not an X.509 certificate: {e}")))?;
        Ok(Self {
            role,
            path: path.to_owned(),
            subject: crate::net::identity::name_of(cert.subject()).map_or_else(String::new, |n| n.to_string()),
            sha256: Fingerprint::of(der),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        })
    }

    /// Days until `not_after` (negative once expired).
    pub fn days_left(&self, now: SystemTime) -> f64 {
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as f64;
        (self.not_after as f64 - now) / 86_400.0
    }

    /// [`Self::days_left`] to one decimal, as the log shows it (a number).
    pub fn days_left_shown(&self, now: SystemTime) -> f64 {
        (self.days_left(now) * 10.0).round() / 10.0
    }
}

/// Reads every certificate of a PEM file.
///
/// # Errors
/// Unreadable file, bad PEM, or no certificate in it.
pub fn read_certs(role: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(role, path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(role, path, e))?;
    if certs.is_empty() {
        return Err(file_err(role, path, "no PEM certificate (-----BEGIN CERTIFICATE-----) in the file"));
    }
    Ok(certs)
}

/// One loaded generation of the TLS configuration.
struct Loaded {
    /// Counts the loads, from 1: a verdict on a client certificate holds
    /// for the generation it was made under.
    generation: u64,
    server: Arc<ServerConfig>,
    /// Pinned client certificates and client CAs.
    client_certs: Vec<CertInfo>,
    /// What verifies client certificates, when they are verified.
    clients: Option<Arc<client_auth::ClientVerifier>>,
}

/// The live TLS configuration, swapped on reload.
pub struct TlsState {
    settings: TlsOptions,
    resolver: Arc<Resolver>,
    current: RwLock<Arc<Loaded>>,
    /// The last generation handed out.
    generations: AtomicU64,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds a `CertifiedKey` from PEM texts, checking that key and chain fit.
///
/// # Errors
/// Bad PEM, no certificate, unusable key, or a key that does not fit.
pub fn certified_key(chain_pem: &[u8], key_pem: &[u8]) -> Result<(CertifiedKey, CertInfo), String> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(chain_pem).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    let leaf = chain.first().ok_or("no PEM certificate in the chain")?;
    let info = CertInfo::parse("server certificate", Path::new("(store)"), leaf).map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("no usable private key: {e}"))?;
    let certified = CertifiedKey::from_der(chain, key, &provider()).map_err(|e| e.to_string())?;
    Ok((certified, info))
}

fn load_files(cert: &Path, key: &Path) -> Result<(CertifiedKey, CertInfo), TlsError> {
    let chain = read_certs("tls_cert", cert)?;
    let info = CertInfo::parse("server certificate", cert, &chain[0])?;
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| file_err("tls_key", key, format!("no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}")))?;
    let certified = CertifiedKey::from_der(chain, key_der, &provider())
        .map_err(|e| file_err("tls_key", key, format!("does not fit tls_cert {}: {e}", cert.display())))?;
    Ok((certified, info))
}

fn build(settings: &TlsOptions, resolver: Arc<Resolver>, generation: u64) -> Result<Loaded, TlsError> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    let (mut client_certs, mut clients) = (Vec::new(), None);
    let builder = if settings.verifies_clients() {
        let mandatory = settings.client_auth == ClientAuth::Required;
        let (verifier, infos) = client_auth::build(settings, provider, mandatory)?;
        client_certs = infos;
        clients = Some(verifier.clone());
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut server = builder.with_cert_resolver(resolver);
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    if settings.acme_tls_alpn {
        server.alpn_protocols.push(ACME_TLS_ALPN.to_vec());
    }
    if clients.is_some() {
        // No resumption: a resumed session skips the certificate and its
        // checks. No TLS 1.2 session ids, no TLS 1.3 tickets (the ticketer
        // is rustls' default, which never makes one). Every connection does
        // a full handshake, which AAS's rate of calls does not notice.
        server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        server.send_tls13_tickets = 0;
    }
    Ok(Loaded { generation, server: Arc::new(server), client_certs, clients })
}

impl TlsState {
    /// Loads every configured file.
    ///
    /// # Errors
    /// The first file that cannot be used, named.
    pub fn load(settings: TlsOptions) -> Result<Self, TlsError> {
        let resolver = Arc::new(Resolver::default());
        if let (Some(cert), Some(key)) = (&settings.cert, &settings.key) {
            let (certified, info) = load_files(cert, key)?;
            resolver.set(Arc::new(certified), info);
        }
        let loaded = build(&settings, resolver.clone(), 1)?;
        let state = Self { settings, resolver, current: RwLock::new(Arc::new(loaded)), generations: AtomicU64::new(1) };
        state.log_loaded("loaded");
        Ok(state)
    }

    /// Puts a new server certificate live (ACME); handshakes from now on use it.
    pub fn install(&self, key: CertifiedKey, info: CertInfo) {
        tracing::info!(subject = %info.subject, sha256 = %info.sha256,
            days_left = info.days_left_shown(SystemTime::now()), "certificate installed");
        self.resolver.set(Arc::new(key), info);
    }

    /// The live server certificate, if there is one yet.
    pub fn server_certificate(&self) -> Option<CertInfo> {
        self.resolver.info()
    }

    /// Where ACME challenge answers are kept (the resolver answers
    /// TLS-ALPN-01 handshakes from it).
    pub fn challenges(&self) -> Arc<Challenges> {
        self.resolver.challenges()
    }

    /// Rebuilds from the files; on error the current certificates stay.
    ///
    /// # Errors
    /// What `load` would report.
    pub fn reload(&self) -> Result<(), TlsError> {
        let files = match (&self.settings.cert, &self.settings.key) {
            (Some(cert), Some(key)) => Some(load_files(cert, key)?),
            _ => None,
        };
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        let loaded = build(&self.settings, self.resolver.clone(), generation)?;
        if let Some((certified, info)) = files {
            self.resolver.set(Arc::new(certified), info);
        }
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(loaded);
        self.log_loaded("reloaded");
        Ok(())
    }

    fn now(&self) -> Arc<Loaded> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn log_loaded(&self, what: &str) {
        for c in &self.certificates() {
            tracing::info!(role = c.role, path = %c.path.display(), subject = %c.subject, sha256 = %c.sha256,
                days_left = c.days_left_shown(SystemTime::now()), "certificate {what}");
        }
    }

    /// An acceptor for the next handshake (the current certificates).
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.now().server.clone())
    }

    /// Every configured certificate with its validity, for expiry checks
    /// and metrics.
    pub fn certificates(&self) -> Vec<CertInfo> {
        let mut all: Vec<CertInfo> = self.server_certificate().into_iter().collect();
        all.extend(self.now().client_certs.iter().cloned());
        all
    }

    pub fn settings(&self) -> &TlsOptions {
        &self.settings
    }

    /// The files whose change triggers a reload.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        let s = &self.settings;
        let mut files: Vec<PathBuf> = s.cert.iter().chain(s.key.iter()).cloned().collect();
        files.extend(s.client_ca.iter().cloned());
        files.extend(s.client_cert_pin.iter().cloned());
        files
    }

    pub fn handshake_timeout(&self) -> Duration {
        self.settings.handshake_timeout
    }
}

/// Certificate days left, at every scrape.
impl crate::metrics::Sampler for TlsState {
    fn gauges(&self, now: SystemTime) -> Vec<Gauge> {
        let certs = self.certificates();
        let server = certs.iter().find(|c| c.role == "server certificate").map(|c| c.days_left(now));
        let clients = certs
            .iter()
            .filter(|c| c.role != "server certificate")
            .map(|c| {
                let kind = if c.role == "client CA" { "ca" } else { "pin" };
                (vec![("kind", kind.to_owned()), ("sha256", c.sha256.to_string())], c.days_left(now))
            })
            .collect();
        vec![
            Gauge {
                name: "crest_tls_server_certificate_days_left",
                help: "Days until the server certificate expires",
                value: GaugeValue::Plain(server),
            },
            Gauge {
                name: "crest_tls_client_certificate_days_left",
                help: "Days until each pinned client certificate or client CA expires",
                value: GaugeValue::Labelled(clients),
            },
        ]
    }
}
