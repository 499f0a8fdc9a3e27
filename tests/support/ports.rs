//! Free loopback ports for listeners that must be configured before they
//! bind (pebble, PgBouncer, crest's ACME ports).

/// A free loopback port for a listener that must be configured before it
/// binds (pebble and crest need each other's ports). It is picked at random
/// below the kernel's ephemeral range (32768+), so the source port of some
/// other test's outgoing connection cannot take it between this check and the
/// real bind, which port 0 handed back by the kernel would allow.
///
/// A port is handed out once per process: two tests running at once could
/// otherwise draw the same one (with ~30 draws from 12,000 ports, a few
/// runs in a hundred did) and the second bind fails.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let port = 20_000 + (h.finish() % 12_000) as u16;
        if !given.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return port;
        }
    }
}
