//! Postgres leases (`try_lock`, the ACME order lock across replicas) as
//! rows: one a crashed holder left behind frees itself when it expires, a
//! held one is renewed before it expires, and dropping the guard deletes it.
//! The lease's row is read and aged with SQL on the database directly; the
//! stores go through PgBouncer too.

use super::{pg, pgbouncer, store_url, wait};
use crest::store::{self, StoreOptions};
use sqlx::{Connection, PgConnection, Row};
use std::time::Duration;

/// Seconds until the lease `name` expires (negative when it has), or None
/// when there is no row.
async fn expires_in(db: &mut PgConnection, name: &str) -> Option<f64> {
    let sql = "SELECT EXTRACT(EPOCH FROM expires_at - now())::float8 AS s FROM leases WHERE name = $1";
    sqlx::query(sql).bind(name).fetch_optional(db).await.unwrap().map(|r| r.get::<f64, _>("s"))
}

async fn set_expiry(db: &mut PgConnection, name: &str, seconds: i32) {
    let sql = "UPDATE leases SET expires_at = now() + make_interval(secs => $2) WHERE name = $1";
    sqlx::query(sql).bind(name).bind(f64::from(seconds)).execute(db).await.unwrap();
}

async fn leases_expire_are_renewed_and_are_deleted(through_pgbouncer: bool) {
    let db = pg::TestDb::create().await;
    let url = store_url(&db, through_pgbouncer).await;
    let (a, b) = (
        store::open(&url, &StoreOptions::default()).await.unwrap(),
        store::open(&url, &StoreOptions::default()).await.unwrap(),
    );
    let mut sql = PgConnection::connect(&db.url).await.unwrap();

    // A holder that crashed: its row stays until it expires.
    sqlx::query(
        "INSERT INTO leases (name, holder, expires_at) VALUES ('acme/dead', 'gone:1:0', now() + interval '30 seconds')",
    )
    .execute(&mut sql)
    .await
    .unwrap();
    assert!(a.try_lock("acme/dead").await.unwrap().is_none(), "a live lease of another holder is respected");
    set_expiry(&mut sql, "acme/dead", -1).await;
    let taken = a.try_lock("acme/dead").await.unwrap().expect("an expired lease is taken over");
    let left = expires_in(&mut sql, "acme/dead").await.unwrap();
    assert!(left > 25.0, "taken for a full time to live, {left} s left");

    // Held: renewed (every third of its 30 s) before it runs out, and
    // meanwhile nobody else gets it.
    set_expiry(&mut sql, "acme/dead", 12).await;
    assert!(b.try_lock("acme/dead").await.unwrap().is_none());
    wait::wait_until(Duration::from_secs(15), "the held lease was not renewed", async || {
        match expires_in(&mut sql, "acme/dead").await {
            Some(left) if left > 20.0 => Ok(left),
            other => Err(format!("{other:?} s left")),
        }
    })
    .await;
    assert!(b.try_lock("acme/dead").await.unwrap().is_none(), "still held after the renewal");

    // Dropped: the row is deleted, and the other replica takes it at once.
    drop(taken);
    wait::wait_until(Duration::from_secs(5), "the dropped lease's row stayed", async || {
        expires_in(&mut sql, "acme/dead").await.map_or(Ok(()), |left| Err(format!("{left} s left")))
    })
    .await;
    assert!(b.try_lock("acme/dead").await.unwrap().is_some());
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_leases_expire_are_renewed_and_are_deleted() {
    if !pg::available("postgres_leases_expire_are_renewed_and_are_deleted").await {
        return;
    }
    leases_expire_are_renewed_and_are_deleted(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_leases_expire_are_renewed_and_are_deleted_through_pgbouncer() {
    let test = "postgres_leases_expire_are_renewed_and_are_deleted_through_pgbouncer";
    if !pg::available(test).await || !pgbouncer::available(test) {
        return;
    }
    leases_expire_are_renewed_and_are_deleted(true).await;
}
