//! `AppState`: what every handler and the front middleware share.

use super::rate_limit::RateLimiter;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::service::Dimensions;
use crate::tls::{Challenges, TlsState};
use std::sync::Arc;
use std::time::Duration;

/// One `Arc`, so the per-request clones of the state (middleware,
/// extractors) are one reference count each.
#[derive(Clone)]
pub struct AppState(pub Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The fields of [`AppState`].
#[derive(Clone)]
pub struct Shared {
    /// The dimensions: every read and change goes through here.
    pub dimensions: Arc<Dimensions>,
    /// ACME challenge answers, when ACME is on.
    pub challenges: Option<Arc<Challenges>>,
    pub metrics: Arc<Metrics>,
    /// Per-client rate limit, when configured.
    pub limiter: Option<Arc<RateLimiter>>,
    /// Serve `/metrics` on the API listener (false with `metrics_listen`).
    pub metrics_on_api: bool,
    /// Tokens and certificate roles.
    pub auth: Arc<crate::auth::AuthConfig>,
    /// Callers must authenticate (tokens configured or certificates verified).
    pub auth_enabled: bool,
    /// Requests without a verified client certificate reach only the public
    /// paths (`gate`): the HTTPS listener verifies certificates and no
    /// bearer tokens are configured.
    pub require_certificate: bool,
    /// The TLS state (pinned certificates are `aas`), when TLS is on.
    pub tls: Option<Arc<TlsState>>,
    /// The longest `?wait=` a long-poll may ask for (below request_timeout).
    pub max_wait: Duration,
    /// The server's time: client certificates' validity dates are judged by it.
    pub clock: Clock,
    /// Cancelled at SIGTERM: the drain has begun, `/readyz` answers 503.
    pub draining: tokio_util::sync::CancellationToken,
    /// The ACME manager, when certificates come from ACME (`/v1/status`).
    pub acme: Option<Arc<crate::acme::Acme>>,
    /// Serve the status page (`/ui`).
    pub ui: bool,
    /// The JSON answers of unchanged dimensions, sent again as they are.
    pub bodies: Arc<super::bodies::Bodies>,
}
