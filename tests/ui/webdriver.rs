//! A small WebDriver client (W3C protocol over HTTP, with reqwest) for
//! Debian's `chromedriver` driving headless `chromium`: start a driver and a
//! browser, go to a URL, run a script, find, click and type, take a
//! screenshot, read the browser's console and network logs.
//!
//! Without chromium or chromedriver the tests skip with a printed reason,
//! unless CREST_REQUIRE_SERVICES=1, when they fail. One browser runs at a
//! time (`Browser::start` waits for the previous one to quit): the machine
//! has two cores.

use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where Debian puts the browser: the wrapper script and the binary.
const CHROMIUM: [&str; 2] = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"];

fn required() -> bool {
    std::env::var("CREST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// Prints why `test` skips; fails instead with CREST_REQUIRE_SERVICES=1.
pub fn skip(test: &str, why: &str) {
    assert!(!required(), "CREST_REQUIRE_SERVICES=1 but {why}");
    eprintln!("SKIP {test}: {why}");
}

/// The browser binary, or None (after printing why) when a test must skip.
pub fn available(test: &str) -> Option<&'static str> {
    let driver =
        Command::new("chromedriver").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    let browser = CHROMIUM.into_iter().find(|p| std::path::Path::new(p).exists());
    match (driver, browser) {
        (true, Some(b)) => Some(b),
        _ => {
            skip(test, "chromium or chromedriver is not installed (apt-get install -y chromium chromium-driver)");
            None
        }
    }
}

/// axe-core's `axe.min.js` (CREST_AXE_CORE names it; .ci/run installs it
/// from npm), or None (after printing why) when a test must skip.
pub fn axe(test: &str) -> Option<String> {
    let path = std::env::var("CREST_AXE_CORE").unwrap_or_default();
    match std::fs::read_to_string(&path) {
        Ok(text) if !path.is_empty() => Some(text),
        _ => {
            skip(
                test,
                "CREST_AXE_CORE does not name axe-core's axe.min.js \
                 (npm install --prefix DIR axe-core@4; CREST_AXE_CORE=DIR/node_modules/axe-core/axe.min.js)",
            );
            None
        }
    }
}

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A chromedriver process with one headless chromium session.
pub struct Browser {
    driver: Child,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// Options for the browser.
#[derive(Default)]
pub struct Options {
    /// Accept the server's certificate without checking it (HTTPS tests).
    pub insecure: bool,
    /// More command-line switches for chromium.
    pub args: Vec<String>,
    /// Environment for chromium (through chromedriver), e.g. HOME.
    pub env: Vec<(String, String)>,
}

impl Browser {
    pub async fn start(binary: &str, options: Options) -> Self {
        let turn = ONE_AT_A_TIME.lock().await;
        let port = crate::ports::free_port();
        let mut command = Command::new("chromedriver");
        command.arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null());
        // Its own process group, with the browser it starts: `Drop` ends them all.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command.envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let driver = command.spawn().expect("chromedriver starts");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        crate::wait::wait_until(Duration::from_secs(20), "chromedriver answers /status", async || {
            let r = http.get(format!("{base}/status")).send().await.map_err(|e| e.to_string())?;
            let v: Value = r.json().await.map_err(|e| e.to_string())?;
            if v["value"]["ready"] == true { Ok(()) } else { Err(v.to_string()) }
        })
        .await;
        let profile = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-gpu".into(),
            "--window-size=1280,1000".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        args.extend(options.args);
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": options.insecure,
            "goog:chromeOptions": {"binary": binary, "args": args},
            "goog:loggingPrefs": {"browser": "ALL", "performance": "ALL"},
        }}});
        let r: Value = http.post(format!("{base}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let id = r["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("new session: {r}")).to_owned();
        let browser = Self { driver, session: format!("{base}/session/{id}"), http, _profile: profile, _turn: turn };
        browser.post("/timeouts", json!({"script": 30_000})).await;
        browser
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self.http.post(format!("{}{path}", self.session)).json(&body).send().await.unwrap();
        let v: Value = r.json().await.unwrap();
        assert!(v["value"]["error"].is_null(), "WebDriver {path}: {v}");
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its value.
    pub async fn exec(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args})).await
    }

    /// Runs `script`, which calls `arguments[arguments.length - 1](value)` when done.
    pub async fn exec_async(&self, script: &str, args: Value) -> Value {
        self.post("/execute/async", json!({"script": script, "args": args})).await
    }

    /// Waits until the expression `js` is truthy; returns its value.
    pub async fn wait_for(&self, within: Duration, what: &str, js: &str) -> Value {
        let script = format!("return ({js});");
        crate::wait::wait_until(within, what, async || {
            let v = self.exec(&script, json!([])).await;
            if v.is_null() || v == false || v == "" || v == 0 { Err(format!("{js} is {v}")) } else { Ok(v) }
        })
        .await
    }

    /// The element matching the CSS `selector` (its WebDriver reference).
    pub async fn find(&self, selector: &str) -> Value {
        self.post("/element", json!({"using": "css selector", "value": selector})).await
    }

    fn element_id(element: &Value) -> String {
        element.as_object().and_then(|o| o.values().next()).and_then(Value::as_str).unwrap_or_default().to_owned()
    }

    pub async fn click(&self, selector: &str) {
        let id = Self::element_id(&self.find(selector).await);
        self.post(&format!("/element/{id}/click"), json!({})).await;
    }

    /// Clears the field `selector` and types `text` into it, as a person would.
    pub async fn type_into(&self, selector: &str, text: &str) {
        let id = Self::element_id(&self.find(selector).await);
        self.post(&format!("/element/{id}/clear"), json!({})).await;
        self.post(&format!("/element/{id}/value"), json!({"text": text})).await;
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let r: Value =
            self.http.get(format!("{}/screenshot", self.session)).send().await.unwrap().json().await.unwrap();
        base64::engine::general_purpose::STANDARD.decode(r["value"].as_str().unwrap()).unwrap()
    }

    /// The entries of the `browser` (console) or `performance` log since the last read.
    pub async fn log(&self, kind: &str) -> Vec<Value> {
        self.post("/se/log", json!({"type": kind})).await.as_array().cloned().unwrap_or_default()
    }

    /// Ends the session (chromium quits), then the driver (`Drop`).
    pub async fn quit(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

/// After a failed test too: chromedriver and every chromium process it started.
impl Drop for Browser {
    fn drop(&mut self) {
        let group = rustix::process::Pid::from_child(&self.driver);
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        let _ = self.driver.wait();
    }
}
