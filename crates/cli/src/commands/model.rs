//! `rctgate model register | list | show | promote | approve-override | import-mlflow`: the
//! model registry (SPEC §3).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use rctgate_analysis::format;
use rctgate_domain::{Difference, ModelVersion, PromotionRequest};
use serde_json::Value;

use crate::commands::{columns, print_json, Format};
use crate::failure::Failure;
use crate::target::{PromoteAnswer, TargetArgs};

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
        /// A JSON file `{"edges": [...], "counts": [...]}`: the histogram of this version's
        /// outputs on its validation data, which its outputs in a trial are compared with.
        #[arg(long, value_name = "FILE")]
        reference_distribution: Option<std::path::PathBuf>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Every model with its production version.
    List {
        #[command(flatten)]
        target: TargetArgs,
    },
    /// One model: production, versions, promotions with their evidence.
    Show {
        name: String,
        /// `table`: a summary to read; `json`: the API's JSON.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
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
        /// Promote without RCT evidence (admin); flagged everywhere as such. With `serve
        /// --override-approvals N`, pending until N different admins approved it.
        #[arg(long)]
        override_reason: Option<String>,
        /// Keep this share of units (in (0, 0.5], e.g. 0.05) on the previous version: a
        /// `holdout` experiment started with the promotion measures the lift after the launch.
        #[arg(long, value_name = "SHARE")]
        holdout: Option<f64>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Approves a pending override (admin, not its requester): the promotion is made once
    /// enough admins approved.
    ApproveOverride {
        name: String,
        /// The override's number (`model show` lists pending overrides).
        id: i64,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Registers the versions of an MLflow registered model (each as version N with the
    /// artifact URI models:/NAME/N) with the metrics their runs logged as offline metrics;
    /// versions already registered are kept as they are.
    ImportMlflow {
        /// The registered model's name in MLflow (the rctgate model gets the same).
        name: String,
        /// The MLflow tracking server (http:// only).
        #[arg(long, env = "MLFLOW_TRACKING_URI", value_name = "URL")]
        mlflow_uri: String,
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
            reference_distribution,
            target,
        } => {
            let reference_distribution = reference_distribution
                .map(|path| {
                    let text = std::fs::read_to_string(&path).map_err(|e| {
                        Failure::input(format!("--reference-distribution {}: {e}.", path.display()))
                    })?;
                    rctgate_domain::from_json_str::<rctgate_domain::Histogram>(&text).map_err(|e| {
                        Failure::input(format!("--reference-distribution {}: {e}", path.display()))
                    })
                })
                .transpose()?;
            let version = ModelVersion {
                version,
                artifact_uri,
                offline_metrics: parse_offline_metrics(&offline_metrics)?,
                payload: match payload {
                    Some(text) => serde_json::from_str(&text)
                        .map_err(|e| Failure::input(format!("--payload is not valid JSON: {e}.")))?,
                    None => serde_json::Value::Null,
                },
                reference_distribution,
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
            let models = models.as_array().cloned().unwrap_or_default();
            if models.is_empty() {
                println!("no models");
            }
            let rows = models.iter().map(|model| {
                [
                    text(&model["name"]).to_string(),
                    format!("production {}", model["production"].as_str().unwrap_or("-")),
                    format!("{} versions", model["versions"].as_array().map_or(0, Vec::len)),
                    model["production_flag"]
                        .as_str()
                        .map(|f| format!("({f})"))
                        .unwrap_or_default(),
                ]
            });
            print!("{}", columns(rows));
            Ok(())
        }
        Command::Show {
            name,
            format: output,
            target,
        } => {
            let model = target.open()?.show_model(&name)?;
            match output {
                Format::Json => print_json(&model),
                Format::Table => {
                    print!("{}", summary(&model));
                    Ok(())
                }
            }
        }
        Command::Promote {
            name,
            version,
            experiment,
            override_reason,
            holdout,
            target,
        } => {
            let request = PromotionRequest {
                version: version.clone(),
                experiment,
                override_reason,
                holdout,
            };
            request.validate().map_err(|e| Failure::input(e.to_string()))?;
            match target.open()?.promote(&name, &request)? {
                PromoteAnswer::Promoted(promotion) => {
                    print_promotion(&name, &promotion);
                    Ok(())
                }
                PromoteAnswer::Pending(pending) => {
                    let id = pending["id"].as_i64().unwrap_or_default();
                    println!(
                        "override {id} to promote {name} {version} is pending: {} more admin approval(s) needed \
                         (rctgate model approve-override {name} {id}); nothing is promoted until then",
                        pending["required"].as_u64().unwrap_or(2).saturating_sub(1)
                    );
                    Ok(())
                }
                PromoteAnswer::Blocked(reasons) => Err(blocked(&name, &version, &reasons)),
            }
        }
        Command::ImportMlflow {
            name,
            mlflow_uri,
            target,
        } => crate::commands::import_mlflow::run(&name, &mlflow_uri, &target.open()?),
        Command::ApproveOverride { name, id, target } => {
            let answer = target.open()?.approve_override(&name, id)?;
            let promotion = &answer["promotion"];
            if promotion.is_null() {
                let pending = &answer["override"];
                let have = 1 + pending["approvals"].as_array().map_or(0, Vec::len) as u64;
                let required = pending["required"].as_u64().unwrap_or(have);
                println!(
                    "approved override {id} of {name}: {} more approval(s) needed",
                    required.saturating_sub(have)
                );
            } else {
                println!("approved override {id} of {name}");
                print_promotion(&name, promotion);
            }
            Ok(())
        }
    }
}

fn print_promotion(name: &str, promotion: &serde_json::Value) {
    let version = promotion["version"].as_str().unwrap_or_default();
    let basis = promotion["evidence"]["basis"].as_str().unwrap_or_default();
    match promotion["flag"].as_str() {
        Some(flag) => println!("promoted {name} {version} ({flag})"),
        None => println!("promoted {name} {version} ({basis} evidence)"),
    }
    let holdout = &promotion["evidence"]["holdout"];
    if let (Some(experiment), Some(share)) = (holdout["experiment"].as_str(), holdout["share"].as_f64()) {
        println!(
            "holdout {experiment} started: {}% of units stay on {}",
            share * 100.0,
            promotion["previous"].as_str().unwrap_or("the previous version")
        );
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

/// A string field, or "" when it is missing.
fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// A timestamp of the API (RFC 3339) to the minute, in UTC.
fn when(value: &Value) -> String {
    match value.as_str() {
        Some(raw) => DateTime::parse_from_rfc3339(raw).map_or(raw.to_string(), |t| {
            t.with_timezone(&Utc).format("%Y-%m-%d %H:%M UTC").to_string()
        }),
        None => "-".to_string(),
    }
}

/// Offline metrics as `auc 0.81, ndcg 0.42`, or `-`.
fn offline_metrics(value: &Value) -> String {
    let metrics: Vec<String> = value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, figure)| match figure.as_f64() {
            Some(figure) => format!("{name} {}", format::significant(figure, 4)),
            None => format!("{name} {figure}"),
        })
        .collect();
    if metrics.is_empty() {
        "-".to_string()
    } else {
        metrics.join(", ")
    }
}

/// A list of strings (`approved_by`) as `a, b`, or a single string as itself.
fn names(value: &Value) -> Option<String> {
    match value {
        Value::String(name) => Some(name.clone()),
        Value::Array(items) if !items.is_empty() => Some(
            items
                .iter()
                .map(|item| item.as_str().map_or(item.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => None,
    }
}

/// The primary metric's effect with its interval: `bookings +3.2% [+1.0%, +5.4%]`.
fn primary_lift(primary: &Value) -> Option<String> {
    let effect = primary["effect"].as_f64()?;
    let difference = match primary["difference"].as_str() {
        Some("absolute") => Difference::Absolute,
        _ => Difference::Relative,
    };
    let figure = format::effect_with_interval(
        effect,
        primary["ci_low"].as_f64(),
        primary["ci_high"].as_f64(),
        difference,
    );
    Some(match primary["metric"].as_str() {
        Some(metric) => format!("{metric} {figure}"),
        None => figure,
    })
}

/// Why a promotion was allowed, in one line: the basis, the trial with its verdict and
/// primary lift, or the override's reason and flag; who asked and who approved when known.
fn evidence(promotion: &Value) -> String {
    let evidence = &promotion["evidence"];
    let mut parts = vec![evidence["basis"].as_str().unwrap_or("unknown").to_string()];
    if let Some(experiment) = evidence["experiment"].as_str() {
        parts[0] = format!("{} {experiment}", parts[0]);
    } else if let Some(id) = evidence["override"].as_i64() {
        parts[0] = format!("{} {id}", parts[0]);
    }
    if let Some(verdict) = evidence["verdict"].as_str() {
        parts.push(format!("verdict {verdict}"));
    }
    if let Some(lift) = primary_lift(&evidence["primary"]) {
        parts.push(lift);
    }
    if let Some(reason) = evidence["reason"].as_str() {
        parts.push(format!("reason {reason:?}"));
    }
    if let Some(flag) = promotion["flag"].as_str() {
        parts.push(flag.to_string());
    }
    if let Some(requested) = names(&evidence["requested_by"]) {
        parts.push(format!("requested by {requested}"));
    }
    if let Some(approved) = names(&evidence["approved_by"]) {
        parts.push(format!("approved by {approved}"));
    }
    parts.join(", ")
}

/// `rctgate model show`'s summary of a model as the API shows it (`ModelView`).
fn summary(model: &Value) -> String {
    let mut out = String::new();
    let name = text(&model["name"]);
    match model["description"].as_str() {
        Some(description) if !description.is_empty() => out.push_str(&format!("{name}: {description}\n")),
        _ => out.push_str(&format!("{name}\n")),
    }
    let production = model["production"].as_str();
    match (production, model["production_flag"].as_str()) {
        (Some(version), Some(flag)) => out.push_str(&format!("production: {version} ({flag})\n")),
        (Some(version), None) => out.push_str(&format!("production: {version}\n")),
        (None, _) => out.push_str("production: none (never promoted)\n"),
    }

    let versions = model["versions"].as_array().cloned().unwrap_or_default();
    out.push_str(&format!("\nversions ({}):\n", versions.len()));
    if !versions.is_empty() {
        let mut rows = vec![["version", "artifact", "offline metrics", "registered", ""].map(str::to_string)];
        for version in &versions {
            let label = text(&version["version"]);
            rows.push([
                label.to_string(),
                version["artifact_uri"].as_str().unwrap_or("-").to_string(),
                offline_metrics(&version["offline_metrics"]),
                when(&version["created_at"]),
                if production == Some(label) {
                    "<- production".to_string()
                } else {
                    String::new()
                },
            ]);
        }
        indented(&mut out, &columns(rows));
    }

    let promotions = model["promotions"].as_array().cloned().unwrap_or_default();
    if promotions.is_empty() {
        out.push_str("\npromotions: none\n");
    } else {
        out.push_str(&format!("\npromotions ({}, oldest first):\n", promotions.len()));
        let mut rows = vec![["when", "version", "from", "by", "evidence"].map(str::to_string)];
        for promotion in &promotions {
            rows.push([
                when(&promotion["at"]),
                text(&promotion["version"]).to_string(),
                promotion["previous"].as_str().unwrap_or("none").to_string(),
                promotion["key_id"].as_str().unwrap_or("-").to_string(),
                evidence(promotion),
            ]);
        }
        indented(&mut out, &columns(rows));
    }

    let pending: Vec<&Value> = model["overrides"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["status"] == "pending")
        .collect();
    if !pending.is_empty() {
        out.push_str(&format!(
            "\noverrides awaiting approval ({}; rctgate model approve-override {name} ID):\n",
            pending.len()
        ));
        let mut rows = vec![["id", "version", "requested", "by", "approvals", "reason"].map(str::to_string)];
        for request in pending {
            let approvers: Vec<String> = std::iter::once(&request["requested_by"])
                .chain(
                    request["approvals"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| &a["key_id"]),
                )
                .filter_map(|key| key.as_str().map(str::to_string))
                .collect();
            let required = request["required"].as_u64().unwrap_or(approvers.len() as u64);
            rows.push([
                request["id"].to_string(),
                text(&request["version"]).to_string(),
                when(&request["requested_at"]),
                text(&request["requested_by"]).to_string(),
                format!(
                    "{} of {} ({})",
                    format::count(approvers.len() as u64),
                    format::count(required),
                    approvers.join(", ")
                ),
                format!("{:?}", text(&request["reason"])),
            ]);
        }
        indented(&mut out, &columns(rows));
    }
    out
}

/// Appends `table`'s lines to `out`, each indented by two spaces.
fn indented(out: &mut String, table: &str) {
    for line in table.lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model() -> Value {
        json!({
            "name": "a-support-assistant-with-a-long-name",
            "description": "Answers support tickets.",
            "production": "v3",
            "production_flag": "promoted without RCT evidence",
            "versions": [
                {"version": "v1", "artifact_uri": "s3://models/support/v1",
                 "offline_metrics": {"auc": 0.81, "ndcg": 0.42}, "payload": null,
                 "created_at": "2026-10-01T08:30:12.123456Z"},
                {"version": "v2-retrained-on-all-of-november", "artifact_uri": null,
                 "offline_metrics": {}, "payload": null, "created_at": "2026-11-01T09:00:00Z"},
                {"version": "v3", "artifact_uri": "s3://m/v3", "offline_metrics": {"loss": -0.5},
                 "payload": null, "created_at": "2026-11-20T10:00:00Z"}
            ],
            "promotions": [
                {"version": "v2-retrained-on-all-of-november", "previous": null,
                 "evidence": {"basis": "trial", "experiment": "support-v2", "verdict": "ship",
                              "primary": {"metric": "resolution_rate", "effect": 0.032,
                                          "ci_low": 0.01, "ci_high": 0.054, "difference": "relative"}},
                 "key_id": "local", "at": "2026-11-10T12:00:00Z"},
                {"version": "v3", "previous": "v2-retrained-on-all-of-november",
                 "evidence": {"basis": "override", "reason": "Legal asked for it.", "override": 7,
                              "requested_by": "key_a", "approved_by": ["key_b", "key_c"]},
                 "flag": "promoted without RCT evidence", "key_id": "key_a",
                 "at": "2026-11-21T12:00:00Z"}
            ],
            "overrides": [
                {"id": 7, "model": "a-support-assistant-with-a-long-name", "version": "v3",
                 "reason": "Legal asked for it.", "requested_by": "key_a",
                 "requested_at": "2026-11-21T11:00:00Z", "required": 3,
                 "approvals": [{"key_id": "key_b", "at": "2026-11-21T11:30:00Z"},
                               {"key_id": "key_c", "at": "2026-11-21T12:00:00Z"}],
                 "status": "applied"},
                {"id": 8, "model": "a-support-assistant-with-a-long-name", "version": "v1",
                 "reason": "Roll back before the audit.", "requested_by": "key_c",
                 "requested_at": "2026-11-22T09:00:00Z", "required": 3,
                 "approvals": [{"key_id": "key_a", "at": "2026-11-22T09:10:00Z"}],
                 "status": "pending"}
            ],
            "created_at": "2026-10-01T08:00:00Z"
        })
    }

    #[test]
    fn summary_reads_like_a_report() {
        let text = summary(&model());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "a-support-assistant-with-a-long-name: Answers support tickets."
        );
        assert_eq!(lines[1], "production: v3 (promoted without RCT evidence)");
        assert!(text.contains("auc 0.81, ndcg 0.42"), "{text}");
        assert!(text.contains("loss -0.5"), "{text}");
        assert!(text.contains("2026-10-01 08:30 UTC"), "{text}");
        let trial = lines
            .iter()
            .find(|l| l.contains("trial support-v2"))
            .expect("trial line");
        assert!(
            trial.ends_with("trial support-v2, verdict ship, resolution_rate +3.2% [+1.0%, +5.4%]"),
            "{trial}"
        );
        let forced = lines
            .iter()
            .find(|l| l.contains("override"))
            .expect("override line");
        assert!(
            forced.ends_with(
                "override 7, reason \"Legal asked for it.\", promoted without RCT evidence, \
                 requested by key_a, approved by key_b, key_c"
            ),
            "{forced}"
        );
        let v3 = lines
            .iter()
            .find(|l| l.trim_start().starts_with("v3 "))
            .expect("v3 row");
        assert!(v3.ends_with("<- production"), "{v3}");
        // Only the pending override is listed; the applied one is a promotion above.
        let pending = lines.iter().find(|l| l.contains("Roll back")).expect("pending");
        assert_eq!(
            pending.split_whitespace().collect::<Vec<_>>().join(" "),
            "8 v1 2026-11-22 09:00 UTC key_c 2 of 3 (key_c, key_a) \"Roll back before the audit.\"",
            "{text}"
        );
        assert!(!text.contains("2026-11-21 11:00 UTC"), "{text}");
        // Both tables' columns start where their headers do, whatever the names' length.
        for (title, headers) in [
            (
                "versions (3):",
                &["artifact", "offline metrics", "registered"][..],
            ),
            (
                "promotions (2, oldest first):",
                &["version", "from", "by", "evidence"][..],
            ),
            (
                "overrides awaiting approval (1; rctgate model approve-override \
                 a-support-assistant-with-a-long-name ID):",
                &["version", "requested", "by", "approvals", "reason"][..],
            ),
        ] {
            let first = lines.iter().position(|l| *l == title).expect(title) + 1;
            let table: Vec<&str> = lines[first..]
                .iter()
                .take_while(|l| !l.is_empty())
                .copied()
                .collect();
            let rows = match &title[..3] {
                "ver" => 4,
                "pro" => 3,
                _ => 2,
            };
            assert_eq!(table.len(), rows, "{text}");
            for column in headers {
                let start = table[0].find(column).expect("a column");
                for row in &table {
                    assert_eq!(&row[start - 2..start], "  ", "{column} in {row:?}\n{text}");
                    assert_ne!(&row[start..start + 1], " ", "{column} in {row:?}\n{text}");
                }
            }
        }
    }

    #[test]
    fn an_unpromoted_model_says_so() {
        let text = summary(&json!({"name": "m", "production": null, "versions": [],
                                   "promotions": [], "created_at": "2026-10-01T08:00:00Z"}));
        assert_eq!(
            text,
            "m\nproduction: none (never promoted)\n\nversions (0):\n\npromotions: none\n"
        );
    }
}
