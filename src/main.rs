//! The `crest` binary: parse the command line, load config, init logs, run.

use clap::{Parser, Subcommand};
use crest::app::App;
use crest::config::{Config, ServeArgs};
use std::process::ExitCode;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(&args),
    }
}

fn serve(args: &ServeArgs) -> ExitCode {
    let config = match Config::load(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("crest: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = crest::telemetry::init(config.log_format, &config.log_level) {
        eprintln!("crest: {e:#}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("crest: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let app = App::build(config).await?;
        app.run_until_stopped(crest::shutdown::on_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "crest failed");
            eprintln!("crest: {e:#}");
            ExitCode::FAILURE
        }
    }
}
