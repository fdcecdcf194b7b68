//! `rctgate`: the one binary. Parses the command line and hands each command
//! to its module in `commands`; the work itself lives in the library crates.
//!
//! Exit codes: 0 success, 1 a check that did not pass (`gate check`), 2 bad
//! input or any other error, reported as one sentence on stderr.

mod commands;

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
}

/// A failure to report: one sentence, and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl Failure {
    /// Bad input or an unusable environment: exit 2.
    pub fn input(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 2,
        }
    }
}

impl From<rctgate_stats::InputError> for Failure {
    fn from(e: rctgate_stats::InputError) -> Self {
        Failure::input(e.message)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Stats(args) => commands::stats::run(args),
        Command::Power(args) => commands::power::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
