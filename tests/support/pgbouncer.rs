//! A real PgBouncer (Debian's, 1.18) in `pool_mode = transaction` on a free
//! loopback port, in front of the test PostgreSQL of tests/support/pg.rs.
//!
//! The wildcard `[databases] * = host=… port=…` serves every per-test
//! database (`TestDb`), and a small `default_pool_size` makes many client
//! connections really share few server connections, as a production pooler
//! (PgBouncer, RDS Proxy) does. Only `extra_float_digits` is in
//! `ignore_startup_parameters`, the usual setting: a client that sends
//! `options` is refused, as RDS Proxy refuses it too.
//!
//! [`shared`] is one instance per test process (trust: the user must be the
//! server's, `postgres`); [`PgBouncer::checking_passwords`] starts one that
//! checks SCRAM passwords against the roles' real secrets in Postgres
//! (`auth_query` through `auth_user`), for the rotation test.
//!
//! PgBouncer refuses to run as root: as root it is started with
//! `-u postgres`, in a temp dir owned by that user. It runs under `sh`,
//! which waits on a pipe from this process and stops PgBouncer (and removes
//! the dir) when the pipe closes: when the instance is dropped, or when the
//! test process exits in any way (a static is never dropped).
//!
//! Without the binary the tests skip with a printed reason, unless
//! `CREST_REQUIRE_SERVICES=1`, where they fail.

use sqlx::Connection;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

/// The password of the admin console user in the password-checking instance.
const ADMIN_PASSWORD: &str = "pgbouncer-admin-test";

/// Server connections per (database, user): few, so clients share them.
pub const POOL_SIZE: u32 = 2;

/// The binary: on PATH, or where Debian puts it (/usr/sbin is not on every PATH).
pub fn binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("pgbouncer")).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path.into_iter().chain([PathBuf::from("/usr/sbin/pgbouncer")]).find(|p| p.is_file())
}

/// True when PgBouncer is installed; otherwise prints why the caller skips,
/// or panics under CREST_REQUIRE_SERVICES=1.
pub fn available(test: &str) -> bool {
    if binary().is_some() {
        return true;
    }
    if std::env::var("CREST_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
        panic!("CREST_REQUIRE_SERVICES=1 but pgbouncer is not installed (apt-get install -y pgbouncer)");
    }
    eprintln!("SKIP {test}: pgbouncer is not installed (apt-get install -y pgbouncer)");
    false
}

/// The instance every test of this process shares (started on first use).
pub async fn shared() -> &'static PgBouncer {
    static SHARED: tokio::sync::OnceCell<PgBouncer> = tokio::sync::OnceCell::const_new();
    SHARED.get_or_init(|| PgBouncer::start(Auth::Trust)).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// No password checked; the user must be in the auth file (the server's user).
    Trust,
    /// SCRAM, checked against `pg_shadow` through `auth_user`.
    Scram,
}

/// One client connection as `SHOW CLIENTS` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub user: String,
    pub database: String,
    pub state: String,
    pub port: i32,
    /// As PgBouncer shows it: `2026-12-06 10:21:01 UTC` (to the second).
    pub connect_time: String,
    pub application_name: String,
}

pub struct PgBouncer {
    pub port: u16,
    /// Where the test Postgres is: `host:port` of TEST_DATABASE_URL.
    upstream: String,
    /// The server's user (TEST_DATABASE_URL's), also the admin console's.
    admin_user: String,
    auth: Auth,
    dir: PathBuf,
    wrapper: Child,
    /// Closing it stops PgBouncer.
    stop: Option<ChildStdin>,
}

impl PgBouncer {
    /// A password-checking instance (SCRAM against the roles' secrets in
    /// Postgres); its admin console is reached with [`PgBouncer::admin`].
    pub async fn checking_passwords() -> Self {
        Self::start(Auth::Scram).await
    }

    async fn start(auth: Auth) -> Self {
        let bin = binary().expect("pgbouncer is installed (check `available` first)");
        let mut last = String::new();
        // The port is free when drawn, but another process may take it
        // before PgBouncer binds: then draw another.
        for _ in 0..5 {
            let mut b = Self::spawn(&bin, auth);
            match b.ready().await {
                Ok(()) => return b,
                Err(log) if log.contains("Address already in use") => last = log,
                Err(log) => panic!("pgbouncer did not start; its log:\n{log}"),
            }
        }
        panic!("pgbouncer found no free port in 5 tries; its last log:\n{last}");
    }

    fn spawn(bin: &Path, auth: Auth) -> Self {
        let admin = crate::pg::admin_url();
        let (admin_user, upstream) = user_and_host_port(&admin);
        let port = crate::ports::free_port();
        let dir = tempfile::Builder::new().prefix("crest-pgbouncer-").tempdir().unwrap().keep();
        let (host, upstream_port) = upstream.rsplit_once(':').unwrap();
        let (auth_lines, userlist) = match auth {
            Auth::Trust => ("auth_type = trust\n".to_owned(), format!("\"{admin_user}\" \"\"\n")),
            Auth::Scram => (
                format!("auth_type = scram-sha-256\nauth_user = {admin_user}\n"),
                format!("\"{admin_user}\" \"{ADMIN_PASSWORD}\"\n"),
            ),
        };
        let d = dir.display();
        let ini = format!(
            "[databases]\n* = host={host} port={upstream_port}\n\n[pgbouncer]\n\
             listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             logfile = {d}/pgbouncer.log\npidfile = {d}/pgbouncer.pid\n\
             {auth_lines}auth_file = {d}/userlist.txt\nadmin_users = {admin_user}\n\
             pool_mode = transaction\ndefault_pool_size = {POOL_SIZE}\nmax_client_conn = 2000\n\
             ignore_startup_parameters = extra_float_digits\n"
        );
        std::fs::write(dir.join("pgbouncer.ini"), ini).unwrap();
        std::fs::write(dir.join("userlist.txt"), userlist).unwrap();
        let mut args: Vec<String> = vec!["-q".into()];
        if rustix::process::geteuid().is_root() {
            // It will not run as root: it switches to postgres, which must
            // then write its log and pid file in the dir.
            let (uid, gid) = postgres_ids();
            for entry in [dir.clone(), dir.join("pgbouncer.ini"), dir.join("userlist.txt")] {
                std::os::unix::fs::chown(&entry, Some(uid), Some(gid)).unwrap();
            }
            args.extend(["-u".into(), "postgres".into()]);
        }
        args.push(dir.join("pgbouncer.ini").display().to_string());
        // $0 = the binary, $1 = the dir, then PgBouncer's arguments. The pid
        // goes to stdout; `read` returns at EOF, when this process closes the
        // pipe or exits.
        let script = r#"d=$1; shift; "$0" "$@" </dev/null >/dev/null 2>&1 & p=$!; echo $p; read _; kill $p 2>/dev/null; wait $p; rm -rf "$d""#;
        let mut wrapper = Command::new("sh")
            .args(["-c", script])
            .arg(bin)
            .arg(&dir)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sh for pgbouncer");
        let stop = wrapper.stdin.take();
        Self { port, upstream, admin_user, auth, dir, wrapper, stop }
    }

    /// Waits until the admin console answers; `Err(log)` when PgBouncer exited.
    async fn ready(&mut self) -> Result<(), String> {
        let mut out = BufReader::new(self.wrapper.stdout.take().unwrap());
        let mut pid = String::new();
        out.read_line(&mut pid).unwrap();
        let pid: u32 = pid.trim().parse().unwrap_or_else(|_| panic!("no pid from the pgbouncer wrapper: {pid:?}"));
        let started = std::time::Instant::now();
        loop {
            let why = match tokio::time::timeout(Duration::from_secs(2), self.admin()).await {
                Ok(Ok(conn)) => {
                    let _ = conn.close().await;
                    return Ok(());
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => "no answer within 2s".to_owned(),
            };
            if exited(pid) {
                return Err(self.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "pgbouncer did not answer within 20s: {why}; its log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `postgres://USER@127.0.0.1:PORT/DB` (no password).
    pub fn url(&self, user: &str, db: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{db}", self.port)
    }

    /// `url` (a TEST_DATABASE_URL-style URL, e.g. `TestDb::url`) with its
    /// host and port replaced by this PgBouncer's; user, database and query
    /// are kept.
    pub fn via(&self, url: &str) -> String {
        let (_, host_port) = user_and_host_port(url);
        assert!(
            host_port == self.upstream,
            "{host_port} is not the Postgres behind this PgBouncer ({})",
            self.upstream
        );
        let (scheme, rest) = url.split_once("://").unwrap();
        let (userinfo, after) = match rest.split_once('@') {
            Some((u, a)) => (format!("{u}@"), a),
            None => (String::new(), rest),
        };
        let tail = &after[after.find(['/', '?']).unwrap_or(after.len())..];
        format!("{scheme}://{userinfo}127.0.0.1:{}{tail}", self.port)
    }

    /// A connection to the admin console (database `pgbouncer`): simple
    /// queries only, e.g. `sqlx::raw_sql("SHOW CLIENTS")`.
    pub async fn admin(&self) -> Result<sqlx::PgConnection, sqlx::Error> {
        let mut options = sqlx::postgres::PgConnectOptions::new()
            .host("127.0.0.1")
            .port(self.port)
            .username(&self.admin_user)
            .database("pgbouncer")
            .ssl_mode(sqlx::postgres::PgSslMode::Disable);
        if self.auth == Auth::Scram {
            options = options.password(ADMIN_PASSWORD);
        }
        sqlx::PgConnection::connect_with(&options).await
    }

    /// `SHOW CLIENTS`, without the admin console's own connection.
    pub async fn clients(&self) -> Result<Vec<Client>, sqlx::Error> {
        use sqlx::Row;
        let mut conn = self.admin().await?;
        let rows = sqlx::raw_sql("SHOW CLIENTS").fetch_all(&mut conn).await?;
        let _ = conn.close().await;
        let mut clients = Vec::new();
        for r in rows {
            let c = Client {
                user: r.try_get("user")?,
                database: r.try_get("database")?,
                state: r.try_get("state")?,
                port: r.try_get("port")?,
                connect_time: r.try_get("connect_time")?,
                application_name: r.try_get("application_name")?,
            };
            if c.database != "pgbouncer" {
                clients.push(c);
            }
        }
        Ok(clients)
    }

    /// PgBouncer's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        drop(self.stop.take());
        let _ = self.wrapper.wait();
    }
}

/// True when process `pid` is gone or a zombie (exited, not yet reaped).
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}

/// The uid and gid of user `postgres`.
fn postgres_ids() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd.lines().find(|l| l.starts_with("postgres:")).expect("a postgres user in /etc/passwd");
    let fields: Vec<&str> = line.split(':').collect();
    (fields[2].parse().unwrap(), fields[3].parse().unwrap())
}

/// (user, `host:port`) of a postgres URL; user defaults to `postgres` and
/// port to 5432.
fn user_and_host_port(url: &str) -> (String, String) {
    let after = url.split_once("://").map_or(url, |(_, a)| a);
    let authority = after.split(['/', '?']).next().unwrap();
    let (userinfo, host) = authority.rsplit_once('@').map_or((None, authority), |(u, h)| (Some(u), h));
    let user = userinfo.map(|u| u.split(':').next().unwrap()).filter(|u| !u.is_empty()).unwrap_or("postgres");
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    let host_port = if host.contains(':') { host.to_owned() } else { format!("{host}:5432") };
    (user.to_owned(), host_port)
}
