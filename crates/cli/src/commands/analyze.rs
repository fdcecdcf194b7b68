//! `rctgate analyze KEY [--segment ATTR] [--format table|json|html] [--output FILE]`: the
//! scorecard (SPEC §9), from a database file or a server.

use std::path::PathBuf;

use clap::ValueEnum;
use rctgate_analysis::{FrozenResult, Scorecard};
use rctgate_report::render;
use serde_json::Value;

use crate::commands::print_json;
use crate::failure::Failure;
use crate::target::TargetArgs;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// Aligned for a terminal.
    Table,
    /// SPEC §9 JSON.
    Json,
    /// One self-contained HTML page.
    Html,
}

#[derive(clap::Args)]
pub struct Args {
    /// The experiment key.
    key: String,
    /// Also split the scorecard by this exposure attribute (top 20 values plus "(other)").
    #[arg(long)]
    segment: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write to this file instead of stdout.
    #[arg(long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    target: TargetArgs,
}

pub fn run(args: Args) -> Result<(), Failure> {
    // The table and the page do not show the daily series; JSON carries everything.
    let options = rctgate_store::AnalyzeOptions {
        segment: args.segment.as_deref(),
        series: matches!(args.format, Format::Json),
    };
    let results = args.target.open()?.results(&args.key, &options)?;
    let text = match args.format {
        Format::Json => {
            if args.output.is_none() {
                return print_json(&results);
            }
            serde_json::to_string_pretty(&results)
                .map_err(|e| Failure::input(format!("could not encode the scorecard: {e}")))?
        }
        Format::Table => render::table(&scorecard(&results)?),
        Format::Html => render::html(&scorecard(&results)?),
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| Failure::input(format!("cannot write {}: {e}", path.display()))),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// The typed scorecard; a frozen result without one (its analysis failed at the stop) is
/// reported by its reason.
fn scorecard(results: &Value) -> Result<Scorecard, Failure> {
    match serde_json::from_value(results.clone()) {
        Ok(FrozenResult::Scorecard(card)) => Ok(*card),
        Ok(FrozenResult::Unanalysable(failed)) => Err(Failure::input(failed.error)),
        Err(err) => Err(Failure::input(format!("the scorecard could not be read: {err}"))),
    }
}
