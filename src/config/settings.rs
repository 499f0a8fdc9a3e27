//! The schema of `crest serve`'s settings: the clap flags (each also a
//! `CREST_*` variable) and the serde keys of the config file, all optional
//! so the layers can be merged (see `merge.rs`) before validation.

use clap::Args;
use serde::Deserialize;
use std::path::PathBuf;

/// Flags of `crest serve`. Each is also `CREST_<NAME>` and a config file key.
#[derive(Debug, Default, Clone, Args)]
pub struct ServeArgs {
    /// TOML config file (every key documented in config/crest.toml).
    #[arg(long, env = "CREST_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub settings: Settings,
}

/// Settings that can come from flags, environment or the config file.
#[derive(Debug, Default, Clone, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address for the HTTP API [default: 127.0.0.1:8080].
    #[arg(long, env = "CREST_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// State store: memory:, file:DIR, sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DB [default: sqlite:./data/crest.db].
    #[arg(long, env = "CREST_STORE", value_name = "URL", hide_env_values = true)]
    pub store: Option<String>,
    /// Database pool size (postgres) [default: 10].
    #[arg(long, env = "CREST_STORE_MAX_CONNECTIONS", value_name = "N")]
    pub store_max_connections: Option<u32>,
    /// How long a request waits for a database connection before 503 [default: 5s].
    #[arg(long, env = "CREST_STORE_ACQUIRE_TIMEOUT", value_name = "DURATION")]
    pub store_acquire_timeout: Option<String>,
    /// The longest one SQL statement or lock wait may take (postgres) [default: 5s].
    #[arg(long, env = "CREST_STORE_STATEMENT_TIMEOUT", value_name = "DURATION")]
    pub store_statement_timeout: Option<String>,
    /// A file holding the database password (postgres), re-read when it changes; overrides the URL's password.
    #[arg(long, env = "CREST_STORE_PASSWORD_FILE", value_name = "FILE")]
    pub store_password_file: Option<String>,
    /// How often each replica polls the changes other replicas made (postgres) [default: 100ms].
    #[arg(long, env = "CREST_STORE_POLL_INTERVAL", value_name = "DURATION")]
    pub store_poll_interval: Option<String>,
    /// demo (GETs advance a simulated scaling) or production (the scaler reports by PATCH) [default: demo].
    #[arg(long, env = "CREST_MODE", value_name = "MODE")]
    pub mode: Option<String>,
    /// Demo mode: end simulated scalings in Failed instead of Successful.
    #[arg(long, env = "CREST_SIMULATE_FAILURE", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new(), value_name = "BOOL")]
    pub simulate_failure: Option<bool>,
    /// Demo mode: steps (Pending -> InProgress -> Successful), gradual (actual moves by --demo-step per GET) or timed (by --demo-rate per second) [default: steps].
    #[arg(long, env = "CREST_DEMO_STYLE", value_name = "STYLE")]
    pub demo_style: Option<String>,
    /// gradual style: units actualCapacity moves per GET [default: 1].
    #[arg(long, env = "CREST_DEMO_STEP", value_name = "NUMBER")]
    pub demo_step: Option<f64>,
    /// timed style: units actualCapacity moves per second [default: 1].
    #[arg(long, env = "CREST_DEMO_RATE", value_name = "NUMBER")]
    pub demo_rate: Option<f64>,
    /// Unknown ids answer 404 instead of being created on first touch.
    #[arg(long, env = "CREST_STRICT", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new(), value_name = "BOOL")]
    pub strict: Option<bool>,
    /// Dimensions to create at start if missing (repeatable; env: comma-separated).
    #[arg(long = "register", env = "CREST_REGISTER", value_name = "ID", value_delimiter = ',')]
    #[serde(default)]
    pub register: Vec<String>,
    /// The most dimensions there may be: at it, a GET, PATCH or PUT that would create another answers 409 (at least 1) [default: 10000].
    #[arg(long, env = "CREST_MAX_DIMENSIONS", value_name = "N")]
    pub max_dimensions: Option<u64>,
    #[command(flatten)]
    #[serde(default)]
    pub defaults: DefaultSettings,
    /// HTTPS listener address, e.g. 0.0.0.0:443; its certificate comes from --tls-cert and --tls-key, or from ACME (--acme-domain).
    #[arg(long, env = "CREST_TLS_LISTEN", value_name = "ADDR")]
    pub tls_listen: Option<String>,
    /// Server certificate chain (PEM, leaf first).
    #[arg(long, env = "CREST_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<String>,
    /// Server private key (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC).
    #[arg(long, env = "CREST_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<String>,
    /// Accept client certificates that chain to the CAs in FILE (repeatable; env: comma-separated).
    #[arg(long = "client-ca", env = "CREST_CLIENT_CA", value_name = "FILE", value_delimiter = ',')]
    #[serde(default)]
    pub client_ca: Vec<String>,
    /// Accept exactly the certificates in FILE, e.g. API Gateway's (repeatable; env: comma-separated).
    #[arg(long = "client-cert-pin", env = "CREST_CLIENT_CERT_PIN", value_name = "FILE", value_delimiter = ',')]
    #[serde(default)]
    pub client_cert_pin: Vec<String>,
    /// optional: the API needs a verified certificate, /healthz does not; required: reject at the handshake [default: optional].
    #[arg(long, env = "CREST_CLIENT_AUTH", value_name = "MODE")]
    pub client_auth: Option<String>,
    /// With TLS on, keep serving the API on the plain --listen port too (behind a trusted proxy).
    #[arg(long, env = "CREST_HTTP_API", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new(), value_name = "BOOL")]
    pub http_api: Option<bool>,
    /// Longest time a TLS handshake may take [default: 10s].
    #[arg(long, env = "CREST_TLS_HANDSHAKE_TIMEOUT", value_name = "DURATION")]
    pub tls_handshake_timeout: Option<String>,
    /// How often certificate files are checked for changes (SIGHUP reloads at once) [default: 10s].
    #[arg(long, env = "CREST_TLS_RELOAD_INTERVAL", value_name = "DURATION")]
    pub tls_reload_interval: Option<String>,
    /// Get the HTTPS certificate from ACME for this domain (repeatable; env: comma-separated).
    #[arg(long = "acme-domain", env = "CREST_ACME_DOMAIN", value_name = "NAME", value_delimiter = ',')]
    #[serde(default)]
    pub acme_domain: Vec<String>,
    /// Contact e-mail for the ACME account (expiry notices).
    #[arg(long, env = "CREST_ACME_EMAIL", value_name = "EMAIL")]
    pub acme_email: Option<String>,
    /// ACME directory URL, or letsencrypt / letsencrypt-staging [default: letsencrypt].
    #[arg(long, env = "CREST_ACME_DIRECTORY", value_name = "URL")]
    pub acme_directory: Option<String>,
    /// Trust this root (PEM) for the ACME directory's own HTTPS (private CA, Pebble).
    #[arg(long, env = "CREST_ACME_CA_ROOT", value_name = "FILE")]
    pub acme_ca_root: Option<String>,
    /// http-01 or tls-alpn-01 [default: tls-alpn-01 when tls_listen is on port 443, else http-01].
    #[arg(long, env = "CREST_ACME_CHALLENGE", value_name = "TYPE")]
    pub acme_challenge: Option<String>,
    /// External account binding key id (for CAs that need EAB).
    #[arg(long, env = "CREST_ACME_EAB_KID", value_name = "KID")]
    pub acme_eab_kid: Option<String>,
    /// External account binding HMAC key, base64url (secret; prefer the environment).
    #[arg(long, env = "CREST_ACME_EAB_HMAC", value_name = "KEY", hide_env_values = true)]
    pub acme_eab_hmac: Option<String>,
    /// First retry delay after a failed ACME attempt; doubles up to 6h [default: 1m].
    #[arg(long, env = "CREST_ACME_RETRY_MIN", value_name = "DURATION")]
    pub acme_retry_min: Option<String>,
    /// How often the store is checked for a certificate renewed by another replica [default: 1m].
    #[arg(long, env = "CREST_ACME_POLL_INTERVAL", value_name = "DURATION")]
    pub acme_poll_interval: Option<String>,
    /// A bearer token crest accepts: NAME:ROLE:SECRET, SECRET being sha256:HEX, file:PATH or env:VAR, never the token itself (repeatable; env: comma-separated). Roles: aas, scaler, admin, read. `crest token NAME ROLE` makes one.
    #[arg(
        long = "token-spec",
        env = "CREST_TOKEN_SPEC",
        value_name = "NAME:ROLE:SECRET",
        value_delimiter = ',',
        hide_env_values = true
    )]
    #[serde(default)]
    pub token_spec: Vec<String>,
    /// Deprecated spelling of --token-spec (CREST_TOKEN, key token): still read, with a warning.
    #[arg(
        long = "token",
        env = "CREST_TOKEN",
        value_name = "NAME:ROLE:SECRET",
        value_delimiter = ',',
        hide_env_values = true,
        hide = true
    )]
    #[serde(default)]
    pub token: Vec<String>,
    /// Give verified client certificates matching MATCH (sha256:HEX, or a subject in RFC 4514 text, first RDN first as crest logs it, like CN=scaler, O=Example) a role: MATCH=ROLE (repeatable; env: ';'-separated, as a subject contains ',').
    #[arg(long = "cert-role", env = "CREST_CERT_ROLE", value_name = "MATCH=ROLE", value_delimiter = ';')]
    #[serde(default)]
    pub cert_role: Vec<String>,
    /// Role of verified client certificates no --cert-role names [default: aas].
    #[arg(long, env = "CREST_CERT_DEFAULT_ROLE", value_name = "ROLE")]
    pub cert_default_role: Option<String>,
    /// Changes kept per dimension in its history [default: 1000].
    #[arg(long, env = "CREST_HISTORY_LIMIT", value_name = "N")]
    pub history_limit: Option<u64>,
    /// History older than this is not shown and is deleted on the next change [default: 30days].
    #[arg(long, env = "CREST_HISTORY_MAX_AGE", value_name = "DURATION")]
    pub history_max_age: Option<String>,
    /// Serve /metrics on this address only (not on the API listener), e.g. 127.0.0.1:9464.
    #[arg(long, env = "CREST_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Dimensions with their own metric series; more are counted, not shown [default: 1000].
    #[arg(long, env = "CREST_METRICS_MAX_DIMENSIONS", value_name = "N")]
    pub metrics_max_dimensions: Option<usize>,
    /// Requests per second per client (token, else certificate, else IP or IPv6 /64); 0 turns limiting off [default: 0].
    #[arg(long, env = "CREST_RATE_LIMIT", value_name = "PER_SECOND")]
    pub rate_limit: Option<f64>,
    /// Requests a client may send at once before the rate applies [default: the rate, at least 1].
    #[arg(long, env = "CREST_RATE_LIMIT_BURST", value_name = "N")]
    pub rate_limit_burst: Option<u32>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "CREST_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Log filter, e.g. info or crest=debug,sqlx=warn [default: info].
    #[arg(long, env = "CREST_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,
    /// One INFO line per answered request (method, route, id, status, latency, bytes, client): on or off; the change log stays on [default: on].
    #[arg(long, env = "CREST_ACCESS_LOG", value_name = "on|off")]
    pub access_log: Option<String>,
    /// Access lines written per second at most; the others are counted and summarised once a second [default: 200].
    #[arg(long, env = "CREST_LOG_ACCESS_BUDGET", value_name = "N")]
    pub log_access_budget: Option<u32>,
    /// Longest time one request may take, e.g. 30s [default: 30s].
    #[arg(long, env = "CREST_REQUEST_TIMEOUT", value_name = "DURATION")]
    pub request_timeout: Option<String>,
    /// A client must send a request's head within this, and its first request within this of connecting (after the TLS handshake) [default: 10s].
    #[arg(long, env = "CREST_HEADER_READ_TIMEOUT", value_name = "DURATION")]
    pub header_read_timeout: Option<String>,
    /// A connection with no request in flight is closed this long after its last response (HTTP/1 keep-alive, HTTP/2 with no open stream) [default: 60s].
    #[arg(long, env = "CREST_IDLE_TIMEOUT", value_name = "DURATION")]
    pub idle_timeout: Option<String>,
    /// Open client connections, all listeners together; at the limit a newcomer replaces the longest-idle one. Lowered to stay under the open-file limit (ulimit -n) [default: 10000].
    #[arg(long, env = "CREST_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// The status page at /ui: on or off [default: on when every API listener is a loopback address, else off].
    #[arg(long, env = "CREST_UI", value_name = "on|off")]
    pub ui: Option<String>,
    /// On SIGTERM/SIGINT, how long in-flight requests may finish [default: 10s].
    #[arg(long, env = "CREST_SHUTDOWN_TIMEOUT", value_name = "DURATION")]
    pub shutdown_timeout: Option<String>,
    /// On SIGTERM/SIGINT, how long crest keeps serving with /readyz answering 503 before it closes its listeners (a load balancer's time to stop routing here); 0s: close at once [default: 0s].
    #[arg(long, env = "CREST_SHUTDOWN_DELAY", value_name = "DURATION")]
    pub shutdown_delay: Option<String>,
}

/// Values for dimensions created on first touch (`[defaults]` in the file).
#[derive(Debug, Default, Clone, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultSettings {
    /// version of new dimensions [default: MyVersion].
    #[arg(long = "default-version", env = "CREST_DEFAULT_VERSION", value_name = "TEXT")]
    pub version: Option<String>,
    /// resourceName of new dimensions [default: MyService].
    #[arg(long = "default-resource-name", env = "CREST_DEFAULT_RESOURCE_NAME", value_name = "TEXT")]
    pub resource_name: Option<String>,
    /// dimensionName of new dimensions [default: MyDimension].
    #[arg(long = "default-dimension-name", env = "CREST_DEFAULT_DIMENSION_NAME", value_name = "TEXT")]
    pub dimension_name: Option<String>,
    /// desiredCapacity of new dimensions [default: 1.0].
    #[arg(long = "default-desired-capacity", env = "CREST_DEFAULT_DESIRED_CAPACITY", value_name = "NUMBER")]
    pub desired_capacity: Option<f64>,
    /// actualCapacity of new dimensions [default: 1.0].
    #[arg(long = "default-actual-capacity", env = "CREST_DEFAULT_ACTUAL_CAPACITY", value_name = "NUMBER")]
    pub actual_capacity: Option<f64>,
}
