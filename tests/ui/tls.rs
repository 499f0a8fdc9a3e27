//! The page over HTTPS with a client certificate: the browser's own
//! certificate (in its NSS database, chosen automatically) is the
//! credential for every data call; without a token. Needs `certutil` and
//! `pk12util` (Debian's libnss3-tools) besides the browser, and writes a
//! policy file for Chromium under /etc/chromium/policies/managed for the
//! length of the test (so runs as root, as CI does).

use crate::certs::{Ca, valid_for};
use crate::helpers::{StoreKind, spawn_app};
use crate::page::{create, open_dimension, submit, wait_live};
use crate::webdriver::{Browser, Options, available, skip};
use crest::auth::{CertMatch, Role};
use crest::tls::{ClientAuth, TlsOptions};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// An NSS database in `home` (where chromium looks: ~/.pki/nssdb) holding
/// the client certificate and its key.
fn nss_database(home: &Path, cert: &Path, key: &Path) {
    let db = home.join(".pki/nssdb");
    std::fs::create_dir_all(&db).unwrap();
    let db = format!("sql:{}", db.display());
    run("certutil", &["-N", "-d", &db, "--empty-password"]);
    let p12 = home.join("client.p12");
    let p12 = p12.to_str().unwrap();
    run(
        "openssl",
        &[
            "pkcs12",
            "-export",
            "-in",
            cert.to_str().unwrap(),
            "-inkey",
            key.to_str().unwrap(),
            "-out",
            p12,
            "-passout",
            "pass:",
            "-name",
            "crest-ui-test",
        ],
    );
    run("pk12util", &["-i", p12, "-d", &db, "-W", ""]);
}

fn nss_tools(test: &str) -> bool {
    let found =
        Command::new("pk12util").arg("-h").output().is_ok() && Command::new("certutil").arg("-H").output().is_ok();
    if !found {
        skip(test, "certutil/pk12util are missing (apt-get install -y libnss3-tools)");
    }
    found
}

/// Where Debian's Chromium reads its managed policies (at start).
const POLICIES: &str = "/etc/chromium/policies/managed";

/// A managed policy file that makes Chromium send its certificate to one
/// origin without asking (headless, it would wait for a choice forever;
/// Debian's build ignores `--policy` on the command line). Removed on drop.
struct Policy(std::path::PathBuf);

impl Policy {
    /// None (after printing why) when the file cannot be written (not root).
    fn auto_select_certificate(test: &str, origin: &str) -> Option<Self> {
        let file = Path::new(POLICIES).join(format!("crest-ui-test-{}.json", std::process::id()));
        let rule = json!({"pattern": origin, "filter": {}}).to_string();
        let policy = json!({"AutoSelectCertificateForUrls": [rule]}).to_string();
        match std::fs::create_dir_all(POLICIES).and_then(|()| std::fs::write(&file, policy)) {
            Ok(()) => Some(Self(file)),
            Err(e) => {
                skip(test, &format!("cannot write Chromium's policy {}: {e} (run as root)", file.display()));
                None
            }
        }
    }
}

impl Drop for Policy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_the_browsers_client_certificate_is_the_credential() {
    let test = "over_https_the_browsers_client_certificate_is_the_credential";
    let Some(chromium) = available(test) else { return };
    if !nss_tools(test) {
        return;
    }
    let files = tempfile::tempdir().unwrap();
    let server_ca = Ca::new("crest ui test server CA");
    let (cert, key) = server_ca.server("localhost", valid_for(90)).write(files.path(), "server");
    let client_ca = Ca::new("crest ui test client CA");
    let ca_file = files.path().join("client-ca.pem");
    std::fs::write(&ca_file, &client_ca.cert_pem).unwrap();
    let (client_cert, client_key) = client_ca.client("operator").write(files.path(), "client");
    let home = tempfile::tempdir().unwrap();
    nss_database(home.path(), &client_cert, &client_key);

    let app = spawn_app(StoreKind::Memory, |c| {
        c.tls = Some(TlsOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            cert: Some(cert),
            key: Some(key),
            acme_tls_alpn: false,
            client_ca: vec![ca_file],
            client_cert_pin: Vec::new(),
            client_auth: ClientAuth::Optional,
            handshake_timeout: Duration::from_secs(10),
            reload_interval: Duration::from_secs(10),
        });
        c.http_api = true;
        c.auth.cert_roles = vec![(CertMatch::Subject("CN=operator".parse().unwrap()), Role::Admin)];
    })
    .await;
    let ids = crate::page::ids("tls", 4);
    create(&app, &ids, None).await;
    let base = format!("https://localhost:{}", app.tls_addr.unwrap().port());
    let options =
        Options { insecure: true, args: Vec::new(), env: vec![("HOME".into(), home.path().display().to_string())] };
    let Some(_policy) = Policy::auto_select_certificate(test, &base) else { return };
    let browser = Browser::start(chromium, options).await;
    browser.goto(&format!("{base}/ui")).await;
    wait_live(&browser).await;
    browser
        .wait_for(Duration::from_secs(10), "every dimension", "document.getElementById('count').textContent === '(4)'")
        .await;
    let strip = browser.exec("return document.getElementById('strip').textContent;", json!([])).await;
    assert!(strip.as_str().unwrap().contains("CN=operator (sha256:"), "the certificate is the caller: {strip}");
    assert!(strip.as_str().unwrap().contains("(admin)"), "{strip}");
    // The form, with the certificate's role (admin).
    open_dimension(&browser, &ids[1], 1).await;
    let (result, curl) = submit(&browser, "#aas-form", &[("#aas-desired", "3")]).await;
    assert!(result.starts_with("Done"), "{result}");
    let expected = format!(
        "curl -X PATCH '{base}/v1/scalableTargetDimensions/{}' -H 'Content-Type: application/json' \
         --cert client.pem --key client.key -d '{{\"desiredCapacity\":3}}'",
        ids[1]
    );
    assert_eq!(curl, expected.as_str());
    browser.wait_for(Duration::from_secs(5), "the history shows who", "document.querySelector('#history tbody tr').cells[2].textContent.startsWith('PATCH by CN=operator (sha256:')").await;
    browser.quit().await;
}
