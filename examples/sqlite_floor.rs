//! The floor under the SCALE row of `bench/run.sh`: SQLite's point read of
//! one dimension's row alone, in one thread, with nothing of crest around
//! it: the same statement and columns as crest's read, read the way crest
//! reads them (rusqlite, a cached statement, a read-only connection with
//! crest's page cache), of random ids over the whole table, as the SCALE
//! row's GETs ask. A GET of a dimension not in crest's caches costs at least
//! a cached GET plus this, so this read's time bounds the SCALE row's ratio
//! to the cached GET rate (bench/README.md, "Seventh round").
//!
//!     cargo run --release --example sqlite_floor -- DB IDS [SECONDS] [PREFIX]
//!
//! Prints one JSON line: reads, seconds, reads per second, microseconds per
//! read, and the median, 99th percentile and largest read time (µs).

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::time::{Duration, Instant};

/// As crest's reader (`src/store/sqlite/connection.rs`).
const PAGE_CACHE_KIB: u32 = 4096;
const SELECT: &str = "SELECT id, revision, version, resource_name, dimension_name, desired_capacity, \
     actual_capacity, scaling_status, failure_reason, status_since, min_capacity, max_capacity, changed_at \
     FROM dimensions WHERE id = ?1";

type Row = (String, i64, String, String, String, f64, f64, String, Option<String>, i64, Option<f64>, Option<f64>, i64);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(db), Some(ids)) = (args.get(1), args.get(2)) else {
        return Err("usage: sqlite_floor DB IDS [SECONDS] [PREFIX]".into());
    };
    let ids: u64 = ids.parse()?;
    let seconds: f64 = args.get(3).map_or(Ok(5.0), |s| s.parse())?;
    let prefix = args.get(4).map_or("bench-", String::as_str);
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.execute_batch(&format!("PRAGMA cache_size = -{PAGE_CACHE_KIB};"))?;
    // xorshift: the ids at random, as bench/lua/get.lua picks them.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut id = String::with_capacity(32);
    let (mut reads, mut found) = (0u64, 0u64);
    let mut times = Vec::with_capacity(1 << 20);
    let end = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    while start.elapsed() < end {
        for _ in 0..256 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            id.clear();
            id.push_str(prefix);
            id.push_str(&(state % ids + 1).to_string());
            let began = Instant::now();
            let row: Option<Row> = conn
                .prepare_cached(SELECT)?
                .query_row([&id], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                        r.get(9)?,
                        r.get(10)?,
                        r.get(11)?,
                        r.get(12)?,
                    ))
                })
                .optional()?;
            times.push(began.elapsed());
            found += u64::from(row.is_some_and(|r| r.0 == id));
            reads += 1;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    if found != reads {
        return Err(format!("only {found} of {reads} ids were found: is {db} seeded with {ids} ids {prefix}N?").into());
    }
    times.sort_unstable();
    let us = |q: f64| times[((times.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    println!(
        "{{\"reads\": {reads}, \"seconds\": {elapsed:.3}, \"rps\": {:.1}, \"us_per_read\": {:.3}, \
         \"p50_us\": {:.2}, \"p99_us\": {:.2}, \"max_us\": {:.2}}}",
        reads as f64 / elapsed,
        elapsed * 1e6 / reads as f64,
        us(0.5),
        us(0.99),
        us(1.0)
    );
    Ok(())
}
