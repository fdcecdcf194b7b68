//! `rctgate analyze KEY [--segment ATTR] [--format table|json|html] [--output FILE]
//! [--engine duckdb|spark ...]`: the scorecard (SPEC §9), from a database file or a server,
//! its events read by the file's DuckDB or by Spark (`crate::engine`).

use std::path::PathBuf;

use clap::ValueEnum;
use rctgate_analysis::distribution::{Binning, Distributions, Shift};
use rctgate_analysis::{FrozenResult, Scorecard};
use rctgate_report::render;
use serde_json::Value;

use crate::commands::print_json;
use crate::engine::{EngineArgs, EngineKind};
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
    /// The model outputs instead of the scorecard: per arm and per day, their histogram,
    /// shape and shifts (against control and the model version's reference distribution).
    #[arg(long)]
    distributions: bool,
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    engine: EngineArgs,
}

pub fn run(args: Args) -> Result<(), Failure> {
    if args.distributions {
        let found = args.target.open()?.distributions(&args.key)?;
        let text = match args.format {
            Format::Table => distributions_table(&found)?,
            Format::Json | Format::Html => {
                serde_json::to_string_pretty(&found)
                    .map_err(|e| Failure::input(format!("could not encode the distributions: {e}")))?
                    + "\n"
            }
        };
        return write(&args.output, &text);
    }
    // The table and the page do not show the daily series; JSON carries everything.
    let options = rctgate_store::AnalyzeOptions {
        segment: args.segment.as_deref(),
        series: matches!(args.format, Format::Json),
        ..Default::default()
    };
    let target = args.target.open()?;
    let results = match (args.engine.engine, target.store()) {
        (EngineKind::Duckdb, _) => target.results(&args.key, &options)?,
        (EngineKind::Spark, None) => {
            return Err(Failure::input(
                "--engine spark reads the experiment from --db: the server analyses with its own engine.",
            ))
        }
        // The events are Spark's: computed there, also for a stopped trial (whose frozen
        // scorecard is the server's).
        (EngineKind::Spark, Some(store)) => {
            let card = store
                .analyze_on(&args.engine.spark()?, &args.key, &options)
                .map_err(crate::target::store_failure)?;
            serde_json::to_value(&card)
                .map_err(|e| Failure::input(format!("could not encode the scorecard: {e}")))?
        }
    };
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
    write(&args.output, &text)
}

fn write(output: &Option<PathBuf>, text: &str) -> Result<(), Failure> {
    match output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| Failure::input(format!("cannot write {}: {e}", path.display()))),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// The distributions for a terminal: per arm its outputs, shape and shifts, then the
/// diagnostics.
fn distributions_table(found: &Value) -> Result<String, Failure> {
    let found: Distributions = serde_json::from_value(found.clone())
        .map_err(|e| Failure::input(format!("the distributions could not be read: {e}")))?;
    let mut out = format!("{}: model outputs", found.experiment);
    let Some(binning) = found.binning else {
        out.push_str(": no exposure carries a model_output\n");
        return Ok(out);
    };
    out.push_str(match binning {
        Binning::Unit => " (scores, 20 bins on [0, 1])\n",
        Binning::Quantile => " (10 bins at the deciles of all outputs)\n",
    });
    let rows: Vec<[String; 5]> = std::iter::once(
        [
            "variant",
            "outputs",
            "shape",
            "vs control (KS / PSI)",
            "vs reference (KS / PSI)",
        ]
        .map(String::from),
    )
    .chain(found.arms.iter().map(|arm| {
        let shift = |s: &Shift| format!("{:.3} / {:.3}", s.ks, s.psi);
        [
            arm.variant.clone(),
            arm.counts.iter().sum::<u64>().to_string(),
            arm.shape
                .as_ref()
                .and_then(|shape| serde_json::to_value(shape).ok())
                .and_then(|shape| shape["shape"].as_str().map(str::to_string))
                .unwrap_or_else(|| "-".to_string()),
            arm.against_control
                .as_ref()
                .map_or_else(|| "-".to_string(), shift),
            arm.against_reference.as_ref().map_or_else(
                || "-".to_string(),
                |r| format!("{} ({})", shift(&r.shift), r.model_version),
            ),
        ]
    }))
    .collect();
    out.push_str(&crate::commands::columns(rows));
    for diagnostic in &found.diagnostics {
        out.push_str(&format!("warning  {}: {}\n", diagnostic.kind, diagnostic.message));
    }
    Ok(out)
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
