//! `spawn_app`: the real server in-process on port 0, with a fresh store per
//! test (temp directory, removed on drop), and a raw HTTP helper for paths a
//! URL library would normalise.

use crest::app::App;
use crest::config::Config;
use crest::secret::Secret;
use std::net::SocketAddr;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Memory,
    File,
    Sqlite,
    /// A fresh database on TEST_DATABASE_URL (see tests/support/pg.rs).
    Postgres,
    /// A fresh database as for `Postgres`, reached through the shared
    /// PgBouncer in transaction mode (see tests/support/pgbouncer.rs).
    PgBouncer,
}

impl StoreKind {
    pub fn url(self, dir: &std::path::Path) -> String {
        match self {
            Self::Memory => "memory:".into(),
            Self::File => format!("file:{}", dir.join("state").display()),
            Self::Sqlite => format!("sqlite:{}", dir.join("crest.db").display()),
            Self::Postgres | Self::PgBouncer => panic!("a postgres URL comes from TestDb::create"),
        }
    }

    /// The `store` label of crest's metrics for this kind.
    pub fn metrics_label(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::File => "file",
            Self::Sqlite => "sqlite",
            Self::Postgres | Self::PgBouncer => "postgres",
        }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    /// The HTTPS address, when the config turns TLS on.
    pub tls_addr: Option<SocketAddr>,
    pub client: reqwest::Client,
    pub dir: TempDir,
    /// The `/metrics` listener, when `metrics_listen` is set.
    pub metrics_addr: Option<SocketAddr>,
    /// The ACME manager, when the config turns ACME on.
    pub acme: Option<std::sync::Arc<crest::acme::Acme>>,
    /// Dropped (with its database) after the server stops.
    pub db: Option<crate::pg::TestDb>,
    token: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

/// A config for tests: port 0 and the store of `kind` in `dir`.
pub fn test_config(kind: StoreKind, dir: &std::path::Path) -> Config {
    Config { listen: "127.0.0.1:0".parse().unwrap(), store: Secret::new(kind.url(dir)), ..Config::default() }
}

pub async fn spawn_app(kind: StoreKind, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    if matches!(kind, StoreKind::Postgres | StoreKind::PgBouncer) {
        let db = crate::pg::TestDb::create().await;
        let url = match kind {
            StoreKind::PgBouncer => crate::pgbouncer::shared().await.via(&db.url),
            _ => db.url.clone(),
        };
        let mut config = Config { store: Secret::new(url), ..test_config(StoreKind::Memory, dir.path()) };
        tweak(&mut config);
        let mut app = spawn_with(config, dir).await;
        app.db = Some(db);
        return app;
    }
    let mut config = test_config(kind, dir.path());
    tweak(&mut config);
    spawn_with(config, dir).await
}

/// Starts crest with `config`; `dir` is kept alive (and removed) with the app.
pub async fn spawn_with(config: Config, dir: TempDir) -> TestApp {
    spawn_clocked(config, dir, crest::clock::Clock::system()).await
}

/// As [`spawn_with`], the server's time coming from `clock`.
pub async fn spawn_clocked(config: Config, dir: TempDir, clock: crest::clock::Clock) -> TestApp {
    let app = App::build_with(config, clock).await.expect("crest starts");
    let addr = app.local_addr().unwrap();
    let tls_addr = app.tls_addr().unwrap();
    let metrics_addr = app.metrics_addr().unwrap();
    let acme = app.acme();
    let token = CancellationToken::new();
    let handle = tokio::spawn(app.run_until_stopped(token.clone()));
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
    TestApp { addr, tls_addr, metrics_addr, acme, client, dir, db: None, token, handle }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn dim_url(&self, id: &str) -> String {
        self.url(&format!("/v1/scalableTargetDimensions/{id}"))
    }

    pub async fn get(&self, id: &str) -> (u16, serde_json::Value) {
        let r = self.client.get(self.dim_url(id)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    pub async fn patch(&self, id: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let r = self.client.patch(self.dim_url(id)).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    /// Stops the server (graceful) and returns its temp directory.
    /// Starts the shutdown, as SIGTERM does (the drain: `shutdown_delay`);
    /// `stop` then waits for the end.
    pub fn begin_shutdown(&self) {
        self.token.cancel();
    }

    pub async fn stop(self) -> TempDir {
        self.token.cancel();
        self.handle.await.unwrap().unwrap();
        drop(self.db);
        self.dir
    }
}

/// The value of the series `series` (name and labels exactly as
/// `/metrics` writes them, e.g. `crest_watchers` or
/// `crest_store_pool_connections{state="idle"}`) in the metrics `text`.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

impl TestApp {
    /// The value of `series` on `/metrics` now; panics when it is missing.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self.client.get(self.url("/metrics")).send().await.unwrap().text().await.unwrap();
        metric(&text, series).unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"))
    }
}

/// Sends `head` (request line and headers, no final blank line) and `body`
/// over a fresh connection; returns the status and the body as text.
pub async fn raw(addr: SocketAddr, head: &str, body: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("{head}\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = headers.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, headers.to_ascii_lowercase(), body.to_owned())
}

/// Generates one `#[tokio::test]` per store for each named `async fn(StoreKind)`
/// (Postgres twice: directly and through PgBouncer).
#[macro_export]
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::helpers::StoreKind::Memory).await })*
        }
        mod file {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::helpers::StoreKind::File).await })*
        }
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::helpers::StoreKind::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if $crate::pg::available(stringify!($name)).await {
                    super::$name($crate::helpers::StoreKind::Postgres).await
                }
            })*
        }
        mod pgbouncer {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if $crate::pg::available(stringify!($name)).await
                    && $crate::pgbouncer::available(stringify!($name))
                {
                    super::$name($crate::helpers::StoreKind::PgBouncer).await
                }
            })*
        }
    };
}
