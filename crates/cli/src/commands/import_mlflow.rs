//! `rctgate model import-mlflow NAME`: registers an MLflow registered model's versions in
//! rctgate, each with the metrics its run logged as offline metrics, so that the ledger can set
//! the offline figures the team chose the model on beside what the trial measured.
//!
//! Each MLflow version N becomes rctgate version `N` with the artifact URI `models:/NAME/N`:
//! that URI is what links it back to MLflow when `serve --mlflow-uri` points the alias at a
//! promoted version (`rctgate_mlflow::registry_target`). Versions rctgate already has are
//! left as they are, so running the import again registers only what is new.

use std::collections::BTreeSet;

use rctgate_domain::ModelVersion;
use rctgate_mlflow::{Credentials, MlflowClient, MlflowError, MlflowVersion};
use serde_json::{json, Map, Value};

use crate::failure::Failure;
use crate::target::Target;

/// Imports the versions of `name` from the MLflow server at `uri` into `target`.
pub fn run(name: &str, uri: &str, target: &Target) -> Result<(), Failure> {
    let client = MlflowClient::new(uri, &Credentials::from_env(), "--mlflow-uri").map_err(Failure::input)?;
    let failed = |err: MlflowError| Failure::input(format!("could not import {name} from MLflow: {err}"));
    let description = client.model_description(name).map_err(failed)?;
    let versions = client.versions(name).map_err(failed)?;
    let known = known_versions(target, name)?;
    let mut imported = 0;
    for version in &versions {
        if known.contains(&version.version) {
            println!("kept {name} {}: already registered", version.version);
            continue;
        }
        let (offline_metrics, not_finite) = match &version.run_id {
            Some(run) if !run.is_empty() => {
                let metrics = client.run_metrics(run).map_err(failed)?;
                (metrics.metrics, metrics.not_finite)
            }
            _ => Default::default(),
        };
        let registered = ModelVersion {
            version: version.version.clone(),
            artifact_uri: Some(format!("models:/{name}/{}", version.version)),
            offline_metrics,
            payload: payload(version),
            reference_distribution: None,
            created_at: None,
        };
        let figures = metrics_text(&registered);
        target.register_model(name, description.clone(), registered)?;
        imported += 1;
        println!("registered {name} {} ({figures})", version.version);
        if !not_finite.is_empty() {
            println!(
                "  left out {}: not a finite number in MLflow",
                not_finite.join(", ")
            );
        }
    }
    println!(
        "{imported} of {} MLflow version(s) of {name} imported from {}",
        versions.len(),
        client.uri()
    );
    Ok(())
}

/// The versions rctgate has of `name` (none when it has no such model).
fn known_versions(target: &Target, name: &str) -> Result<BTreeSet<String>, Failure> {
    let models = target.list_models()?;
    Ok(models
        .as_array()
        .into_iter()
        .flatten()
        .filter(|model| model["name"] == name)
        .flat_map(|model| model["versions"].as_array().cloned().unwrap_or_default())
        .filter_map(|version| version["version"].as_str().map(str::to_string))
        .collect())
}

/// Where the version came from in MLflow, for whoever reads the registry.
fn payload(version: &MlflowVersion) -> Value {
    let mut mlflow = Map::new();
    for (key, value) in [
        ("source", &version.source),
        ("run_id", &version.run_id),
        ("description", &version.description),
    ] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            mlflow.insert(key.to_string(), json!(value));
        }
    }
    if let Some(created) = version.creation_timestamp {
        mlflow.insert("creation_timestamp".into(), json!(created));
    }
    json!({ "mlflow": mlflow })
}

/// `auc 0.93, ndcg 0.41`, or `no logged metrics`.
fn metrics_text(version: &ModelVersion) -> String {
    if version.offline_metrics.is_empty() {
        return "no logged metrics".to_string();
    }
    version
        .offline_metrics
        .iter()
        .map(|(name, value)| format!("{name} {value}"))
        .collect::<Vec<_>>()
        .join(", ")
}
