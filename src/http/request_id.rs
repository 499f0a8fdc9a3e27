//! `X-Request-Id`: a caller's id is kept when it is sane (1–128 of
//! `A-Z a-z 0-9 . _ -`), otherwise one is generated; it is returned on the
//! response and recorded on the request's span, so every log line of the
//! request carries it.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest caller-supplied id we keep.
const MAX_LEN: usize = 128;

fn acceptable(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_LEN
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// 32 hex digits, unique within the process and unpredictable across them
/// (a counter mixed with this process's random key, then the counter). The
/// mix is a bijection (splitmix64's finalizer), not a keyed hash: cheap, and
/// the ids need no secrecy, only uniqueness.
fn generate() -> HeaderValue {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static KEY: OnceLock<u64> = OnceLock::new();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let key = *KEY.get_or_init(|| RandomState::new().hash_one(std::process::id()));
    let mut z = n ^ key;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let mut hex = [0u8; 32];
    // Both numbers at once, two digits per byte from a table.
    let digits = (u128::from(z) << 64 | u128::from(n)).to_be_bytes();
    for (pair, byte) in hex.chunks_exact_mut(2).zip(digits) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(byte)]);
    }
    HeaderValue::from_bytes(&hex).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// The two hex digits of every byte.
static HEX_PAIRS: [[u8; 2]; 256] = {
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [HEX[i >> 4], HEX[i & 15]];
        i += 1;
    }
    t
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The request's id: a sane incoming one, or a new one. Not written into
/// the request's head (that grew its header map, an allocation per request):
/// handlers read it from the request's log fields (`extract::RequestId`).
pub fn normalize(req: &Request) -> HeaderValue {
    match req.headers().get(&X_REQUEST_ID) {
        Some(v) if acceptable(v) => v.clone(),
        _ => generate(),
    }
}

/// A middleware for the routers without the API's front middleware (the
/// redirect and `/metrics` listeners): the caller's `X-Request-Id` when
/// sane, else a new one, on the answer.
pub async fn layer(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    let id = normalize(&req);
    let mut response = next.run(req).await;
    response.headers_mut().insert(X_REQUEST_ID.clone(), id);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept_and_others_replaced() {
        assert!(acceptable(&HeaderValue::from_static("abc-123_X.y")));
        assert!(!acceptable(&HeaderValue::from_static("")));
        assert!(!acceptable(&HeaderValue::from_static("a b")));
        assert!(!acceptable(&HeaderValue::from_str(&"a".repeat(129)).unwrap()));
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(acceptable(&a));
        // The second half is the counter, in hex: a later id's is larger
        // (other tests may take ids in between).
        let counter = |v: &HeaderValue| u64::from_str_radix(&v.to_str().unwrap()[16..], 16).unwrap();
        assert!(counter(&b) > counter(&a), "{a:?} {b:?}");
        assert!(a.as_bytes().iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)), "{a:?}");
    }
}
