//! A fresh PostgreSQL database per test, dropped afterwards (also when the
//! test panics). `TEST_DATABASE_URL` names the server (default
//! postgres://postgres@127.0.0.1:5432/test). Without a reachable server the
//! tests skip with a printed reason, unless `CREST_REQUIRE_SERVICES=1`.

use sqlx::Connection;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn required() -> bool {
    std::env::var("CREST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// `url` with its database name replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{db}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// True when Postgres answers; otherwise prints why the caller skips, or
/// panics under CREST_REQUIRE_SERVICES=1.
pub async fn available(test: &str) -> bool {
    let url = admin_url();
    let result = tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(&url)).await;
    match result {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            true
        }
        Ok(Err(e)) if !required() => {
            eprintln!("SKIP {test}: PostgreSQL at TEST_DATABASE_URL is not reachable ({e})");
            false
        }
        Err(_) if !required() => {
            eprintln!("SKIP {test}: PostgreSQL at TEST_DATABASE_URL did not answer within 5s");
            false
        }
        Ok(Err(e)) => panic!("CREST_REQUIRE_SERVICES=1 but PostgreSQL is not reachable: {e}"),
        Err(_) => panic!("CREST_REQUIRE_SERVICES=1 but PostgreSQL did not answer within 5s"),
    }
}

/// A database that exists for as long as this value lives.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("crest_t_{}_{}_{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let admin = admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to TEST_DATABASE_URL");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
        let _ = conn.close().await;
        let url = with_database(&admin, &name);
        Self { name, url }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run inside a runtime: do the async work on a thread of its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url()).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    if let Err(e) = sqlx::query(&sql).execute(&mut conn).await {
                        eprintln!("could not drop test database {name}: {e}");
                    }
                }
            });
        });
        let _ = done.join();
    }
}
