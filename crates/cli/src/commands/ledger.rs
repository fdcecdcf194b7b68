//! `rctgate ledger [--format table|json]`: offline gain against business lift for every
//! concluded trial, and their correlation (SPEC §10).

use serde_json::Value;

use crate::commands::{columns, print_json, Format};
use crate::failure::Failure;
use crate::target::TargetArgs;

#[derive(clap::Args)]
pub struct Args {
    /// `table`: aligned columns and the correlations in words; `json`: the API's JSON.
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

/// The table's rows, header first: one per trial arm.
fn rows(entries: &[Value]) -> Vec<[String; 6]> {
    let header = [
        "trial",
        "model",
        "versions",
        "offline gain",
        "business lift [CI]",
        "verdict",
    ];
    let mut rows = vec![header.map(str::to_string)];
    for entry in entries {
        let gains: Vec<String> = entry["offline_gain"]
            .as_object()
            .map(|gains| {
                gains
                    .iter()
                    .map(|(name, gain)| format!("{name} {}", percent(gain)))
                    .collect()
            })
            .unwrap_or_default();
        rows.push([
            entry["experiment"].as_str().unwrap_or_default().to_string(),
            entry["model"].as_str().unwrap_or_default().to_string(),
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
            entry["verdict"].as_str().unwrap_or_default().to_string(),
        ]);
    }
    rows
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
    print!("{}", columns(rows(&entries)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Where each column of `line` starts, given the header's column starts.
    fn cell_starts(line: &str, starts: &[usize]) -> Vec<String> {
        let chars: Vec<char> = line.chars().collect();
        starts
            .iter()
            .map(|&s| {
                chars
                    .get(s..)
                    .map(|rest| rest.iter().take(6).collect())
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn columns_fit_long_names() {
        let long_model = "a-hotel-ranking-model-with-a-name-far-longer-than-sixteen-characters";
        let long_trial = "trial-of-the-version-with-the-longest-name-of-all-the-trials";
        let entries = vec![
            json!({"experiment": long_trial, "model": long_model, "control_version": "v1",
                   "treatment_version": "version-2026-11-30-retrained-on-everything",
                   "offline_gain": {"auc": 0.031, "ndcg": -0.002}, "lift": 0.012,
                   "ci_low": -0.004, "ci_high": 0.028, "verdict": "no_ship"}),
            json!({"experiment": "t", "model": "m", "control_version": null,
                   "treatment_version": "v1", "offline_gain": {}, "lift": null,
                   "ci_low": null, "ci_high": null, "verdict": "ship"}),
        ];
        let table = columns(rows(&entries));
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        // Every column starts where its header does, on every line, with two spaces before.
        let header = &lines[0];
        let starts: Vec<usize> = [
            "trial",
            "model",
            "versions",
            "offline gain",
            "business lift",
            "verdict",
        ]
        .iter()
        .map(|name| header[..header.find(name).expect("a header")].chars().count())
        .collect();
        assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
        let first: Vec<char> = lines[1].chars().collect();
        let second: Vec<char> = lines[2].chars().collect();
        for &start in &starts[1..] {
            for line in [&first, &second] {
                assert_eq!(line[start - 1], ' ', "{lines:#?}");
                assert_eq!(line[start - 2], ' ', "{lines:#?}");
                assert_ne!(line[start], ' ', "{lines:#?}");
            }
        }
        assert_eq!(
            cell_starts(lines[1], &starts),
            ["trial-", "a-hote", "v1 -> ", "auc +3", "+1.2% ", "no_shi"]
        );
        assert_eq!(
            cell_starts(lines[2], &starts),
            ["t     ", "m     ", "none -", "-     ", "- [-, ", "ship"]
        );
        // The model column is exactly as wide as the long name plus the two-space gap.
        assert_eq!(starts[2] - starts[1], long_model.len() + 2);
    }
}
