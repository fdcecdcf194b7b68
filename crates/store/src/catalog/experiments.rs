//! Experiments: create, replace, get, list and the lifecycle `draft -> running -> stopped`.
//!
//! The stored document is the whole [`Experiment`], server-owned fields included; the
//! `status` column mirrors it for SQL. Field rules come from the domain crate, the SPEC §5
//! rule on running experiments from `rctgate_domain::check_replacement`. In addition, starting
//! an experiment is refused when a running experiment of the same layer overlaps its range,
//! since mutually exclusive experiments would then share units.

use crate::catalog::audit::{self, Change};
use crate::catalog::metrics::{self, Upserted};
use crate::catalog::variants::ExperimentVariants;
use crate::error::{StoreError, StoreResult};
use crate::store::Store;
use crate::time::{now, Micros};
use duckdb::{Connection, OptionalExt};
use rctgate_domain::{check_replacement, same_definition, Experiment, Status};
use serde_json::Value;
use std::sync::Arc;

impl Store {
    /// Experiment keys and their variants, as exposures are validated against them; read
    /// again only after an experiment changed (see `variants`).
    pub(crate) fn experiment_catalog(&self) -> StoreResult<Arc<ExperimentVariants>> {
        self.variants
            .get_or_read(|| variants_by_experiment(&self.writer().conn))
    }

    /// Creates `experiment` as a draft; a conflict if the key exists.
    pub fn create_experiment(&self, experiment: Experiment, key_id: &str) -> StoreResult<Experiment> {
        if experiment.holdout.is_some() {
            return Err(StoreError::invalid(
                "holdout",
                "Is set by the server on the experiment a promotion keeps as its holdout \
                 (promote --holdout); leave it out.",
            ));
        }
        let mut writer = self.writer();
        let tx = writer.conn.transaction()?;
        let created = insert(&tx, experiment, Status::Draft, key_id)?;
        tx.commit()?;
        self.touch_experiments();
        Ok(created)
    }

    /// Replaces the definition of experiment `key` with `proposed`, under the SPEC §5 rule;
    /// server-owned fields (status, timestamps) are kept from the stored experiment.
    /// Replacing with an identical definition writes nothing.
    pub fn replace_experiment(
        &self,
        key: &str,
        proposed: Experiment,
        key_id: &str,
    ) -> StoreResult<Experiment> {
        if proposed.key != key {
            return Err(StoreError::invalid(
                "key",
                format!(
                    "The body's key {:?} differs from the experiment being replaced ({key:?}).",
                    proposed.key
                ),
            ));
        }
        let mut writer = self.writer();
        let tx = writer.conn.transaction()?;
        let stored = load(&tx, key)?.ok_or_else(|| not_found(key))?;
        let mut replacement = proposed;
        replacement.normalize();
        replacement.validate(&metrics::names(&tx)?)?;
        check_model_references(&tx, &replacement)?;
        check_primary_decides(&tx, &replacement)?;
        check_replacement(&stored, &replacement)?;
        if same_definition(&stored, &replacement) {
            return Ok(stored);
        }
        replacement.status = stored.status;
        replacement.created_at = stored.created_at;
        replacement.started_at = stored.started_at;
        replacement.stopped_at = stored.stopped_at;
        replacement.holdout = stored.holdout.clone();
        write_change(&tx, &stored, &replacement, "experiment.replace", key_id)?;
        tx.commit()?;
        self.touch_experiments();
        Ok(replacement)
    }

    /// Creates the experiment or replaces its definition (`rctgate apply`).
    pub fn apply_experiment(
        &self,
        experiment: Experiment,
        key_id: &str,
    ) -> StoreResult<(Experiment, Upserted)> {
        let existing = load(&self.writer().conn, &experiment.key)?;
        match existing {
            None => Ok((self.create_experiment(experiment, key_id)?, Upserted::Created)),
            Some(stored) => {
                let key = stored.key.clone();
                let unchanged = {
                    let mut normalized = experiment.clone();
                    normalized.normalize();
                    same_definition(&stored, &normalized)
                };
                let replaced = self.replace_experiment(&key, experiment, key_id)?;
                let outcome = if unchanged {
                    Upserted::Unchanged
                } else {
                    Upserted::Updated
                };
                Ok((replaced, outcome))
            }
        }
    }

    /// The experiment `key`.
    pub fn get_experiment(&self, key: &str) -> StoreResult<Experiment> {
        load(&self.writer().conn, key)?.ok_or_else(|| not_found(key))
    }

    /// Every experiment, oldest first.
    pub fn list_experiments(&self) -> StoreResult<Vec<Experiment>> {
        list(&self.writer().conn)
    }

    /// Starts a draft: it becomes `running` and records `started_at`.
    pub fn start_experiment(&self, key: &str, key_id: &str) -> StoreResult<Experiment> {
        let mut writer = self.writer();
        let tx = writer.conn.transaction()?;
        let stored = load(&tx, key)?.ok_or_else(|| not_found(key))?;
        let mut started = stored.clone();
        started.status = stored.status.start(key)?;
        started.started_at = Some(now());
        check_layer_is_free(&tx, &started)?;
        write_change(&tx, &stored, &started, "experiment.start", key_id)?;
        tx.commit()?;
        self.touch_experiments();
        Ok(started)
    }
}

/// Validates and inserts a new experiment on `tx` in `status` (a draft, or the running
/// holdout a promotion starts), with its audit entry; a conflict if the key exists.
pub(crate) fn insert(
    tx: &Connection,
    experiment: Experiment,
    status: Status,
    key_id: &str,
) -> StoreResult<Experiment> {
    if load(tx, &experiment.key)?.is_some() {
        return Err(StoreError::conflict(format!(
            "Experiment {} already exists; replace it with PUT instead.",
            experiment.key
        )));
    }
    let mut created = experiment;
    created.normalize();
    created.validate(&metrics::names(tx)?)?;
    check_model_references(tx, &created)?;
    check_primary_decides(tx, &created)?;
    created.status = status;
    let created_at = now();
    created.created_at = Some(created_at);
    created.started_at = (status == Status::Running).then_some(created_at);
    created.stopped_at = None;
    let after = to_json(&created)?;
    tx.execute(
        "INSERT INTO experiments (key, status, definition, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        duckdb::params![
            created.key,
            created.status.as_str(),
            after.to_string(),
            Micros::of(created_at),
            Micros::of(created_at)
        ],
    )?;
    audit::record(
        tx,
        Change {
            key_id,
            action: "experiment.create",
            target: &created.key,
            before: None,
            after: Some(&after),
        },
    )?;
    Ok(created)
}

/// Experiment keys to variant names, for validating exposures.
pub(crate) fn variants_by_experiment(conn: &Connection) -> StoreResult<ExperimentVariants> {
    Ok(list(conn)?
        .into_iter()
        .map(|experiment| {
            let names = experiment.variant_names();
            (experiment.key, names)
        })
        .collect())
}

pub(crate) fn write_change(
    conn: &Connection,
    before: &Experiment,
    after: &Experiment,
    action: &str,
    key_id: &str,
) -> StoreResult<()> {
    let before_json = to_json(before)?;
    let after_json = to_json(after)?;
    conn.execute(
        "UPDATE experiments SET status = ?, definition = ?, updated_at = ? WHERE key = ?",
        duckdb::params![
            after.status.as_str(),
            after_json.to_string(),
            Micros::now(),
            after.key
        ],
    )?;
    audit::record(
        conn,
        Change {
            key_id,
            action,
            target: &after.key,
            before: Some(&before_json),
            after: Some(&after_json),
        },
    )
}

/// An experiment about a model names a registered model, and its variants registered
/// versions of it (or none: the behaviour before the model).
fn check_model_references(conn: &Connection, experiment: &Experiment) -> StoreResult<()> {
    let Some(model) = &experiment.model else {
        if let Some(i) = experiment.variants.iter().position(|v| v.model_version.is_some()) {
            return Err(StoreError::invalid(
                &format!("variants[{i}].model_version"),
                "Names a model version, but the experiment names no model; set model too.",
            ));
        }
        return Ok(());
    };
    let versions = crate::catalog::models::version_names(conn, model)?.ok_or_else(|| {
        StoreError::invalid(
            "model",
            format!("Model {model} is not registered; register it first."),
        )
    })?;
    for (i, variant) in experiment.variants.iter().enumerate() {
        if let Some(version) = &variant.model_version {
            if !versions.contains(version) {
                return Err(StoreError::invalid(
                    &format!("variants[{i}].model_version"),
                    format!("Version {version} of {model} is not registered; register it first."),
                ));
            }
        }
    }
    Ok(())
}

/// The primary metric decides the trial: a business outcome, not a quantile or a latency
/// (those guard it). The analysis plan refuses them too, for a metric redefined since.
fn check_primary_decides(conn: &Connection, experiment: &Experiment) -> StoreResult<()> {
    let name = &experiment.metrics.primary;
    let Some(metric) = metrics::load(conn, name)? else {
        return Ok(());
    };
    if !metric.can_decide() {
        return Err(StoreError::Invalid(metric.primary_refusal()));
    }
    Ok(())
}

/// Refuses to run two experiments of one layer over overlapping ranges, or two global
/// holdouts of one layer.
fn check_layer_is_free(conn: &Connection, starting: &Experiment) -> StoreResult<()> {
    if let Some(layer) = &starting.holds_out_layer {
        return check_layer_has_no_holdout(conn, starting, layer);
    }
    let Some(layer) = &starting.layer else {
        return Ok(());
    };
    for other in list(conn)? {
        if other.key == starting.key || other.status != Status::Running {
            continue;
        }
        let Some(other_layer) = &other.layer else {
            continue;
        };
        let overlaps = other_layer.start < layer.end && layer.start < other_layer.end;
        if other_layer.name == layer.name && overlaps {
            return Err(StoreError::conflict(format!(
                "Experiment {} runs in layer {} over [{}, {}), which overlaps [{}, {}); \
                 experiments of one layer must not share units.",
                other.key, layer.name, other_layer.start, other_layer.end, layer.start, layer.end
            )));
        }
    }
    Ok(())
}

/// One global holdout per layer: with two, a unit held out by either would be out of the
/// other's launched arm too, and neither would measure what it says.
fn check_layer_has_no_holdout(conn: &Connection, starting: &Experiment, layer: &str) -> StoreResult<()> {
    let running = list(conn)?.into_iter().find(|other| {
        other.key != starting.key
            && other.status == Status::Running
            && other.holds_out_layer.as_deref() == Some(layer)
    });
    match running {
        Some(other) => Err(StoreError::conflict(format!(
            "Experiment {} already holds out layer {layer}; a layer keeps one global holdout: stop it first.",
            other.key
        ))),
        None => Ok(()),
    }
}

pub(crate) fn load(conn: &Connection, key: &str) -> StoreResult<Option<Experiment>> {
    let definition: Option<String> = conn
        .query_row("SELECT definition FROM experiments WHERE key = ?", [key], |row| {
            row.get(0)
        })
        .optional()?;
    definition.as_deref().map(parse).transpose()
}

fn list(conn: &Connection) -> StoreResult<Vec<Experiment>> {
    let mut statement = conn.prepare("SELECT definition FROM experiments ORDER BY created_at, key")?;
    let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
    let mut experiments = Vec::new();
    for row in rows {
        experiments.push(parse(&row?)?);
    }
    Ok(experiments)
}

pub(crate) fn not_found(key: &str) -> StoreError {
    StoreError::NotFound {
        what: "experiment",
        name: key.to_string(),
    }
}

fn parse(definition: &str) -> StoreResult<Experiment> {
    serde_json::from_str(definition)
        .map_err(|err| StoreError::Corrupt(format!("experiment definition: {err}")))
}

fn to_json(experiment: &Experiment) -> StoreResult<Value> {
    serde_json::to_value(experiment).map_err(|err| StoreError::Corrupt(format!("experiment to JSON: {err}")))
}
