//! The `crest` binary: parse the command line, load config, init logs, run.

use clap::{Parser, Subcommand};
use crest::app::App;
use crest::config::{Config, ServeArgs};
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: a cached GET makes about 34 allocations,
/// and glibc spent about 200 instructions on each (with its free), a fifth of
/// the request (`bench/callgrind.sh`; bench/README.md, "Third round").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// crest: the backend endpoint AWS Application Auto Scaling calls for a custom resource.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (see config/crest.toml for every setting).
    Serve(ServeArgs),
    /// Apply the store's schema migrations (sqlite, postgres) and exit.
    /// Takes the same settings as `serve`; only the store ones matter.
    Migrate(ServeArgs),
    /// Exit 0 when the local crest answers GET /healthz with 200 (for
    /// Docker's HEALTHCHECK).
    #[command(long_about = HEALTHCHECK_ABOUT)]
    Healthcheck(ServeArgs),
    /// Make a new bearer token for NAME with ROLE (aas, scaler, admin, read):
    /// prints the token (give it to the client) and the --token-spec value
    /// that stores only its SHA-256 (give it to crest).
    Token {
        /// The token's name, shown in logs and history.
        name: String,
        /// aas, scaler, admin or read.
        role: String,
    },
    #[command(flatten)]
    Client(crest::cli::ClientCommand),
}

const HEALTHCHECK_ABOUT: &str = "\
Checks the local crest: GET /healthz on the plain listener, --listen (an \
unspecified address such as 0.0.0.0 means 127.0.0.1), within 5s.

It takes the same flags, CREST_* variables and --config file as `crest serve`, \
so it can run with the service's own command line and environment (Docker's \
HEALTHCHECK, a systemd check); they are validated as `serve` would, but only \
--listen decides where it probes.

Exit codes: 0 crest answered 200; 1 no answer, or another status; 2 the \
settings are invalid.";

/// How long crest waits at exit for the log's queue to be written.
const LOG_FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Serve(args) => serve(&args),
        Command::Migrate(args) => migrate(&args),
        Command::Healthcheck(args) => healthcheck(&args),
        Command::Token { name, role } => token(&name, &role),
        Command::Client(cmd) => crest::cli::run(&cmd),
    };
    crest::telemetry::flush(LOG_FLUSH_TIMEOUT);
    code
}

fn token(name: &str, role: &str) -> ExitCode {
    if crest::auth::Role::parse(role).is_none() {
        eprintln!("crest: {role:?} is not a role; use aas, scaler, admin or read");
        return ExitCode::from(2);
    }
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        eprintln!("crest: the token name must be 1 or more of A-Z a-z 0-9 . _ -");
        return ExitCode::from(2);
    }
    match crest::auth::generate() {
        Ok(token) => {
            let hash = crest::auth::hash(&token);
            println!("token={token}");
            println!("crest_token_spec={name}:{role}:sha256:{hash}");
            eprintln!("Give the client the token (--token-file FILE, CREST_CLIENT_TOKEN); start crest with");
            eprintln!("  --token-spec {name}:{role}:sha256:{hash}");
            eprintln!("(or keep the token in a file and use --token-spec {name}:{role}:file:PATH).");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("crest: cannot read random bytes: {e}");
            ExitCode::FAILURE
        }
    }
}

fn healthcheck(args: &ServeArgs) -> ExitCode {
    let config = match Config::load(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("crest: {e}");
            return ExitCode::from(2);
        }
    };
    match crest::health_probe::probe(config.listen, std::time::Duration::from_secs(5)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crest: healthcheck failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn migrate(args: &ServeArgs) -> ExitCode {
    let Some((config, runtime)) = start(args) else {
        return ExitCode::from(2);
    };
    // Each migration applied is logged by the store as it runs.
    match runtime.block_on(crest::store::migrate(config.store.expose(), &config.store_options)) {
        Ok(kind) => {
            tracing::info!(store = %crest::store::redact_url(config.store.expose()), kind, "store schema is up to date");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("crest: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the config, installs logging and builds the runtime; None after
/// printing why not.
fn start(args: &ServeArgs) -> Option<(Config, tokio::runtime::Runtime)> {
    let config = match Config::load(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("crest: {e}");
            return None;
        }
    };
    if let Err(e) = crest::telemetry::init(config.log_format, &config.log_level, config.access_log) {
        eprintln!("crest: {e:#}");
        return None;
    }
    for warning in &config.deprecated {
        tracing::warn!("{warning}");
    }
    match tokio::runtime::Runtime::new() {
        Ok(r) => Some((config, r)),
        Err(e) => {
            eprintln!("crest: cannot start the async runtime: {e}");
            None
        }
    }
}

fn serve(args: &ServeArgs) -> ExitCode {
    let Some((config, runtime)) = start(args) else {
        return ExitCode::from(2);
    };
    let result = runtime.block_on(async {
        // Before the build: a SIGTERM during start-up stops crest gracefully too.
        let shutdown = crest::shutdown::on_signal();
        let app = App::build(config).await?;
        app.run_until_stopped(shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Logged once, in the log's format (the log is stderr).
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "crest failed");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every flag and positional of every subcommand says what it is.
    #[test]
    fn every_argument_has_help() {
        let cli = Cli::command();
        cli.clone().debug_assert();
        let mut missing = Vec::new();
        for sub in cli.get_subcommands() {
            for arg in sub.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" {
                    continue;
                }
                if arg.get_help().is_none_or(|h| h.to_string().trim().is_empty()) {
                    missing.push(format!("crest {} {id}", sub.get_name()));
                }
            }
        }
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }
}
