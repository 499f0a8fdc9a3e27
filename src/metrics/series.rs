//! The HTTP series of a request, found without hashing label text: by the
//! address of the route's interned template, the method's name and the
//! status (looking them up in the label families hashed two label sets per
//! request, 2.7 % of a cached GET's instructions). Bounded by the code, not
//! by clients: routes are a fixed interned set, methods eight names.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, PoisonError};

/// (route template's address, method name's address, status).
type Key = (usize, usize, u16);

#[derive(Default)]
pub(super) struct HttpSeries {
    map: Mutex<HashMap<Key, (Counter, Histogram), BuildHasherDefault<Mix>>>,
}

impl HttpSeries {
    /// The request counter and duration histogram of `route`, `method` and
    /// `status`, made by `make` the first time.
    pub(super) fn get(
        &self,
        route: &'static str,
        method: &'static str,
        status: u16,
        make: impl FnOnce() -> (Counter, Histogram),
    ) -> (Counter, Histogram) {
        let key = (route.as_ptr() as usize, method.as_ptr() as usize, status);
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(key).or_insert_with(make).clone()
    }
}

/// A multiply-mix of the key's integers (no attacker picks them).
#[derive(Default)]
struct Mix(u64);

impl Hasher for Mix {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}
