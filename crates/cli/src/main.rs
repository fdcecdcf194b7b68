//! `rctgate`: the one binary. Parses the command line and hands each command
//! to its module in `commands`; the work itself lives in the library crates.
//!
//! Exit codes: 0 success, 1 a check that did not pass (`gate check`), 2 bad
//! input or any other error, reported as one sentence on stderr.

mod commands;
mod engine;
mod failure;
mod remote_import;
mod target;

/// mimalloc instead of the system allocator: see the workspace Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// No model ships without a randomized controlled trial.
#[derive(Parser)]
#[command(name = "rctgate", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse one metric from per-arm sufficient statistics (JSON in, JSON out).
    Stats(commands::stats::Args),
    /// Sample size for a minimum detectable effect, or the effect a sample can detect.
    Power(commands::power::Args),
    /// The HTTP API on one DuckDB file.
    Serve(commands::serve::Args),
    /// API keys.
    #[command(subcommand)]
    Keys(commands::keys::Command),
    /// Creates or updates the metrics and experiments of a TOML file.
    Apply(commands::apply::Args),
    /// Experiments: list, show, start, stop.
    #[command(subcommand)]
    Experiment(commands::experiment::Command),
    /// Bulk events from CSV, NDJSON or Parquet.
    Import(commands::import::Args),
    /// Every table of a database file as Parquet or CSV files, for other tools.
    Export(commands::export::Args),
    /// A consistent copy of the database while it is in use (through the server if one runs).
    Backup(commands::backup::Args),
    /// The scorecard and verdict of an experiment.
    Analyze(commands::analyze::Args),
    /// Models and versions: register, list, show, promote (through the gate).
    #[command(subcommand)]
    Model(commands::model::Command),
    /// The promotion gate, for CI/CD: exit 0 allowed, 1 blocked, 2 error.
    #[command(subcommand)]
    Gate(commands::gate::Command),
    /// Offline gain against business lift across concluded trials.
    Ledger(commands::ledger::Args),
    /// Writes a simulated story (models, trials, a refused and a granted promotion) to a new database.
    Demo(commands::demo::Args),
}

/// `rctgate ... | head` closes stdout early. Rust ignores SIGPIPE, so the next `println!`
/// panics ("failed printing to stdout: Broken pipe", rust-lang/rust#46016); a command line
/// tool should stop quietly instead, as it would under the default signal action. Any other
/// panic is reported as before.
fn exit_quietly_on_a_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            // 128 + SIGPIPE, what a shell reports for a process the signal ended.
            std::process::exit(141);
        }
        report(info);
    }));
}

fn main() -> ExitCode {
    exit_quietly_on_a_closed_stdout();
    let cli = Cli::parse();
    // Logs go to stderr (RUST_LOG tunes them); stdout stays for results.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let outcome = match cli.command {
        Command::Stats(args) => commands::stats::run(args),
        Command::Power(args) => commands::power::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Keys(command) => commands::keys::run(command),
        Command::Apply(args) => commands::apply::run(args),
        Command::Experiment(command) => commands::experiment::run(command),
        Command::Import(args) => commands::import::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Backup(args) => commands::backup::run(args),
        Command::Analyze(args) => commands::analyze::run(args),
        Command::Model(command) => commands::model::run(command),
        Command::Gate(command) => commands::gate::run(command),
        Command::Ledger(args) => commands::ledger::run(args),
        Command::Demo(args) => commands::demo::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // A check that did not pass (exit 1) may have said everything on stdout already.
            if !failure.message.is_empty() {
                eprintln!("error: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}
