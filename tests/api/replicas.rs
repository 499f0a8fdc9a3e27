//! Several crest processes on one PostgreSQL: shared state, no lost update
//! across replicas, migrations racing at start, and a database outage
//! that ends in 503s and heals without a restart.

use crate::helpers::{StoreKind, spawn_app};
use crate::pg::{TestDb, available};
use crate::process::start;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

const ROUNDS: usize = 200;

async fn get(c: &reqwest::Client, url: &str) -> serde_json::Value {
    let r = c.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Two real binaries on separate ports, one database: a PATCH on A is seen
/// on B, and 200 rounds of (PATCH on A, then one GET on A and one on B at
/// once) always finish the demo scaling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_database() {
    if !available("two_processes_share_one_database").await {
        return;
    }
    let db = TestDb::create().await;
    share_one_database(&db.url).await;
    drop(db);
}

/// The same with both replicas behind a transaction pooler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_database_through_pgbouncer() {
    let test = "two_processes_share_one_database_through_pgbouncer";
    if !available(test).await || !crate::pgbouncer::available(test) {
        return;
    }
    let db = TestDb::create().await;
    share_one_database(&crate::pgbouncer::shared().await.via(&db.url)).await;
    drop(db);
}

async fn share_one_database(url: &str) {
    let args =
        ["--listen", "127.0.0.1:0", "--store", url, "--log-format", "json", "--log-level", "warn,crest::app=info"];
    let a = start(&args, &[]);
    let b = start(&args, &[]);
    let (a_addr, b_addr) = (a.ready_addr(), b.ready_addr());
    let c = reqwest::Client::new();
    let on_a = format!("http://{a_addr}/v1/scalableTargetDimensions/shared");
    let on_b = format!("http://{b_addr}/v1/scalableTargetDimensions/shared");
    let r = c.patch(&on_a).json(&json!({"desiredCapacity": 7.0})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let seen = get(&c, &on_b).await;
    assert_eq!((seen["desiredCapacity"].as_f64(), seen["scalingStatus"].as_str()), (Some(7.0), Some("InProgress")));
    get(&c, &on_a).await;

    for round in 0..ROUNDS {
        let desired = (round + 10) as f64;
        let r = c.patch(&on_a).json(&json!({"desiredCapacity": desired})).send().await.unwrap();
        assert_eq!(r.status(), 200, "round {round}");
        let (x, y) = tokio::join!(get(&c, &on_a), get(&c, &on_b));
        let mut statuses = [x["scalingStatus"].as_str().unwrap(), y["scalingStatus"].as_str().unwrap()];
        statuses.sort_unstable();
        assert_eq!(statuses, ["InProgress", "Successful"], "round {round}: {x} {y}");
        let now = get(&c, &on_b).await;
        assert_eq!(
            (now["scalingStatus"].as_str(), now["actualCapacity"].as_f64()),
            (Some("Successful"), Some(desired))
        );
    }
    drop((a, b));
}

/// `crest migrate` twice, then two at once on a fresh database: no error.
#[test]
fn migrations_twice_and_concurrently() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    if !rt.block_on(available("migrations_twice_and_concurrently")) {
        return;
    }
    migrate_twice_and_concurrently(&rt, |db| db.url.clone());
}

/// The same through a transaction pooler: the migration lock must not need
/// a session.
#[test]
fn migrations_twice_and_concurrently_through_pgbouncer() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let test = "migrations_twice_and_concurrently_through_pgbouncer";
    if !rt.block_on(available(test)) || !crate::pgbouncer::available(test) {
        return;
    }
    let pgbouncer = rt.block_on(crate::pgbouncer::shared());
    migrate_twice_and_concurrently(&rt, |db| pgbouncer.via(&db.url));
}

/// `url` gives crest's store URL for a database.
fn migrate_twice_and_concurrently(rt: &tokio::runtime::Runtime, url: impl Fn(&TestDb) -> String + Sync) {
    let migrate = |url: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_crest"))
            .args(["migrate", "--store", url])
            .env_remove("CREST_CONFIG")
            .env_remove("CREST_STORE")
            .output()
            .unwrap()
    };
    let db = rt.block_on(TestDb::create());
    for _ in 0..2 {
        let out = migrate(&url(&db));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    for _ in 0..3 {
        let db = rt.block_on(TestDb::create());
        let (x, y) = std::thread::scope(|s| {
            let x = s.spawn(|| migrate(&url(&db)));
            let y = s.spawn(|| migrate(&url(&db)));
            (x.join().unwrap(), y.join().unwrap())
        });
        for out in [x, y] {
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
    }
    drop(db);
}

/// The password never shows, even when the database cannot be reached:
/// `crest migrate` fails naming the database without it, and `crest serve`
/// starts unready and logs the cause without it.
#[test]
fn the_database_password_never_shows() {
    let url = "postgres://crest:hunter2-secret@127.0.0.1:1/crest";
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crest"))
        .args(["migrate", "--store", url, "--store-acquire-timeout", "1s", "--log-level", "debug"])
        .env_remove("CREST_CONFIG")
        .output()
        .unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("store: cannot open postgres://***@127.0.0.1:1/crest"), "{all}");
    assert!(!all.contains("hunter2"), "{all}");
    let serve = start(
        &["--store", url, "--listen", "127.0.0.1:0", "--store-acquire-timeout", "1s", "--log-level", "debug"],
        &[],
    );
    let lines = serve.lines_until("crest ready");
    let all = lines.join("\n");
    assert!(all.contains("store: cannot open postgres://***@127.0.0.1:1/crest"), "{all}");
    assert!(!all.contains("hunter2"), "{all}");
}

/// A loopback TCP proxy that can be cut (all connections dropped, new ones
/// closed at once) and restored.
struct Proxy {
    addr: std::net::SocketAddr,
    cut: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (c, list) = (cut.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection close
                }
                let upstream = upstream.clone();
                list.lock().await.push(tokio::spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                }));
            }
        });
        Self { addr, cut, conns }
    }

    async fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for c in self.conns.lock().await.drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

fn host_port(url: &str) -> String {
    let after = url.split_once("://").unwrap().1;
    let host = after.split(['/', '?']).next().unwrap();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    if host.contains(':') { host.to_owned() } else { format!("{host}:5432") }
}

/// Cut the database: 503 JSON within the acquire timeout, /readyz not
/// ready, nothing half-written. Restore it: requests succeed again, with
/// no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_is_an_answer_and_heals() {
    if !available("database_outage_is_an_answer_and_heals").await {
        return;
    }
    let db = TestDb::create().await;
    let proxy = Proxy::start(host_port(&db.url)).await;
    let via_proxy = db.url.replacen(&host_port(&db.url), &proxy.addr.to_string(), 1);
    let acquire = Duration::from_secs(1);
    let app = spawn_app(StoreKind::Memory, |c| {
        c.store = crest::secret::Secret::new(via_proxy.clone());
        c.store_options.acquire_timeout = acquire;
    })
    .await;
    let (s, _) = app.patch("o", json!({"desiredCapacity": 3.0})).await;
    assert_eq!(s, 200);

    proxy.cut().await;
    for attempt in 0..3 {
        let started = Instant::now();
        let (s, b) = app.patch("o", json!({"desiredCapacity": 9.0})).await;
        let took = started.elapsed();
        assert_eq!(s, 503, "attempt {attempt}: {b}");
        assert!(b["message"].as_str().unwrap().starts_with("state store unavailable"), "{b}");
        assert!(took < acquire * 3, "answered after {took:?}, acquire timeout {acquire:?}");
        let (s, b) = app.get("o").await;
        assert_eq!(s, 503, "{b}");
    }
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let b: serde_json::Value = r.json().await.unwrap();
    assert!(b["message"].as_str().unwrap().contains("state store unavailable"), "{b}");

    proxy.restore();
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "ready again without a restart");
    let (s, b) = app.get("o").await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["desiredCapacity"], 3.0, "the PATCHes during the outage wrote nothing");
    assert_eq!(b["scalingStatus"], "InProgress");
    let (s, b) = app.patch("o", json!({"desiredCapacity": 9.0})).await;
    assert_eq!((s, b["scalingStatus"].as_str()), (200, Some("Pending")));
    app.stop().await;
    drop(db);
}

/// A replica started while its database is down does not exit: it starts,
/// `/readyz` answers 503 with the reason, requests 503, and once the
/// database answers it becomes ready by itself (no restart) and serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_unready_without_its_database_and_becomes_ready() {
    if !available("starts_unready_without_its_database_and_becomes_ready").await {
        return;
    }
    let db = TestDb::create().await;
    let proxy = Proxy::start(host_port(&db.url)).await;
    proxy.cut().await;
    let via_proxy = db.url.replacen(&host_port(&db.url), &proxy.addr.to_string(), 1);
    let app = spawn_app(StoreKind::Memory, |c| {
        c.store = crest::secret::Secret::new(via_proxy.clone());
        c.store_options.acquire_timeout = Duration::from_secs(1);
    })
    .await;
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(b["message"], "not ready: cannot connect to the database; crest keeps trying by itself", "{b}");
    let (s, b) = app.patch("u", json!({"desiredCapacity": 3.0})).await;
    assert_eq!(s, 503, "{b}");
    assert!(b["message"].as_str().unwrap().starts_with("state store unavailable"), "{b}");

    proxy.restore();
    crate::wait::wait_until(Duration::from_secs(10), "ready by itself once the database answers", async || {
        match app.client.get(app.url("/readyz")).send().await {
            Ok(r) if r.status() == 200 => Ok(()),
            Ok(r) => Err(format!("{} {}", r.status(), r.text().await.unwrap_or_default())),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
    let (s, b) = app.patch("u", json!({"desiredCapacity": 3.0})).await;
    assert_eq!((s, b["desiredCapacity"].as_f64()), (200, Some(3.0)), "{b}");
    app.stop().await;
    drop(db);
}

/// `sslmode` is honoured: `require` encrypts (rustls), `disable` does not,
/// and `verify-full` refuses this server's self-signed certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_is_honoured() {
    use crest::store::{self, StoreOptions};
    use sqlx::Connection;
    if !available("sslmode_is_honoured").await {
        return;
    }
    let db = TestDb::create().await;
    let mut admin = sqlx::PgConnection::connect(&crate::pg::admin_url()).await.unwrap();
    let server_ssl: String = sqlx::query_scalar("SHOW ssl").fetch_one(&mut admin).await.unwrap();
    if server_ssl != "on" {
        panic!("the test server has ssl = {server_ssl}; this test needs TLS on the Postgres server");
    }
    let sep = if db.url.contains('?') { '&' } else { '?' };
    for (mode, want) in [("require", true), ("disable", false)] {
        let s = store::open(&format!("{}{sep}sslmode={mode}", db.url), &StoreOptions::default()).await.unwrap();
        s.ping().await.unwrap();
        let ssl: Vec<bool> = sqlx::query_scalar(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = $1 AND a.application_name = 'crest'",
        )
        .bind(&db.name)
        .fetch_all(&mut admin)
        .await
        .unwrap();
        assert!(!ssl.is_empty() && ssl.iter().all(|s| *s == want), "sslmode={mode}: {ssl:?}");
        s.close().await;
    }
    // Refused, and the store stays unready, naming why (it keeps trying:
    // the server's certificate may be fixed without a restart of crest).
    let s = store::open(&format!("{}{sep}sslmode=verify-full", db.url), &StoreOptions::default()).await.unwrap();
    let not = s.readiness().expect("a self-signed server certificate must be refused");
    assert_eq!(not.reason, "the database's TLS certificate is not trusted");
    assert!(
        not.detail.starts_with("store: cannot open postgres://")
            && not.detail.contains("certificate not trusted: unknown issuer"),
        "{not:?}"
    );
    let err = s.ping().await.expect_err("an unready store fails its ping").to_string();
    assert!(err.contains("certificate not trusted"), "{err}");
    s.close().await;
    admin.close().await.unwrap();
    drop(db);
}

/// Behind PgBouncer in transaction mode the timeouts hold (they are set in
/// each transaction, not per session, which a pooler would lose): a PATCH
/// whose row another session keeps locked answers 503 after about the
/// statement timeout (`lock_timeout`), instead of waiting for the lock; and
/// a GET, which takes no lock, still answers 200 meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_hold_behind_a_transaction_pooler() {
    use sqlx::Connection;
    if !available("timeouts_hold_behind_a_transaction_pooler").await || !crate::pgbouncer::available("timeouts") {
        return;
    }
    let timeout = Duration::from_millis(400);
    let app = spawn_app(StoreKind::PgBouncer, |c| c.store_options.statement_timeout = timeout).await;
    let (s, _) = app.patch("locked", json!({"desiredCapacity": 1.0})).await;
    assert_eq!(s, 200);
    let db = app.db.as_ref().unwrap();
    let mut holder = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("BEGIN; SELECT 1 FROM dimensions WHERE id = 'locked' FOR UPDATE").execute(&mut holder).await.unwrap();
    let started = Instant::now();
    let (s, b) = app.patch("locked", json!({"desiredCapacity": 2.0})).await;
    let took = started.elapsed();
    assert_eq!(s, 503, "{b}");
    assert!(took >= timeout && took < timeout * 5, "answered after {took:?} (statement timeout {timeout:?})");
    let (s, b) = app.get("locked").await;
    assert_eq!((s, b["desiredCapacity"].as_f64()), (200, Some(1.0)), "{b}");
    sqlx::raw_sql("ROLLBACK").execute(&mut holder).await.unwrap();
    let (s, b) = app.patch("locked", json!({"desiredCapacity": 2.0})).await;
    assert_eq!((s, b["desiredCapacity"].as_f64()), (200, Some(2.0)), "{b}");
    holder.close().await.unwrap();
    app.stop().await;
}

/// A PATCH is two round trips to Postgres (the read, then one statement
/// that checks the revision, writes, appends the history and records the
/// change), a GET one: counted as pooled connections handed out
/// (`crest_store_pool_acquire_seconds_count`), each of which carries one
/// message. Direct and through PgBouncer. (Before, a PATCH was three: the
/// store read the row again before its write.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_is_two_round_trips_and_a_get_one() {
    if !available("a_patch_is_two_round_trips_and_a_get_one").await || !crate::pgbouncer::available("round_trips") {
        return;
    }
    for kind in [StoreKind::Postgres, StoreKind::PgBouncer] {
        // No poll of other replicas' changes during the count; production
        // mode, where a GET only reads (in demo mode some GETs write).
        let app = spawn_app(kind, |c| {
            c.store_options.poll_interval = Duration::from_secs(60);
            c.mode = crest::domain::Mode::Production;
        })
        .await;
        let acquired = async || app.metric("crest_store_pool_acquire_seconds_count").await;
        let (s, _) = app.patch("rt", json!({"desiredCapacity": 1.0})).await;
        assert_eq!(s, 200);
        let before = acquired().await;
        for i in 0..10 {
            let (s, b) = app.patch("rt", json!({"desiredCapacity": 2.0 + f64::from(i)})).await;
            assert_eq!(s, 200, "{b}");
        }
        let after_patches = acquired().await;
        assert_eq!(after_patches - before, 20.0, "{kind:?}: 10 PATCHes");
        for _ in 0..10 {
            let (s, _) = app.get("rt").await;
            assert_eq!(s, 200);
        }
        assert_eq!(acquired().await - after_patches, 10.0, "{kind:?}: 10 GETs");
        // The pool's gauges: connections in use (none once the last one is
        // back: sqlx returns it in a task of its own, just after the
        // answer) and idle (at least the one just used), and its size.
        crate::wait::wait_until(Duration::from_secs(5), "every connection back in the pool", async || {
            match app.metric("crest_store_pool_connections{state=\"in_use\"}").await {
                0.0 => Ok(()),
                n => Err(format!("{n} in use")),
            }
        })
        .await;
        assert!(app.metric("crest_store_pool_connections{state=\"idle\"}").await >= 1.0);
        assert_eq!(app.metric("crest_store_pool_max_connections").await, 10.0);
        app.stop().await;
    }
}
