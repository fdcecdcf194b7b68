//! `rctgate apply FILE.toml`: creates or updates the metrics and experiments
//! a file declares, so trials live in version control beside the model.
//!
//! A file is either one experiment at the top level (it has a `key`; its
//! `[metrics]` table is the experiment's metric roles), or a catalog of
//! `[metrics.NAME]` tables (the name comes from the table) and
//! `[experiments.KEY]` tables (the key likewise). Fields are SPEC §7's, the
//! same as the JSON API.
//! Metrics are applied first, so an experiment may use a metric of the same
//! file. Every item is validated before anything is written.

use std::path::PathBuf;

use rctgate_domain::{from_json_value, Experiment, Metric};
use serde_json::Value;

use crate::failure::Failure;
use crate::target::TargetArgs;

#[derive(clap::Args)]
pub struct Args {
    /// The TOML file.
    file: PathBuf,
    #[command(flatten)]
    target: TargetArgs,
}

pub fn run(args: Args) -> Result<(), Failure> {
    let shown = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| Failure::input(format!("cannot read {shown}: {e}")))?;
    let (metrics, experiments) = parse(&text).map_err(|e| Failure::input(format!("{shown}: {e}")))?;
    let target = args.target.open()?;
    for metric in &metrics {
        let outcome = target.upsert_metric(metric)?;
        println!("metric {}: {outcome}", metric.name);
    }
    for experiment in experiments {
        let key = experiment.key.clone();
        let outcome = target.apply_experiment(experiment)?;
        println!("experiment {key}: {outcome}");
    }
    Ok(())
}

/// The metrics and experiments of a file, validated as shapes (references to
/// metrics are checked by the store, which knows the catalog).
pub fn parse(text: &str) -> Result<(Vec<Metric>, Vec<Experiment>), String> {
    let document: toml::Table =
        toml::from_str(text).map_err(|e| format!("not valid TOML: {}", e.message()))?;
    let json = serde_json::to_value(&document).map_err(|e| format!("cannot read the TOML: {e}"))?;
    let Value::Object(mut root) = json else {
        return Err("the file must hold tables".into());
    };
    if root.contains_key("key") {
        let experiment = from_json_value::<Experiment>(Value::Object(root)).map_err(|e| e.to_string())?;
        return Ok((Vec::new(), vec![experiment]));
    }
    let metrics = named_tables(root.remove("metrics"), "metrics", "name")?
        .into_iter()
        .map(|(field, value)| from_json_value::<Metric>(value).map_err(|e| e.inside(&field).to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let experiments = named_tables(root.remove("experiments"), "experiments", "key")?
        .into_iter()
        .map(|(field, value)| from_json_value::<Experiment>(value).map_err(|e| e.inside(&field).to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(other) = root.keys().next() {
        return Err(format!(
            "`{other}` is neither [metrics.NAME] nor [experiments.KEY]; a single-experiment file needs a top-level `key`"
        ));
    }
    if metrics.is_empty() && experiments.is_empty() {
        return Err("the file declares no [metrics.NAME] and no experiment".into());
    }
    Ok((metrics, experiments))
}

/// `[section.NAME]` tables, with NAME put into the `id_field` of each.
fn named_tables(
    section: Option<Value>,
    section_name: &str,
    id_field: &str,
) -> Result<Vec<(String, Value)>, String> {
    let Some(section) = section else {
        return Ok(Vec::new());
    };
    let Value::Object(tables) = section else {
        return Err(format!(
            "`{section_name}` must be a set of tables like [{section_name}.NAME]"
        ));
    };
    tables
        .into_iter()
        .map(|(name, value)| {
            let Value::Object(mut fields) = value else {
                return Err(format!("`{section_name}.{name}` must be a table"));
            };
            let named = fields
                .entry(id_field.to_string())
                .or_insert_with(|| Value::String(name.clone()));
            if named.as_str() != Some(name.as_str()) {
                return Err(format!(
                    "`{section_name}.{name}.{id_field}` differs from the table's name `{name}`"
                ));
            }
            Ok((format!("{section_name}.{name}"), Value::Object(fields)))
        })
        .collect()
}
