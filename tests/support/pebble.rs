//! A real ACME CA for tests: Debian's `pebble`, with its own HTTPS
//! certificate made here (the package ships none). Pebble validates HTTP-01
//! at localhost:httpPort and TLS-ALPN-01 at localhost:tlsPort, so crest's
//! ports are chosen first. Without pebble the tests skip with a printed
//! reason, unless CREST_REQUIRE_SERVICES=1.

use crate::certs::Ca;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

pub fn available(test: &str) -> bool {
    let found = Command::new("pebble").arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !found {
        if std::env::var("CREST_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
            panic!("CREST_REQUIRE_SERVICES=1 but pebble is not installed (apt-get install -y pebble)");
        }
        eprintln!("SKIP {test}: pebble is not installed (apt-get install -y pebble)");
    }
    found
}

pub use crate::ports::free_port;

pub struct Pebble {
    child: Option<Child>,
    pub dir: TempDir,
    /// The directory URL.
    pub directory: String,
    /// The root of pebble's own HTTPS (for --acme-ca-root).
    pub ca_root: PathBuf,
    ca_pem: String,
    mgmt: u16,
}

impl Pebble {
    /// Starts pebble validating at `http_port` / `tls_port`; `validity` sets
    /// the lifetime of issued certificates.
    pub async fn start(http_port: u16, tls_port: u16, validity: Option<Duration>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("pebble test HTTPS CA");
        let (cert, key) = ca.server("pebble", crate::certs::valid_for(30)).write(dir.path(), "pebble");
        let ca_root = dir.path().join("pebble-ca.pem");
        std::fs::write(&ca_root, &ca.cert_pem).unwrap();
        let (listen, mgmt) = (free_port(), free_port());
        let mut config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{listen}"),
            "managementListenAddress": format!("127.0.0.1:{mgmt}"),
            "certificate": cert, "privateKey": key,
            "httpPort": http_port, "tlsPort": tls_port,
            "ocspResponderURL": "", "externalAccountBindingRequired": false,
        }});
        if let Some(v) = validity {
            config["pebble"]["certificateValidityPeriod"] = v.as_secs().into();
        }
        let config_path = dir.path().join("pebble.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let log = std::fs::File::create(dir.path().join("pebble.log")).unwrap();
        let child = Command::new("pebble")
            .arg("-config")
            .arg(&config_path)
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start pebble");
        let directory = format!("https://localhost:{listen}/dir");
        let pebble = Self { child: Some(child), dir, directory, ca_root, ca_pem: ca.cert_pem, mgmt };
        let client = pebble.https();
        crate::wait::wait_until(Duration::from_secs(20), "pebble did not start", async || {
            match client.get(&pebble.directory).send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                other => Err(format!("{:?}; its log: {}", other.map(|r| r.status()), pebble.log())),
            }
        })
        .await;
        pebble
    }

    fn https(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap())
            .build()
            .unwrap()
    }

    /// The root pebble issues under (changes at every start).
    pub async fn issuing_root(&self) -> String {
        let url = format!("https://localhost:{}/roots/0", self.mgmt);
        self.https().get(url).send().await.unwrap().text().await.unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
    }
}
