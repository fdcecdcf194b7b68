//! `rctgate ledger [--format table|json]`: offline gain against business lift for every
//! concluded trial, and their correlation (SPEC §10).

use clap::ValueEnum;
use serde_json::Value;

use crate::commands::print_json;
use crate::target::TargetArgs;
use crate::Failure;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    #[command(flatten)]
    target: TargetArgs,
}

fn percent(value: &Value) -> String {
    value
        .as_f64()
        .map_or("-".to_string(), |v| format!("{:+.1}%", v * 100.0))
}

fn number(value: &Value) -> String {
    value.as_f64().map_or("-".to_string(), |v| format!("{v:+.2}"))
}

pub fn run(args: Args) -> Result<(), Failure> {
    let ledger = args.target.open()?.ledger()?;
    if matches!(args.format, Format::Json) {
        return print_json(&ledger);
    }
    let entries = ledger["entries"].as_array().cloned().unwrap_or_default();
    if entries.is_empty() {
        println!("no concluded trials of registered models yet");
        return Ok(());
    }
    println!(
        "{:<20} {:<16} {:<14} {:<28} {:<24} verdict",
        "trial", "model", "versions", "offline gain", "business lift [CI]"
    );
    for entry in &entries {
        let gains: Vec<String> = entry["offline_gain"]
            .as_object()
            .map(|gains| {
                gains
                    .iter()
                    .map(|(name, gain)| format!("{name} {}", percent(gain)))
                    .collect()
            })
            .unwrap_or_default();
        println!(
            "{:<20} {:<16} {:<14} {:<28} {:<24} {}",
            entry["experiment"].as_str().unwrap_or_default(),
            entry["model"].as_str().unwrap_or_default(),
            format!(
                "{} -> {}",
                entry["control_version"].as_str().unwrap_or("none"),
                entry["treatment_version"].as_str().unwrap_or_default()
            ),
            if gains.is_empty() {
                "-".to_string()
            } else {
                gains.join(", ")
            },
            format!(
                "{} [{}, {}]",
                percent(&entry["lift"]),
                percent(&entry["ci_low"]),
                percent(&entry["ci_high"])
            ),
            entry["verdict"].as_str().unwrap_or_default(),
        );
    }
    println!();
    for correlation in ledger["correlations"].as_array().into_iter().flatten() {
        for method in ["pearson", "spearman"] {
            let c = &correlation[method];
            let figure = match c["r"].as_f64() {
                Some(_) => format!(
                    "{} [{}, {}]",
                    number(&c["r"]),
                    number(&c["ci_low"]),
                    number(&c["ci_high"])
                ),
                None => c["reason"].as_str().unwrap_or("undefined").to_string(),
            };
            println!(
                "offline {} gain vs business lift, {method} over {} trials: {figure}",
                correlation["offline_metric"].as_str().unwrap_or_default(),
                c["n"]
            );
        }
    }
    Ok(())
}
