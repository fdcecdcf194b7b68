//! `rctgate model register | list | show | promote`: the model registry (SPEC §3).

use std::collections::BTreeMap;

use clap::Subcommand;
use rctgate_domain::{ModelVersion, PromotionRequest};

use crate::commands::print_json;
use crate::target::TargetArgs;
use crate::Failure;

#[derive(Subcommand)]
pub enum Command {
    /// Registers a version (and the model, the first time).
    Register {
        /// The model family, e.g. hotel-ranker.
        name: String,
        /// The version, e.g. v7.
        version: String,
        /// Where the artifact lives (s3://..., a registry URI).
        #[arg(long = "artifact", alias = "artifact-uri")]
        artifact_uri: Option<String>,
        /// An offline metric, NAME=NUMBER (repeat for more): --offline-metric auc=0.94.
        #[arg(long = "offline-metric", value_name = "NAME=NUMBER")]
        offline_metrics: Vec<String>,
        /// What the serving side needs, as JSON (a prompt, a config).
        #[arg(long)]
        payload: Option<String>,
        /// A description of the model (used when it is registered).
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Every model with its production version.
    List {
        #[command(flatten)]
        target: TargetArgs,
    },
    /// One model: versions, production, promotions with their evidence, as JSON.
    Show {
        name: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Makes VERSION production, only through the gate (exit 1 with the reasons when it refuses).
    Promote {
        name: String,
        version: String,
        /// The trial that justifies it (found automatically when left out).
        #[arg(long)]
        experiment: Option<String>,
        /// Promote without RCT evidence; flagged everywhere as such.
        #[arg(long)]
        override_reason: Option<String>,
        #[command(flatten)]
        target: TargetArgs,
    },
}

pub fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Register {
            name,
            version,
            artifact_uri,
            offline_metrics,
            payload,
            description,
            target,
        } => {
            let version = ModelVersion {
                version,
                artifact_uri,
                offline_metrics: parse_offline_metrics(&offline_metrics)?,
                payload: match payload {
                    Some(text) => serde_json::from_str(&text)
                        .map_err(|e| Failure::input(format!("--payload is not valid JSON: {e}.")))?,
                    None => serde_json::Value::Null,
                },
                created_at: None,
            };
            let registered = target.open()?.register_model(&name, description, version)?;
            println!(
                "registered {name} {}",
                registered["version"].as_str().unwrap_or_default()
            );
            Ok(())
        }
        Command::List { target } => {
            let models = target.open()?.list_models()?;
            let rows = models.as_array().cloned().unwrap_or_default();
            if rows.is_empty() {
                println!("no models");
            }
            for model in &rows {
                let flag = model["production_flag"]
                    .as_str()
                    .map(|f| format!("  ({f})"))
                    .unwrap_or_default();
                println!(
                    "{:<24}  production {:<10}  {} versions{flag}",
                    model["name"].as_str().unwrap_or_default(),
                    model["production"].as_str().unwrap_or("-"),
                    model["versions"].as_array().map_or(0, Vec::len),
                );
            }
            Ok(())
        }
        Command::Show { name, target } => print_json(&target.open()?.show_model(&name)?),
        Command::Promote {
            name,
            version,
            experiment,
            override_reason,
            target,
        } => {
            let request = PromotionRequest {
                version: version.clone(),
                experiment,
                override_reason,
            };
            request.validate().map_err(|e| Failure::input(e.to_string()))?;
            match target.open()?.promote(&name, &request)? {
                Ok(promotion) => {
                    let basis = promotion["evidence"]["basis"].as_str().unwrap_or_default();
                    match promotion["flag"].as_str() {
                        Some(flag) => println!("promoted {name} {version} ({flag})"),
                        None => println!("promoted {name} {version} ({basis} evidence)"),
                    }
                    Ok(())
                }
                Err(reasons) => Err(blocked(&name, &version, &reasons)),
            }
        }
    }
}

/// A refused promotion: the reasons on stderr, exit 1.
fn blocked(name: &str, version: &str, reasons: &[String]) -> Failure {
    let mut message = format!("the gate blocks promoting {name} {version}:");
    for reason in reasons {
        message.push_str(&format!("\n  - {reason}"));
    }
    Failure { message, code: 1 }
}

fn parse_offline_metrics(pairs: &[String]) -> Result<BTreeMap<String, f64>, Failure> {
    pairs
        .iter()
        .map(|pair| {
            let (name, value) = pair.split_once('=').ok_or_else(|| {
                Failure::input(format!(
                    "--offline-metric {pair:?} must look like NAME=NUMBER (auc=0.94)."
                ))
            })?;
            let value: f64 = value.trim().parse().map_err(|_| {
                Failure::input(format!("--offline-metric {pair:?}: {value:?} is not a number."))
            })?;
            Ok((name.trim().to_string(), value))
        })
        .collect()
}
