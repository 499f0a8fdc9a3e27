//! The client side of the `crest` binary, for scalers and people:
//! `crest get|set|watch|list|register|delete`, against `--server URL` with a
//! bearer token or a client certificate. Human output by default, `--json`
//! for scripts (one JSON object per line). Exit codes: 0 done, 1 the server
//! could not be reached or failed (5xx), 2 bad usage or a 400, 3 not found,
//! 4 precondition failed (412), 5 not allowed (401/403). This file owns the
//! commands and their flags; `client.rs` sends them and explains failures.

mod client;

use clap::{Args, Subcommand};
use client::{Client, Failure, show, status_arg};
use serde_json::{Value, json};
use std::process::ExitCode;
use std::time::Duration;

/// Where and as whom the client connects.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// crest's base URL, with http:// or https://.
    #[arg(long, env = "CREST_SERVER", value_name = "URL", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// A file holding the bearer token (preferred: it stays out of `ps`; CREST_TOKEN_FILE, deprecated, still works).
    #[arg(long, env = "CREST_CLIENT_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<String>,
    /// The bearer token itself (visible in `ps`; prefer --token-file or CREST_CLIENT_TOKEN).
    #[arg(long, env = "CREST_CLIENT_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Client certificate (PEM) for mTLS; with --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<String>,
    /// Private key (PEM) of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<String>,
    /// Trust this CA (PEM) for the server's certificate, in addition to the system roots.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<String>,
    /// Print JSON (one object per line) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The client commands.
#[derive(Debug, Clone, Subcommand)]
pub enum ClientCommand {
    /// Show a dimension.
    Get {
        /// The dimension's id (scalableTargetDimensionId).
        id: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Change a dimension: the scaler reports --actual/--status/--reason; AAS-style --desired.
    Set {
        /// The dimension's id (scalableTargetDimensionId).
        id: String,
        /// New desiredCapacity, a number >= 0 (role aas or admin).
        #[arg(long, value_name = "N", value_parser = capacity_arg)]
        desired: Option<f64>,
        /// The actualCapacity reached, a number >= 0 (role scaler or admin).
        #[arg(long, value_name = "N", value_parser = capacity_arg)]
        actual: Option<f64>,
        /// Pending, InProgress, Successful or Failed.
        #[arg(long)]
        status: Option<String>,
        /// failureReason (with --status Failed).
        #[arg(long)]
        reason: Option<String>,
        /// Only if the dimension is still at this revision (compare-and-swap).
        #[arg(long, value_name = "REVISION")]
        if_revision: Option<u64>,
        #[command(flatten)]
        conn: Connection,
    },
    /// Print the dimension now and after every change (long-poll), until interrupted.
    Watch {
        /// The dimension's id (scalableTargetDimensionId).
        id: String,
        /// Start after this revision instead of printing the current state first.
        #[arg(long)]
        after: Option<u64>,
        /// Stop after this many states (for scripts and tests).
        #[arg(long)]
        count: Option<u64>,
        #[command(flatten)]
        conn: Connection,
    },
    /// List dimensions (role admin or read).
    List {
        /// Only Pending, InProgress, Successful or Failed.
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
    /// Register a dimension or update its metadata and bounds (role admin).
    Register {
        /// The dimension's id (scalableTargetDimensionId).
        id: String,
        /// resourceName, shown to AAS. Not given: kept (a new dimension gets the default).
        #[arg(long, value_name = "TEXT")]
        resource_name: Option<String>,
        /// dimensionName, shown to AAS. Not given: kept (a new dimension gets the default).
        #[arg(long, value_name = "TEXT")]
        dimension_name: Option<String>,
        /// version, shown to AAS. Not given: kept (a new dimension gets the default).
        #[arg(long, value_name = "TEXT")]
        version: Option<String>,
        /// desiredCapacity, a number >= 0. Not given: kept.
        #[arg(long, value_name = "N", value_parser = capacity_arg)]
        desired: Option<f64>,
        /// actualCapacity, a number >= 0. Not given: kept.
        #[arg(long, value_name = "N", value_parser = capacity_arg)]
        actual: Option<f64>,
        /// Lowest desiredCapacity allowed; `none` removes the bound. Not given: kept.
        #[arg(long, value_name = "N|none", value_parser = bound_arg)]
        min: Option<Value>,
        /// Highest desiredCapacity allowed; `none` removes the bound. Not given: kept.
        #[arg(long, value_name = "N|none", value_parser = bound_arg)]
        max: Option<Value>,
        #[command(flatten)]
        conn: Connection,
    },
    /// Remove a dimension and its history (role admin).
    Delete {
        /// The dimension's id (scalableTargetDimensionId).
        id: String,
        #[command(flatten)]
        conn: Connection,
    },
}

/// A capacity option: a finite number >= 0 (JSON has no NaN: it would be sent as `null`).
fn capacity_arg(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err("use a number >= 0".to_owned()),
    }
}

/// `register --min/--max`: a number, or `none`, sent as `null` (removes the bound).
fn bound_arg(raw: &str) -> Result<Value, String> {
    if raw.eq_ignore_ascii_case("none") {
        return Ok(Value::Null);
    }
    capacity_arg(raw).map(|v| json!(v)).map_err(|e| format!("{e}, or none to remove the bound"))
}

impl ClientCommand {
    fn conn(&self) -> &Connection {
        match self {
            Self::Get { conn, .. }
            | Self::Set { conn, .. }
            | Self::Watch { conn, .. }
            | Self::List { conn, .. }
            | Self::Register { conn, .. }
            | Self::Delete { conn, .. } => conn,
        }
    }
}

/// Runs one client command; prints errors to stderr.
pub fn run(cmd: &ClientCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("crest: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cmd.conn(), cmd)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message, code)) => {
            eprintln!("crest: {message}");
            ExitCode::from(code)
        }
    }
}

async fn execute(conn: &Connection, cmd: &ClientCommand) -> Result<(), Failure> {
    let c = Client::new(conn)?;
    match cmd {
        ClientCommand::Get { id, .. } => {
            let (rev, d) = c.send(c.http.get(c.dim(id))).await?;
            show(&d, rev, conn.json);
        }
        ClientCommand::Set { id, desired, actual, status, reason, if_revision, .. } => {
            let mut body = serde_json::Map::new();
            if let Some(v) = desired {
                body.insert("desiredCapacity".into(), json!(v));
            }
            if let Some(v) = actual {
                body.insert("actualCapacity".into(), json!(v));
            }
            if let Some(v) = status_arg(status.as_ref())? {
                body.insert("scalingStatus".into(), json!(v));
            }
            if let Some(v) = reason {
                body.insert("failureReason".into(), json!(v));
            }
            if body.is_empty() {
                return Err(Failure("set needs at least one of --desired, --actual, --status, --reason".into(), 2));
            }
            let mut req = c.http.patch(c.dim(id)).json(&Value::Object(body));
            if let Some(r) = if_revision {
                req = req.header("if-match", format!("\"{r}\""));
            }
            let (rev, d) = c.send(req).await?;
            show(&d, rev, conn.json);
        }
        ClientCommand::Watch { id, after, count, .. } => {
            let mut seen = 0u64;
            let mut after = *after;
            loop {
                let url = match after {
                    // Answers at once; unlike a plain GET, it never advances a demo scaling.
                    None => format!("{}?wait=0s", c.dim(id)),
                    Some(a) => format!("{}?wait=25s&after={a}", c.dim(id)),
                };
                let (rev, d) = c.send(c.http.get(url).timeout(Duration::from_secs(60))).await?;
                let rev = rev.unwrap_or(0);
                if after.is_none_or(|a| rev > a) {
                    show(&d, Some(rev), conn.json);
                    seen += 1;
                    if count.is_some_and(|n| seen >= n) {
                        return Ok(());
                    }
                }
                after = Some(rev);
            }
        }
        ClientCommand::List { status, .. } => {
            let mut after: Option<String> = None;
            loop {
                let mut query: Vec<(&str, String)> = vec![("limit", "1000".into())];
                if let Some(s) = status_arg(status.as_ref())? {
                    query.push(("status", s.into()));
                }
                if let Some(a) = &after {
                    query.push(("after", a.clone()));
                }
                let (_, page) = c.send(c.http.get(c.url("/v1/scalableTargetDimensions")).query(&query)).await?;
                for d in page["dimensions"].as_array().into_iter().flatten() {
                    show(d, None, conn.json);
                }
                match page["nextAfter"].as_str() {
                    Some(next) => after = Some(next.to_owned()),
                    None => return Ok(()),
                }
            }
        }
        ClientCommand::Register { id, resource_name, dimension_name, version, desired, actual, min, max, .. } => {
            // Only the options given: the server keeps what is absent; a
            // `null` (only from `--min/--max none`) clears a bound.
            let text = |v: &Option<String>| v.as_ref().map(|t| json!(t));
            let number = |v: &Option<f64>| v.map(|n| json!(n));
            let body: serde_json::Map<String, Value> = [
                ("resourceName", text(resource_name)),
                ("dimensionName", text(dimension_name)),
                ("version", text(version)),
                ("desiredCapacity", number(desired)),
                ("actualCapacity", number(actual)),
                ("minCapacity", min.clone()),
                ("maxCapacity", max.clone()),
            ]
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_owned(), v?)))
            .collect();
            let (rev, d) = c.send(c.http.put(c.dim(id)).json(&Value::Object(body))).await?;
            show(&d, rev, conn.json);
        }
        ClientCommand::Delete { id, .. } => {
            c.send(c.http.delete(c.dim(id))).await?;
            if conn.json {
                println!("{}", json!({"deleted": id}));
            } else {
                println!("{id} deleted");
            }
        }
    }
    Ok(())
}
