//! `rctgate experiment list | show KEY | start KEY | stop KEY`.

use clap::Subcommand;

use crate::commands::print_json;
use crate::failure::Failure;
use crate::target::TargetArgs;

#[derive(Subcommand)]
pub enum Command {
    /// Every experiment with its status.
    List {
        #[command(flatten)]
        target: TargetArgs,
    },
    /// One experiment as JSON.
    Show {
        key: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// draft -> running: assignment and exposures begin.
    Start {
        key: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// running -> stopped.
    Stop {
        key: String,
        #[command(flatten)]
        target: TargetArgs,
    },
}

pub fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::List { target } => {
            let experiments = target.open()?.list_experiments()?;
            let rows = experiments.as_array().cloned().unwrap_or_default();
            if rows.is_empty() {
                println!("no experiments");
            }
            let width = rows
                .iter()
                .filter_map(|e| e["key"].as_str())
                .map(str::len)
                .max()
                .unwrap_or(3)
                .max(3);
            for e in &rows {
                println!(
                    "{:<width$}  {:<8}  {}",
                    e["key"].as_str().unwrap_or(""),
                    e["status"].as_str().unwrap_or(""),
                    e["hypothesis"].as_str().unwrap_or("")
                );
            }
            Ok(())
        }
        Command::Show { key, target } => print_json(&target.open()?.show_experiment(&key)?),
        Command::Start { key, target } => {
            target.open()?.start_experiment(&key)?;
            println!("started {key}");
            Ok(())
        }
        Command::Stop { key, target } => {
            target.open()?.stop_experiment(&key)?;
            println!("stopped {key}");
            Ok(())
        }
    }
}
