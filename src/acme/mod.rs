//! Certificates from an ACME CA (Let's Encrypt), ordered and renewed inside
//! crest with instant-acme. The account and the certificate live in the
//! configured store, keyed by directory URL and domain set, so restarts reuse
//! them, staging and production never mix, and replicas share them (one
//! replica orders at a time under the store's lock; the others pick the new
//! certificate up from the store). Failures keep the current certificate and
//! retry with exponential backoff plus jitter.

pub mod challenge;
mod error;
mod options;
pub mod schedule;

pub use error::AcmeError;
pub use options::{AcmeChallenge, AcmeOptions, LETSENCRYPT, LETSENCRYPT_STAGING};

use crate::fingerprint::Fingerprint;
use crate::metrics::{Gauge, GaugeValue};
use crate::store::Store;
use crate::tls::Challenges;
use crate::tls::{TlsState, certified_key};
use challenge::{alpn_certificate, http01_secret};
use error::{ca_err, err};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, CertificateIdentifier, ChallengeType, ExternalAccountKey,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use rustls::pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// What operators (and metrics) can see.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AcmeStatus {
    /// The live certificate's end of validity (Unix seconds).
    pub not_after: Option<i64>,
    /// When crest plans to renew (Unix seconds).
    pub renew_at: Option<i64>,
    /// The last failure, cleared by the next success.
    pub last_error: Option<String>,
    /// Failed attempts in a row.
    pub failures: u32,
    /// Orders this process placed.
    pub orders: u32,
}

/// The certificate as kept in the store.
#[derive(Serialize, Deserialize)]
struct StoredCert {
    chain_pem: String,
    key_pem: String,
}

pub struct Acme {
    config: AcmeOptions,
    store: Arc<dyn Store>,
    tls: Arc<TlsState>,
    challenges: Arc<Challenges>,
    status: RwLock<AcmeStatus>,
    /// SHA-256 of the installed leaf.
    installed: RwLock<Option<Fingerprint>>,
    /// The directory answered a renewalInfo (ARI) query.
    ari: AtomicBool,
    /// The renewal time computed for a leaf (by SHA-256), and when: ARI is
    /// asked again only after `ARI_RECHECK`, so polling never hammers the CA.
    planned: RwLock<Option<(Fingerprint, i64, Instant)>>,
}

/// How often the CA's renewal window (ARI) is asked again for the same certificate.
const ARI_RECHECK: Duration = Duration::from_secs(6 * 3600);

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// A number in [0, 1) that differs from call to call (jitter, ARI pick).
fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    (h.finish() % 1_000_000) as f64 / 1_000_000.0
}

impl Acme {
    pub fn new(config: AcmeOptions, store: Arc<dyn Store>, tls: Arc<TlsState>) -> Self {
        let challenges = tls.challenges();
        Self {
            config,
            store,
            tls,
            challenges,
            status: RwLock::default(),
            installed: RwLock::default(),
            ari: AtomicBool::new(false),
            planned: RwLock::default(),
        }
    }

    pub fn status(&self) -> AcmeStatus {
        self.status.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn update(&self, f: impl FnOnce(&mut AcmeStatus)) {
        f(&mut self.status.write().unwrap_or_else(PoisonError::into_inner));
    }

    /// `acme/<sha256(directory)>/account`: one account per CA.
    fn account_key(&self) -> String {
        format!("acme/{}/account", Fingerprint::of(self.config.directory.as_bytes()))
    }

    /// `acme/<sha256(directory, domains)>/…`: one certificate per CA and domain set.
    fn cert_key(&self, what: &str) -> String {
        let mut domains = self.config.domains.clone();
        domains.sort();
        let id = Fingerprint::of(format!("{}\n{}", self.config.directory, domains.join(",")).as_bytes());
        format!("acme/{id}/{what}")
    }

    /// Runs until `shutdown`: install, renew, retry.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        tracing::info!(domains = %self.config.domains.join(","), directory = %self.config.directory,
            challenge = %self.config.challenge, "ACME certificate management started");
        loop {
            let wait = match self.step().await {
                Ok(wait) => {
                    self.update(|s| {
                        s.failures = 0;
                        s.last_error = None;
                    });
                    wait
                }
                Err(e) => {
                    self.challenges.clear();
                    let failures = self.status().failures + 1;
                    let wait = schedule::backoff(failures, self.config.retry_min, random_fraction());
                    let retry_in = schedule::for_the_log(wait);
                    if self.tls.server_certificate().is_some() {
                        tracing::error!(error = %e, failures, %retry_in,
                            "ACME attempt failed; the current certificate keeps serving");
                    } else {
                        tracing::error!(error = %e, failures, %retry_in,
                            "ACME attempt failed; no certificate is serving yet: HTTPS handshakes fail until one is issued");
                    }
                    self.update(|s| {
                        s.failures = failures;
                        s.last_error = Some(e.to_string());
                    });
                    wait
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One round: install what the store has; order when due (under the
    /// lock); returns how long to sleep.
    async fn step(&self) -> Result<Duration, AcmeError> {
        let poll = self.config.poll_interval;
        let stored = self.load_and_install().await?;
        let due = match &stored {
            Some(der) => self.renewal_time(der).await,
            None => unix_now(),
        };
        if due > unix_now() {
            return Ok(Duration::from_secs((due - unix_now()) as u64).min(poll));
        }
        let Some(_lock) = self.store.try_lock(&self.cert_key("order")).await.map_err(err("store lock"))? else {
            tracing::info!("another replica is ordering the certificate; waiting for it in the store");
            return Ok(poll.min(Duration::from_secs(5)));
        };
        // Another replica may have finished while we waited for the lock.
        if let Some(der) = self.load_and_install().await?
            && Some(&der) != stored.as_ref()
            && self.renewal_time(&der).await > unix_now()
        {
            return Ok(Duration::ZERO);
        }
        let account = self.account().await?;
        self.order(&account, stored.as_ref()).await?;
        Ok(Duration::ZERO)
    }

    /// Installs the stored certificate when it differs from the live one;
    /// returns its leaf DER.
    async fn load_and_install(&self) -> Result<Option<Vec<u8>>, AcmeError> {
        let Some(bytes) = self.store.get_secret(&self.cert_key("certificate")).await.map_err(err("store"))? else {
            return Ok(None);
        };
        let stored: StoredCert = serde_json::from_slice(&bytes).map_err(err("stored certificate"))?;
        let (certified, info) = certified_key(stored.chain_pem.as_bytes(), stored.key_pem.as_bytes())
            .map_err(|e| err("stored certificate")(&e))?;
        let der = certified.cert[0].to_vec();
        let fresh = self.installed.read().unwrap_or_else(PoisonError::into_inner).as_ref() != Some(&info.sha256);
        if fresh {
            if info.not_after <= unix_now() {
                tracing::warn!(sha256 = %info.sha256, "the stored certificate has expired; ordering a new one");
                return Ok(None);
            }
            *self.installed.write().unwrap_or_else(PoisonError::into_inner) = Some(info.sha256);
            self.update(|s| s.not_after = Some(info.not_after));
            self.tls.install(certified, info);
        }
        Ok(Some(der))
    }

    /// When to renew `der`: ARI when the CA offers it, else 2/3 of the lifetime.
    async fn renewal_time(&self, der: &[u8]) -> i64 {
        let sha = Fingerprint::of(der);
        if let Some((planned_for, at, when)) = self.planned.read().unwrap_or_else(PoisonError::into_inner).as_ref()
            && *planned_for == sha
            && when.elapsed() < ARI_RECHECK
        {
            return *at;
        }
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else { return unix_now() };
        let (nb, na) = (cert.validity().not_before.timestamp(), cert.validity().not_after.timestamp());
        let window = self.ari_window(der).await;
        let at = schedule::renew_at(nb, na, window, random_fraction());
        if self.status().renew_at != Some(at) {
            tracing::info!(renew_at = %humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(at.max(0) as u64)),
                ari = window.is_some(), "next certificate renewal scheduled");
            self.update(|s| s.renew_at = Some(at));
        }
        *self.planned.write().unwrap_or_else(PoisonError::into_inner) = Some((sha, at, Instant::now()));
        at
    }

    /// The CA's suggested renewal window (ARI), if the directory has one.
    async fn ari_window(&self, der: &[u8]) -> Option<(i64, i64)> {
        let account = self.account().await.ok()?;
        let cert = CertificateDer::from(der.to_vec());
        let id = CertificateIdentifier::try_from(&cert).ok()?;
        let (info, _) = account.renewal_info(&id).await.ok()?;
        self.ari.store(true, Ordering::Relaxed);
        let w = info.suggested_window;
        Some((w.start.unix_timestamp(), w.end.unix_timestamp()))
    }

    fn builder(&self) -> Result<instant_acme::AccountBuilder, AcmeError> {
        match &self.config.ca_root {
            Some(root) => Account::builder_with_root(root).map_err(err("acme_ca_root")),
            None => Account::builder().map_err(err("ACME HTTP client")),
        }
    }

    /// The stored account, or a new one (saved before use).
    async fn account(&self) -> Result<Account, AcmeError> {
        let key = self.account_key();
        if let Some(bytes) = self.store.get_secret(&key).await.map_err(err("store"))? {
            let creds: AccountCredentials = serde_json::from_slice(&bytes).map_err(err("stored ACME account"))?;
            return self.builder()?.from_credentials(creds).await.map_err(ca_err("ACME account", &self.config));
        }
        let contact: Vec<String> = self.config.email.iter().map(|e| format!("mailto:{e}")).collect();
        let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
        let eab = match &self.config.eab {
            Some((kid, hmac)) => {
                use base64::Engine;
                let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(hmac.expose().trim_end_matches('='))
                    .map_err(err("acme_eab_hmac is not base64url"))?;
                Some(ExternalAccountKey::new(kid.clone(), &key))
            }
            None => None,
        };
        let new = NewAccount { contact: &contact, terms_of_service_agreed: true, only_return_existing: false };
        let (account, creds) = self
            .builder()?
            .create(&new, self.config.directory.clone(), eab.as_ref())
            .await
            .map_err(ca_err("ACME account creation", &self.config))?;
        let bytes = serde_json::to_vec(&creds).map_err(err("ACME account"))?;
        self.store.put_secret(&key, &bytes).await.map_err(err("store"))?;
        tracing::info!(account = account.id(), "ACME account created and stored");
        Ok(account)
    }

    /// Orders, proves control, finalizes, stores and installs a certificate.
    async fn order(&self, account: &Account, replaces: Option<&Vec<u8>>) -> Result<(), AcmeError> {
        let ids: Vec<Identifier> = self.config.domains.iter().map(|d| Identifier::Dns(d.clone())).collect();
        let mut new = NewOrder::new(&ids);
        let old = replaces.map(|der| CertificateDer::from(der.clone()));
        let old_id = old.as_ref().and_then(|c| CertificateIdentifier::try_from(c).ok());
        if let Some(id) = old_id.filter(|_| self.ari.load(Ordering::Relaxed)) {
            new = new.replaces(id);
        }
        let mut order = account.new_order(&new).await.map_err(ca_err("new order", &self.config))?;
        self.update(|s| s.orders += 1);
        tracing::info!(order = order.url(), domains = %self.config.domains.join(","), "ACME order created");
        let mut shared_tokens = Vec::new();
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(ca_err("authorization", &self.config))?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => return Err(AcmeError(format!("authorization is {other:?}"))),
            }
            let kind = match self.config.challenge {
                AcmeChallenge::Http01 => ChallengeType::Http01,
                AcmeChallenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
            };
            let mut challenge = authz
                .challenge(kind.clone())
                .ok_or_else(|| AcmeError(format!("the CA offers no {kind:?} challenge")))?;
            let domain = challenge.identifier().to_string();
            let key_auth = challenge.key_authorization();
            match self.config.challenge {
                AcmeChallenge::Http01 => {
                    self.challenges.set_http01(&challenge.token, key_auth.as_str());
                    let name = http01_secret(&challenge.token);
                    self.store.put_secret(&name, key_auth.as_str().as_bytes()).await.map_err(err("store"))?;
                    shared_tokens.push(name);
                }
                AcmeChallenge::TlsAlpn01 => {
                    let cert =
                        alpn_certificate(&domain, key_auth.digest().as_ref()).map_err(|e| err("tls-alpn-01")(&e))?;
                    self.challenges.set_alpn(&domain, Arc::new(cert));
                }
            }
            challenge.set_ready().await.map_err(ca_err("challenge", &self.config))?;
            tracing::info!(domain, challenge = %self.config.challenge, "ACME challenge ready");
        }
        let status = order.poll_ready(&RetryPolicy::default()).await.map_err(ca_err("order", &self.config));
        self.challenges.clear();
        for name in shared_tokens {
            let _ = self.store.put_secret(&name, b"").await;
        }
        let status = status?;
        if status != OrderStatus::Ready {
            return Err(AcmeError(format!("order is {status:?}: the CA could not validate the challenge")));
        }
        tracing::info!("ACME order valid; finalizing");
        let key_pem = order.finalize().await.map_err(ca_err("finalize", &self.config))?;
        let chain_pem =
            order.poll_certificate(&RetryPolicy::default()).await.map_err(ca_err("certificate", &self.config))?;
        // Check it before storing: a certificate that does not load is never saved.
        certified_key(chain_pem.as_bytes(), key_pem.as_bytes()).map_err(|e| err("issued certificate")(&e))?;
        let bytes = serde_json::to_vec(&StoredCert { chain_pem, key_pem }).map_err(err("certificate"))?;
        self.store.put_secret(&self.cert_key("certificate"), &bytes).await.map_err(err("store"))?;
        tracing::info!("certificate issued and stored");
        self.load_and_install().await?;
        Ok(())
    }
}

/// The ACME certificate and renewal state, at every scrape.
impl crate::metrics::Sampler for Acme {
    fn gauges(&self, _now: SystemTime) -> Vec<Gauge> {
        let status = self.status();
        let gauge = |name, help, value| Gauge { name, help, value: GaugeValue::Plain(value) };
        vec![
            gauge(
                "crest_acme_certificate_not_after_timestamp_seconds",
                "Expiry (Unix time) of the certificate ACME issued",
                status.not_after.map(|t| t as f64),
            ),
            gauge(
                "crest_acme_renewal_failures",
                "Consecutive failed ACME attempts (0 after a success)",
                Some(f64::from(status.failures)),
            ),
            gauge(
                "crest_acme_renew_at_timestamp_seconds",
                "When crest will next renew (Unix time)",
                status.renew_at.map(|t| t as f64),
            ),
        ]
    }
}
