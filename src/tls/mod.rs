//! The HTTPS side: certificates loaded from PEM files into a rustls
//! `ServerConfig` (ALPN h2 + http/1.1), client-certificate verification (CA
//! bundles and pinned certificates), live reload, and expiry tracking.
//! A reload builds a whole new `ServerConfig` and swaps it in: handshakes
//! after the swap use it, open connections keep theirs.

pub mod client_auth;
pub mod reload;
pub mod serve;

use crate::config::{ClientAuth, TlsConfig};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
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
    /// Lowercase hex SHA-256 of the DER certificate.
    pub sha256: String,
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
            subject: cert.subject().to_string(),
            sha256: hex_sha256(der),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        })
    }

    /// Days until `not_after` (negative once expired).
    pub fn days_left(&self, now: SystemTime) -> f64 {
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as f64;
        (self.not_after as f64 - now) / 86_400.0
    }
}

pub fn hex_sha256(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02x}")).collect()
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

/// The identity of a client that presented a verified certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub subject: String,
    /// Lowercase hex SHA-256 of the DER certificate.
    pub sha256: String,
}

impl ClientIdentity {
    pub fn from_der(der: &[u8]) -> Self {
        let subject =
            x509_parser::parse_x509_certificate(der).map_or_else(|_| String::new(), |(_, c)| c.subject().to_string());
        Self { subject, sha256: hex_sha256(der) }
    }
}

/// Serves one fixed certificate (the ACME issue adds challenge certificates).
#[derive(Debug)]
struct FixedResolver(Arc<CertifiedKey>);

impl ResolvesServerCert for FixedResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// One loaded generation of certificates.
struct Loaded {
    server: Arc<ServerConfig>,
    certs: Vec<CertInfo>,
}

/// The live TLS configuration, swapped on reload.
pub struct TlsState {
    settings: TlsConfig,
    current: RwLock<Arc<Loaded>>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn build(settings: &TlsConfig) -> Result<Loaded, TlsError> {
    let provider = provider();
    let chain = read_certs("tls_cert", &settings.cert)?;
    let mut certs = vec![CertInfo::parse("server certificate", &settings.cert, &chain[0])?];
    let key = PrivateKeyDer::from_pem_file(&settings.key).map_err(|e| {
        file_err("tls_key", &settings.key, format!("no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}"))
    })?;
    let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| {
        file_err("tls_key", &settings.key, format!("does not fit tls_cert {}: {e}", settings.cert.display()))
    })?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    let builder = if settings.verifies_clients() {
        let mandatory = settings.client_auth == ClientAuth::Required;
        let (verifier, infos) = client_auth::build(settings, provider, mandatory)?;
        certs.extend(infos);
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut server = builder.with_cert_resolver(Arc::new(FixedResolver(Arc::new(certified))));
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Loaded { server: Arc::new(server), certs })
}

impl TlsState {
    /// Loads every configured file.
    ///
    /// # Errors
    /// The first file that cannot be used, named.
    pub fn load(settings: TlsConfig) -> Result<Self, TlsError> {
        let loaded = build(&settings)?;
        let state = Self { settings, current: RwLock::new(Arc::new(loaded)) };
        state.log_loaded("loaded");
        Ok(state)
    }

    /// Rebuilds from the files; on error the current certificates stay.
    ///
    /// # Errors
    /// What `load` would report.
    pub fn reload(&self) -> Result<(), TlsError> {
        let loaded = build(&self.settings)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(loaded);
        self.log_loaded("reloaded");
        Ok(())
    }

    fn now(&self) -> Arc<Loaded> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn log_loaded(&self, what: &str) {
        for c in &self.now().certs {
            tracing::info!(role = c.role, path = %c.path.display(), subject = ?c.subject, sha256 = %c.sha256,
                days_left = format!("{:.1}", c.days_left(SystemTime::now())), "certificate {what}");
        }
    }

    /// An acceptor for the next handshake (the current certificates).
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.now().server.clone())
    }

    /// Every configured certificate with its validity, for expiry checks
    /// and metrics.
    pub fn certificates(&self) -> Vec<CertInfo> {
        self.now().certs.clone()
    }

    pub fn settings(&self) -> &TlsConfig {
        &self.settings
    }

    /// The files whose change triggers a reload.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        let s = &self.settings;
        let mut files = vec![s.cert.clone(), s.key.clone()];
        files.extend(s.client_ca.iter().cloned());
        files.extend(s.client_cert_pin.iter().cloned());
        files
    }

    pub fn handshake_timeout(&self) -> Duration {
        self.settings.handshake_timeout
    }
}
