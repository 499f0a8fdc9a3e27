//! Per-client rate limiting (off by default): a token bucket per client —
//! the bearer token's name, else the verified client certificate, else the
//! peer IP —
//! refilled at `rate` per second up to `burst`. Over the limit: 429 JSON with
//! `Retry-After`. Health, metrics and ACME paths are never limited.

use super::AppState;
use super::error::ApiError;
use crate::net::ConnInfo;
use axum::extract::Request;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Buckets kept before full (idle) ones are dropped.
const PRUNE_AT: usize = 10_000;

/// The configured limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests per second, sustained.
    pub rate: f64,
    /// Requests allowed at once after an idle period.
    pub burst: u32,
}

/// Token buckets by client key.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self { limit, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `key`, or says how long until one is there.
    ///
    /// # Errors
    /// The wait until the next token.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let burst = f64::from(self.limit.burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= PRUNE_AT && !buckets.contains_key(key) {
            let rate = self.limit.rate;
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket { tokens: burst, at: now });
        let refilled = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * self.limit.rate).min(burst);
        *bucket = Bucket { tokens: refilled, at: now };
        if refilled >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - refilled) / self.limit.rate))
        }
    }
}

/// Who a request counts against: the client certificate, else the peer IP.
pub fn client_key(req: &Request) -> String {
    if let Some(crate::auth::Principal::Token { name, .. }) = req.extensions().get::<crate::auth::Principal>() {
        return format!("token:{name}");
    }
    let conn = req.extensions().get::<Arc<ConnInfo>>();
    if let Some(client) = conn.and_then(|c| c.client.as_ref()) {
        return format!("cert:{}", client.sha256);
    }
    conn.map(|c| c.peer).map_or_else(|| "unknown".to_owned(), |p| format!("ip:{}", p.ip()))
}

fn exempt(path: &str) -> bool {
    path == "/metrics" || super::gate::is_public(path)
}

/// 429 when the caller is over its limit (run by `super::front`).
pub fn check(state: &AppState, req: &Request) -> Result<(), ApiError> {
    let Some(limiter) = state.limiter.as_ref() else { return Ok(()) };
    if exempt(req.uri().path()) {
        return Ok(());
    }
    let key = client_key(req);
    limiter.check(&key, Instant::now()).map_err(|wait| {
        state.metrics.rate_limited();
        let retry_after = wait.as_secs_f64().ceil().max(1.0) as u64;
        let RateLimit { rate, burst } = limiter.limit;
        ApiError::TooManyRequests {
            message: format!(
                "rate limit exceeded: {rate} requests/s with bursts of {burst} per client; retry after {retry_after}s"
            ),
            retry_after,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let limiter = RateLimiter::new(RateLimit { rate: 2.0, burst: 3 });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check("a", t0).is_ok());
        }
        let wait = limiter.check("a", t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        assert!(limiter.check("b", t0).is_ok(), "another client has its own bucket");
        assert!(limiter.check("a", t0 + Duration::from_millis(500)).is_ok());
        assert!(limiter.check("a", t0 + Duration::from_millis(500)).is_err());
        // Idle for long: back to a full burst, no more.
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..10).filter(|_| limiter.check("a", later).is_ok()).count(), 3);
    }
}
