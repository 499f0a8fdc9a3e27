//! Failed TLS handshakes are logged at most 10 a second: anyone who can
//! connect can fail one as fast as they like, and each used to write a line.
//! The others are counted, and the count comes with the next line written.

use crate::process::start;
use crate::tls::Files;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Fails one handshake with `addr`: plain HTTP to the TLS port.
fn fail_a_handshake(addr: &str) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    // crest closes (or alerts) once it has judged the bytes.
    let _ = s.read(&mut [0u8; 256]);
}

#[test]
fn a_flood_of_failed_handshakes_writes_ten_lines_a_second_and_counts_the_rest() {
    let f = Files::new();
    let (cert, key) = (f.cert.display().to_string(), f.key.display().to_string());
    #[rustfmt::skip]
    let p = start(&[
        "--listen", "127.0.0.1:0", "--store", "memory:", "--log-format", "json",
        "--tls-listen", "127.0.0.1:0", "--tls-cert", &cert, "--tls-key", &key,
    ], &[]);
    let ready: Value = serde_json::from_str(&p.wait_for("crest ready")).unwrap();
    let addr = ready["tls_listen"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let flood = 300;
    for _ in 0..flood {
        fail_a_handshake(&addr);
    }
    // One more a little later, until the count of the unlogged comes.
    let mut sent = flood;
    let summary = loop {
        fail_a_handshake(&addr);
        sent += 1;
        if let Some(l) = p.lines_so_far().into_iter().find(|l| l.contains("TLS handshake failures not logged")) {
            break l;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no 'not logged' line after {sent} failed handshakes");
        std::thread::sleep(Duration::from_millis(50));
    };
    let seconds = started.elapsed().as_secs() + 1;
    let logged = p.lines_so_far().iter().filter(|l| l.contains("\"TLS handshake failed\"")).count();
    let unlogged = serde_json::from_str::<Value>(&summary).unwrap()["count"].as_u64().unwrap();
    assert!(logged as u64 <= 10 * seconds, "{logged} lines for {sent} failed handshakes in {seconds} s");
    assert!(unlogged >= flood as u64 - 10 * seconds, "{unlogged} not logged of {sent} in {seconds} s");
    p.signal("-TERM");
    assert_eq!(p.finish().0, Some(0));
}
