//! Per-client rate limiting (off by default), judged after authentication:
//! a token bucket per client — the bearer token, else the verified client
//! certificate, else the peer's address (IPv4, or the /64 of an IPv6
//! address: one host is usually given a whole /64) — refilled at `rate` per
//! second up to `burst`. Requests that fail authentication count against
//! their certificate or address, so guessing tokens is limited too. Over the
//! limit: 429 JSON with `Retry-After`. Health, metrics and ACME paths are
//! never limited.
//!
//! The table holds at most [`MAX_CLIENTS`] buckets. A new client that finds
//! it full starts one sweep: buckets that have refilled are dropped (a full
//! bucket is the same as none), then, if that is not enough, the least
//! recently seen, down to three quarters of the cap. So a flood of new
//! clients costs one O(cap) sweep per quarter of the cap: O(1) per request,
//! amortised. (No LRU crate is a dependency, and this is 30 lines.)

use super::AppState;
use super::error::ApiError;
use super::gate::{Rejection, is_public};
use crate::auth::{AuthConfig, Principal};
use crate::fingerprint::Fingerprint;
use crate::net::ConnInfo;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The most buckets kept at once.
pub const MAX_CLIENTS: usize = 10_000;

/// The configured limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests per second, sustained.
    pub rate: f64,
    /// Requests allowed at once after an idle period.
    pub burst: u32,
}

/// Who a request counts against. `Copy`: keying a request allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// A configured bearer token, by its place in the configuration.
    Token(usize),
    /// A verified client certificate, by its SHA-256.
    Certificate(Fingerprint),
    /// The peer's IPv4 address, or the /64 of its IPv6 address.
    Address(IpAddr),
    /// A request without connection information (not from a listener).
    Unknown,
}

/// Who a request counts against: the token it authenticated with, else
/// the verified certificate of its connection, else its address.
pub fn client_key(auth: &AuthConfig, principal: Option<&Principal>, conn: Option<&ConnInfo>) -> ClientKey {
    if let Some(Principal::Token { name, .. }) = principal
        && let Some(i) = auth.tokens.iter().position(|t| t.name == *name)
    {
        return ClientKey::Token(i);
    }
    match conn {
        Some(ConnInfo { client: Some(client), .. }) => ClientKey::Certificate(client.sha256),
        Some(conn) => ClientKey::Address(address_key(conn.peer.ip())),
        None => ClientKey::Unknown,
    }
}

/// An IPv4 address as it is (also when it arrives mapped into IPv6); an
/// IPv6 address cut to its /64.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

/// Token buckets by client, at most `cap` of them.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    cap: usize,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    buckets: HashMap<ClientKey, Bucket>,
    /// Sweeps of a full table so far.
    sweeps: u64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    /// When the client was last seen.
    at: Instant,
}

impl Bucket {
    fn refilled(&self, now: Instant, limit: RateLimit) -> f64 {
        let idle = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + idle * limit.rate).min(f64::from(limit.burst))
    }

    fn take(&mut self, now: Instant, limit: RateLimit) -> Result<(), Duration> {
        let tokens = self.refilled(now, limit);
        self.at = self.at.max(now);
        if tokens >= 1.0 {
            self.tokens = tokens - 1.0;
            Ok(())
        } else {
            self.tokens = tokens;
            Err(Duration::try_from_secs_f64((1.0 - tokens) / limit.rate).unwrap_or(Duration::MAX))
        }
    }
}

impl Table {
    /// Drops refilled buckets, then the least recently seen, until at most
    /// three quarters of `cap` (and fewer than `cap`) are left.
    fn make_room(&mut self, now: Instant, limit: RateLimit, cap: usize) {
        self.sweeps += 1;
        let keep = cap - (cap / 4).max(1);
        let burst = f64::from(limit.burst);
        self.buckets.retain(|_, b| b.refilled(now, limit) < burst);
        let excess = self.buckets.len().saturating_sub(keep);
        if excess > 0 {
            let mut seen: Vec<Instant> = self.buckets.values().map(|b| b.at).collect();
            let (_, cutoff, _) = seen.select_nth_unstable(excess - 1);
            let cutoff = *cutoff;
            self.buckets.retain(|_, b| b.at > cutoff);
        }
    }
}

impl RateLimiter {
    /// A limiter for at most [`MAX_CLIENTS`] clients at once.
    pub fn new(limit: RateLimit) -> Self {
        Self::with_capacity(limit, MAX_CLIENTS)
    }

    /// A limiter for at most `cap` (at least 1) clients at once.
    pub fn with_capacity(limit: RateLimit, cap: usize) -> Self {
        Self { limit, cap: cap.max(1), table: Mutex::new(Table::default()) }
    }

    /// Takes one token for `key`, or says how long until one is there.
    ///
    /// # Errors
    /// The wait until the next token.
    pub fn check(&self, key: ClientKey, now: Instant) -> Result<(), Duration> {
        let limit = self.limit;
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bucket) = table.buckets.get_mut(&key) {
            return bucket.take(now, limit);
        }
        if table.buckets.len() >= self.cap {
            table.make_room(now, limit, self.cap);
        }
        let mut bucket = Bucket { tokens: f64::from(limit.burst), at: now };
        let taken = bucket.take(now, limit);
        table.buckets.insert(key, bucket);
        taken
    }
}

fn exempt(path: &str) -> bool {
    path == "/metrics" || is_public(path)
}

/// 429 when `key` is over its limit (run by the front middleware, after
/// authentication, for callers that passed it and callers that did not).
///
/// # Errors
/// The 429, with `Retry-After`.
pub fn check(state: &AppState, path: &str, key: ClientKey) -> Result<(), Rejection> {
    let Some(limiter) = state.limiter.as_ref() else { return Ok(()) };
    if exempt(path) {
        return Ok(());
    }
    limiter.check(key, Instant::now()).map_err(|wait| {
        state.metrics.rate_limited();
        let retry_after = wait.as_secs_f64().ceil().max(1.0) as u64;
        let RateLimit { rate, burst } = limiter.limit;
        let error = ApiError::TooManyRequests {
            message: format!(
                "rate limit exceeded: {rate} requests/s with bursts of {burst} per client; retry after {retry_after}s"
            ),
            retry_after,
        };
        Rejection { reason: "rate_limit", error }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Role, Token, hash};
    use crate::net::ClientIdentity;
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// The `n`th of many distinct clients.
    fn client(n: u32) -> ClientKey {
        ClientKey::Address(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)))
    }

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let limiter = RateLimiter::new(RateLimit { rate: 2.0, burst: 3 });
        let (a, b) = (client(1), client(2));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(a, t0).is_ok());
        }
        let wait = limiter.check(a, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        assert!(limiter.check(b, t0).is_ok(), "another client has its own bucket");
        assert!(limiter.check(a, t0 + Duration::from_millis(500)).is_ok());
        assert!(limiter.check(a, t0 + Duration::from_millis(500)).is_err());
        // Idle for long: back to a full burst, no more.
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..10).filter(|_| limiter.check(a, later).is_ok()).count(), 3);
    }

    /// A flood of new clients, none of whose buckets refills: the table
    /// never holds more than its cap, and it is swept once per quarter of
    /// the cap, not on every new client (which would be quadratic).
    #[test]
    fn the_table_stays_at_its_cap_and_is_swept_rarely() {
        let cap = 100;
        let limiter = RateLimiter::with_capacity(RateLimit { rate: 1e-6, burst: 1 }, cap);
        let t0 = Instant::now();
        for n in 0..10_000 {
            let now = t0 + Duration::from_micros(u64::from(n));
            assert!(limiter.check(client(n), now).is_ok(), "a new client has a full bucket");
            let table = limiter.table.lock().unwrap();
            assert!(table.buckets.len() <= cap, "{} buckets after {n} clients", table.buckets.len());
        }
        let sweeps = limiter.table.lock().unwrap().sweeps;
        assert!(sweeps <= 10_000 / 25 + 1, "{sweeps} sweeps");
    }

    /// A sweep drops refilled buckets first (nothing is lost), then the
    /// least recently seen; a client seen lately keeps its empty bucket.
    #[test]
    fn a_sweep_forgets_refilled_then_least_recent_clients() {
        let limiter = RateLimiter::with_capacity(RateLimit { rate: 1.0, burst: 1 }, 8);
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // Client 0 was here long ago: its bucket is full again by t0 + 10 s.
        assert!(limiter.check(client(0), t0).is_ok());
        for n in 1..8 {
            assert!(limiter.check(client(n), ms(9_000 + u64::from(n))).is_ok());
        }
        assert!(limiter.check(client(1), ms(9_100)).is_err(), "client 1 is seen again, still empty");
        assert!(limiter.check(client(100), ms(9_200)).is_ok());
        let table = limiter.table.lock().unwrap();
        let kept = |n| table.buckets.contains_key(&client(n));
        assert!(!kept(0), "the refilled bucket goes first");
        assert!(!kept(2), "then the least recently seen, down to 3/4 of the cap");
        assert!((3..8).all(kept) && kept(1) && kept(100));
        assert_eq!(table.buckets.len(), 7);
        drop(table);
        assert!(limiter.check(client(1), ms(9_300)).is_err(), "client 1's bucket was kept, empty");
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let key = |s| address_key(ip(s));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), ip("2001:db8:1:2::"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::1"), ip("::"));
        assert_eq!(key("192.0.2.7"), ip("192.0.2.7"));
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"), "IPv4 clients are one address each");
        assert_eq!(key("::ffff:192.0.2.7"), ip("192.0.2.7"), "a mapped IPv4 address is that address");
    }

    #[test]
    fn a_token_counts_before_a_certificate_before_an_address() {
        let auth = AuthConfig {
            tokens: ["a", "b"].map(|n| Token { name: n.into(), role: Role::Read, sha256: hash(n) }).to_vec(),
            ..AuthConfig::default()
        };
        let sha256 = Fingerprint::of(b"cert");
        let client = Some(ClientIdentity {
            name: "CN=x".parse().unwrap(),
            subject: "CN=x".into(),
            sha256,
            not_before: 0,
            not_after: i64::MAX,
            chain: Arc::from([]),
            memo: Arc::default(),
        });
        let peer = "[2001:db8::7]:443".parse().unwrap();
        let (with_cert, plain) = (ConnInfo { peer, client }, ConnInfo { peer, client: None });
        let b = Principal::Token { name: "b".into(), role: Role::Read };
        assert_eq!(client_key(&auth, Some(&b), Some(&with_cert)), ClientKey::Token(1));
        assert_eq!(client_key(&auth, Some(&Principal::Open), Some(&with_cert)), ClientKey::Certificate(sha256));
        assert_eq!(client_key(&auth, None, Some(&plain)), ClientKey::Address(ip("2001:db8::")));
        assert_eq!(client_key(&auth, None, None), ClientKey::Unknown);
    }
}
