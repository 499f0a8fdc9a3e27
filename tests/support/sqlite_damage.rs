//! A damaged SQLite file for tests: a real store with rows, then 16 KiB
//! overwritten in the middle (a failing disk).

use crest::store::{self, StoreOptions};
use std::path::Path;

/// A real SQLite store at `path` holding `n` dimensions of about 1 KiB each,
/// closed: every row is in the main file (no WAL left).
pub async fn sqlite_with_rows(path: &Path, n: usize) {
    let s = store::open(&format!("sqlite:{}", path.display()), &StoreOptions::default()).await.unwrap();
    s.close().await;
    drop(s);
    let mut conn = rusqlite::Connection::open(path).unwrap();
    let tx = conn.transaction().unwrap();
    let name = "r".repeat(1000);
    for i in 0..n {
        tx.execute(
            "INSERT INTO dimensions (id, revision, version, resource_name, dimension_name, desired_capacity, \
             actual_capacity, scaling_status) VALUES (?1, 1, 'v', ?2, 'd', 1.0, 1.0, 'Successful')",
            rusqlite::params![format!("d{i:05}"), name],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

/// Overwrites 16 KiB in the middle of the file at `path` (a failing disk).
pub fn damage(path: &Path) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    let len = f.metadata().unwrap().len();
    assert!(len > 256 * 1024, "{len} bytes: too small to damage in the middle");
    f.write_all_at(&[0xA5; 16 * 1024], len / 2 / 4096 * 4096).unwrap();
    f.sync_all().unwrap();
}
