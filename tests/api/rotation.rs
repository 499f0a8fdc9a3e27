//! Credentials that rotate: crest (the real binary) behind a PgBouncer that
//! checks SCRAM passwords against the role's secret in Postgres, its
//! password in a file (`--store-password-file`). Under a steady load the
//! role's password changes in Postgres, then in the file (written aside and
//! renamed over, as a Kubernetes secret or a Vault agent does): the old
//! password stops working, crest's connections made with it go, crest keeps
//! answering, and what follows succeeds.

use crate::pg::{TestDb, admin_url, available};
use crate::pgbouncer::{Client, PgBouncer};
use crate::process::start;
use crate::wait::wait_until;
use sqlx::Connection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// crest's `--store-acquire-timeout`: no request may fail for longer.
const ACQUIRE: Duration = Duration::from_secs(2);

/// A login role with a SCRAM password, dropped (after its databases) on drop.
struct Role {
    name: String,
}

impl Role {
    async fn create(password: &str) -> Self {
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("crest_rot_{}_{nanos}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&admin_url()).await.unwrap();
        let sql = format!("SET password_encryption = 'scram-sha-256'; CREATE ROLE {name} LOGIN PASSWORD '{password}'");
        sqlx::raw_sql(&sql).execute(&mut admin).await.unwrap();
        admin.close().await.unwrap();
        Self { name }
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let sql = format!("DROP ROLE IF EXISTS {}", self.name);
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url()).await
                    && let Err(e) = sqlx::raw_sql(&sql).execute(&mut conn).await
                {
                    eprintln!("{sql}: {e}");
                }
            });
        });
        let _ = done.join();
    }
}

/// One request of the load: when it started and ended, and how it went.
#[derive(Debug)]
struct Done {
    started: Instant,
    done: Instant,
    /// `Ok(status)`, or `Err` when crest gave no HTTP answer.
    answer: Result<u16, String>,
}

impl Done {
    fn ok(&self) -> bool {
        self.answer == Ok(200)
    }
}

/// PATCH and GET in turn from `workers` tasks until `stop` (or 2 minutes,
/// or 20,000 requests each).
fn load(
    addr: &str,
    workers: usize,
    stop: &Arc<AtomicBool>,
    log: &Arc<Mutex<Vec<Done>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    (0..workers)
        .map(|w| {
            let (client, stop, log) = (client.clone(), stop.clone(), log.clone());
            let url = format!("http://{addr}/v1/scalableTargetDimensions/rot-{w}");
            tokio::spawn(async move {
                let began = Instant::now();
                for n in 0..20_000u32 {
                    if stop.load(Ordering::SeqCst) || began.elapsed() > Duration::from_secs(120) {
                        break;
                    }
                    let started = Instant::now();
                    let request = if n % 2 == 0 {
                        client.patch(&url).json(&serde_json::json!({"desiredCapacity": f64::from(n % 100 + 1)}))
                    } else {
                        client.get(&url)
                    };
                    let answer = match request.send().await {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let _ = r.bytes().await; // read to the end: the connection is kept
                            Ok(status)
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    log.lock().unwrap().push(Done { started, done: Instant::now(), answer });
                }
            })
        })
        .collect()
}

fn same_connection(a: &Client, b: &Client) -> bool {
    (a.port, &a.connect_time) == (b.port, &b.connect_time)
}

/// `t` as PgBouncer shows a connect_time: `2026-12-06 10:21:01 UTC`.
fn pgbouncer_time(t: SystemTime) -> String {
    let rfc = humantime::format_rfc3339_seconds(t).to_string();
    format!("{} UTC", rfc.trim_end_matches('Z').replace('T', " "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_rotation_through_pgbouncer() {
    let test = "password_rotation_through_pgbouncer";
    if !available(test).await || !crate::pgbouncer::available(test) {
        return;
    }
    let suffix = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().subsec_nanos();
    // The new one has characters a URL would need escaped: it must be
    // taken as it is, only the trailing newline trimmed.
    let (old, new) = (format!("old-secret-{suffix}"), format!("n3w p@ss/w%rd:{suffix}"));
    let role = Role::create(&old).await; // declared first: dropped after the database
    let db = TestDb::create().await;
    let mut admin = sqlx::PgConnection::connect(&admin_url()).await.unwrap();
    sqlx::raw_sql(&format!("ALTER DATABASE {} OWNER TO {}", db.name, role.name)).execute(&mut admin).await.unwrap();
    let pgbouncer = PgBouncer::checking_passwords().await;
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("store-password");
    std::fs::write(&password_file, format!("{old}\n")).unwrap();
    let url = pgbouncer.url(&role.name, &db.name);
    let crest = start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--store",
            &url,
            "--store-password-file",
            password_file.to_str().unwrap(),
            "--store-acquire-timeout",
            "2s",
            "--log-format",
            "json",
        ],
        &[],
    );
    let ready = crest.lines_until("crest ready").pop().unwrap();
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    let addr = ready["listen"].as_str().unwrap().to_owned();

    let (stop, log) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Vec::<Done>::new())));
    let workers = load(&addr, 4, &stop, &log);
    let successes = || log.lock().unwrap().iter().filter(|d| d.ok()).count();
    wait_until(Duration::from_secs(20), "crest did not answer 100 requests with the old password", async || {
        if successes() >= 100 { Ok(()) } else { Err(format!("{:?}", log.lock().unwrap().last())) }
    })
    .await;
    let crest_clients = |all: Vec<Client>| -> Vec<Client> {
        all.into_iter().filter(|c| c.user == role.name && c.database == db.name).collect()
    };
    wait_until(Duration::from_secs(10), "crest's connections are not in SHOW CLIENTS", async || {
        let now = crest_clients(pgbouncer.clients().await.map_err(|e| e.to_string())?);
        if now.is_empty() { Err("none".to_owned()) } else { Ok(()) }
    })
    .await;

    // Rotate: Postgres first, then the file. From the ALTER on, nothing
    // logs in with the old password, so the connections listed now are
    // all the ones made with it.
    let alter = format!("SET password_encryption = 'scram-sha-256'; ALTER ROLE {} PASSWORD '{new}'", role.name);
    sqlx::raw_sql(&alter).execute(&mut admin).await.unwrap();
    let before = crest_clients(pgbouncer.clients().await.unwrap());
    let (rotated, rotated_at) = (Instant::now(), SystemTime::now());
    let aside = dir.path().join(".store-password.new");
    std::fs::write(&aside, format!("{new}\n")).unwrap();
    std::fs::rename(&aside, &password_file).unwrap();
    assert!(!before.is_empty());

    // The old password no longer logs in through PgBouncer; the new one does.
    let with = |password: &str| {
        sqlx::postgres::PgConnectOptions::new()
            .host("127.0.0.1")
            .port(pgbouncer.port)
            .username(&role.name)
            .database(&db.name)
            .password(password)
    };
    let refused = sqlx::PgConnection::connect_with(&with(&old)).await.expect_err("the old password is refused");
    assert!(refused.to_string().contains("authentication failed"), "{refused}");
    let mut fresh = sqlx::PgConnection::connect_with(&with(&new)).await.unwrap();
    sqlx::raw_sql("SELECT 1").execute(&mut fresh).await.unwrap();
    fresh.close().await.unwrap();

    // Every connection crest made before the rotation goes.
    let cutoff = pgbouncer_time(rotated_at);
    let gone_in = Duration::from_secs(30);
    wait_until(gone_in, "crest kept connections made with the old password", async || {
        let now = crest_clients(pgbouncer.clients().await.map_err(|e| e.to_string())?);
        let old: Vec<&Client> = now
            .iter()
            .filter(|c| {
                before.iter().any(|b| same_connection(b, c))
                    || (c.connect_time.ends_with(" UTC") && c.connect_time < cutoff)
            })
            .collect();
        if old.is_empty() { Ok(()) } else { Err(format!("still open: {old:?}")) }
    })
    .await;
    let retired = Instant::now();
    eprintln!(
        "crest's {} connections from before the rotation were gone {:?} after it",
        before.len(),
        retired - rotated
    );

    // Requests after that succeed.
    wait_until(Duration::from_secs(30), "no 100 requests succeeded after the rotation", async || {
        let after = log.lock().unwrap().iter().filter(|d| d.started > retired && d.ok()).count();
        if after >= 100 { Ok(()) } else { Err(format!("{after} so far")) }
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }

    let mut done = std::mem::take(&mut *log.lock().unwrap());
    done.sort_by_key(|d| d.done);
    let failed: Vec<&Done> = done.iter().filter(|d| !d.ok()).collect();
    eprintln!("{} requests, {} failed: {failed:?}", done.len(), failed.len());
    // crest always answered, and a failing request failed within the acquire timeout.
    for d in &failed {
        assert!(d.answer.is_ok(), "crest gave no answer: {d:?}");
        assert!(d.done - d.started < ACQUIRE + Duration::from_secs(1), "took {:?} to fail: {d:?}", d.done - d.started);
    }
    // All failures (if any) fall in one window shorter than the acquire timeout.
    if let (Some(first), Some(last)) = (failed.first(), failed.last()) {
        let window = last.done - first.done;
        assert!(window < ACQUIRE, "requests kept failing for {window:?}: {failed:?}");
    }
    assert!(done.iter().filter(|d| d.started > retired).all(Done::ok), "a request after the rotation failed");

    crest.signal("-TERM");
    let (_, rest) = crest.finish();
    for secret in [&old, &new] {
        assert!(!rest.contains(secret.as_str()), "crest logged the password: {rest}");
    }
    drop(pgbouncer);
    drop(db);
    drop(role);
}
