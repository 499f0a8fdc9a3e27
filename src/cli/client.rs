//! The client's HTTP side: building the client from `Connection` (server
//! URL, token, certificates), sending a request and turning the answer or
//! the failure into output and an exit code. A connection that fails says
//! why (`cause`): an untrusted certificate (and `--cacert`), a refused
//! connection, a server URL without a scheme.

use super::Connection;
use crate::cause::{self, Kind};
use serde_json::{Value, json};
use std::time::Duration;

/// A failed command: the message and the exit code.
pub(super) struct Failure(pub String, pub u8);

fn exit_code(status: u16) -> u8 {
    match status {
        404 => 3,
        412 => 4,
        401 | 403 => 5,
        400..=499 => 2,
        _ => 1,
    }
}

/// The client's old name for `CREST_CLIENT_TOKEN_FILE`, still read.
const OLD_TOKEN_FILE_VAR: &str = "CREST_TOKEN_FILE";

pub(super) struct Client {
    pub http: reqwest::Client,
    base: String,
    token: Option<String>,
    /// `--cacert` was given (the hint for an untrusted certificate differs).
    cacert: bool,
}

impl Client {
    pub fn new(c: &Connection) -> Result<Self, Failure> {
        let usage = |m: String| Failure(m, 2);
        let base = server_url(&c.server).map_err(usage)?;
        let mut b = reqwest::Client::builder().use_rustls_tls().connect_timeout(Duration::from_secs(10));
        if let Some(ca) = &c.cacert {
            let pem = std::fs::read(ca).map_err(|e| usage(format!("--cacert {ca}: {e}")))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| usage(format!("--cacert {ca}: {e}")))?;
            b = b.add_root_certificate(cert);
        }
        if let (Some(cert), Some(key)) = (&c.cert, &c.key) {
            let mut pem = std::fs::read(cert).map_err(|e| usage(format!("--cert {cert}: {e}")))?;
            pem.extend(std::fs::read(key).map_err(|e| usage(format!("--key {key}: {e}")))?);
            let id = reqwest::Identity::from_pem(&pem).map_err(|e| usage(format!("--cert/--key: {e}")))?;
            b = b.identity(id);
        }
        let old_file = std::env::var(OLD_TOKEN_FILE_VAR).ok().filter(|f| !f.is_empty());
        let token = match (&c.token_file, old_file, &c.token) {
            (Some(f), _, _) => Some(read_token(f, "--token-file")?),
            (None, Some(f), _) => {
                eprintln!(
                    "crest: warning: {OLD_TOKEN_FILE_VAR} is deprecated; set CREST_CLIENT_TOKEN_FILE instead \
                     (as CREST_CLIENT_TOKEN: the client's token variables start with CREST_CLIENT_)"
                );
                Some(read_token(&f, OLD_TOKEN_FILE_VAR)?)
            }
            (None, None, t) => t.clone(),
        };
        let http = b.build().map_err(|e| usage(format!("cannot set up the HTTP client: {}", cause::of(&e))))?;
        Ok(Self { http, base, token, cacert: c.cacert.is_some() })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn dim(&self, id: &str) -> String {
        let mut encoded = String::new();
        for b in id.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                encoded.push(char::from(b));
            } else {
                encoded.push_str(&format!("%{b:02X}"));
            }
        }
        self.url(&format!("/v1/scalableTargetDimensions/{encoded}"))
    }

    /// Sends and returns (ETag revision, JSON body); a non-2xx is a Failure.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<(Option<u64>, Value), Failure> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let r = req.send().await.map_err(|e| self.unreachable(&e))?;
        let status = r.status().as_u16();
        let revision =
            r.headers().get("etag").and_then(|v| v.to_str().ok()).and_then(|v| v.trim_matches('"').parse().ok());
        let text = r.text().await.map_err(|e| self.unreachable(&e))?;
        let body: Value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        if !(200..300).contains(&status) {
            let message = body["message"].as_str().map_or_else(|| body.to_string(), str::to_owned);
            return Err(Failure(format!("crest answered {status}: {message}"), exit_code(status)));
        }
        Ok((revision, body))
    }

    /// A request that got no answer: where to, and why, with what to do
    /// about it when that is known.
    fn unreachable(&self, e: &reqwest::Error) -> Failure {
        let at = e.url().map_or_else(|| self.base.clone(), |u| u.origin().ascii_serialization());
        if e.is_timeout() {
            return Failure(format!("cannot reach crest at {at}: no answer in time"), 1);
        }
        let cause = cause::of(e);
        let hint = match cause.kind {
            Kind::Untrusted if self.cacert => "; the --cacert given did not issue the server's certificate",
            Kind::Untrusted => "; pass --cacert FILE with the CA (PEM) that issued the server's certificate",
            Kind::Refused => " (is crest running and listening there?)",
            _ => "",
        };
        Failure(format!("cannot reach crest at {at}: {cause}{hint}"), 1)
    }
}

/// `--server` without the trailing `/`: an `http://` or `https://` URL.
fn server_url(raw: &str) -> Result<String, String> {
    let server = raw.trim().trim_end_matches('/');
    let lower = server.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!("--server needs http:// or https://, e.g. http://{server} (got {server:?})"));
    }
    match reqwest::Url::parse(server) {
        Ok(u) if u.host().is_some() => Ok(server.to_owned()),
        Ok(_) => Err(format!("--server {server:?} names no host; e.g. http://127.0.0.1:8080")),
        Err(e) => Err(format!("--server {server:?} is not a URL: {e}")),
    }
}

fn read_token(path: &str, from: &str) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure(format!("{from} {path}: {e}"), 2))?;
    Ok(text.trim().to_owned())
}

/// Prints a dimension: one line of text, or its JSON with `revision`.
pub(super) fn show(d: &Value, revision: Option<u64>, as_json: bool) {
    let mut d = d.clone();
    if let (Some(r), Some(obj)) = (revision, d.as_object_mut()) {
        obj.entry("revision").or_insert(json!(r));
    }
    if as_json {
        println!("{d}");
        return;
    }
    let num = |k: &str| d[k].as_f64().map_or_else(|| "-".to_owned(), |v| v.to_string());
    let mut line = format!(
        "{}  desired={}  actual={}  status={}  revision={}",
        d["scalableTargetDimensionId"].as_str().unwrap_or("?"),
        num("desiredCapacity"),
        num("actualCapacity"),
        d["scalingStatus"].as_str().unwrap_or("?"),
        d["revision"].as_u64().map_or_else(|| "-".to_owned(), |r| r.to_string()),
    );
    if let Some(reason) = d["failureReason"].as_str() {
        line.push_str(&format!("  reason={reason:?}"));
    }
    if d["minCapacity"].is_number() || d["maxCapacity"].is_number() {
        line.push_str(&format!("  bounds=[{}, {}]", num("minCapacity"), num("maxCapacity")));
    }
    println!("{line}");
}

/// `--status`: one of the four, else bad usage.
pub(super) fn status_arg(s: Option<&String>) -> Result<Option<&str>, Failure> {
    match s.map(String::as_str) {
        None => Ok(None),
        Some(v @ ("Pending" | "InProgress" | "Successful" | "Failed")) => Ok(Some(v)),
        Some(other) => Err(Failure(format!("--status {other:?}: use Pending, InProgress, Successful or Failed"), 2)),
    }
}

#[cfg(test)]
mod tests {
    use super::server_url;

    #[test]
    fn the_server_needs_a_scheme_and_a_host() {
        assert_eq!(server_url("http://127.0.0.1:8080/").as_deref(), Ok("http://127.0.0.1:8080"));
        assert_eq!(server_url("HTTPS://crest.example.com").as_deref(), Ok("HTTPS://crest.example.com"));
        assert!(server_url("127.0.0.1:8080").is_err_and(|e| e.contains("needs http:// or https://")));
        assert!(server_url("localhost:8080").is_err_and(|e| e.contains("e.g. http://localhost:8080")));
        assert!(server_url("http://").is_err());
    }
}
