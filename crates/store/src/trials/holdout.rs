//! The holdout a promotion may keep (`promote --holdout`, issue 23): started in the
//! promotion's own transaction, so a promotion never lands without the holdout it asked for.

use crate::catalog::experiments::{self, load};
use crate::error::{StoreError, StoreResult};
use duckdb::{Connection, OptionalExt};
use rctgate_domain::holdout::holdout_key;
use rctgate_domain::{Evidence, Experiment, Holdout, HoldoutPlan, ModelVersion, Status};

/// What a promotion asks of its holdout.
pub(crate) struct HoldoutRequest<'a> {
    pub model: &'a str,
    pub version: &'a str,
    /// The production version before the promotion.
    pub previous: Option<&'a str>,
    pub share: f64,
}

/// Refuses a holdout the promotion cannot keep, before anything is written.
pub(crate) fn check(request: &HoldoutRequest<'_>, evidence: Option<&Evidence>) -> StoreResult<()> {
    let model = request.model;
    if request.previous.is_none() {
        return Err(StoreError::invalid(
            "holdout",
            format!(
                "{model} has no previous production version to hold out; a first promotion cannot keep a holdout."
            ),
        ));
    }
    match evidence {
        Some(Evidence::Trial { .. } | Evidence::Rollback { .. }) => Ok(()),
        _ => Err(StoreError::invalid(
            "holdout",
            "A holdout measures the launch against the trial that justified it, and an override has no trial; \
             leave holdout out, or run the comparison as an experiment of its own.",
        )),
    }
}

/// Starts the holdout experiment of a promotion on `tx`; returns its key.
pub(crate) fn start(
    tx: &Connection,
    request: &HoldoutRequest<'_>,
    evidence: &Evidence,
    key_id: &str,
) -> StoreResult<String> {
    check(request, Some(evidence))?;
    let (Some(previous), Evidence::Trial { experiment } | Evidence::Rollback { experiment }) =
        (request.previous, evidence)
    else {
        return Err(StoreError::Corrupt("holdout checked without a trial".into()));
    };
    let trial = load(tx, experiment)?.ok_or_else(|| experiments::not_found(experiment))?;
    let plan = HoldoutPlan {
        holdout: Holdout {
            model: request.model.to_string(),
            version: request.version.to_string(),
            previous: previous.to_string(),
            share: request.share,
            trial: trial.key.clone(),
        },
        previous_payload: payload(tx, &trial, request.model, previous)?,
        payload: payload(tx, &trial, request.model, request.version)?,
        trial: &trial,
    };
    let mut statement = tx.prepare("SELECT key FROM experiments")?;
    let keys = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<std::collections::HashSet<String>, _>>()?;
    let key = holdout_key(request.model, request.version, |key| keys.contains(key));
    let created = experiments::insert(tx, plan.experiment(key), Status::Running, key_id)?;
    Ok(created.key)
}

/// What `version` serves: its arm's payload in the trial, else its registered payload.
fn payload(
    tx: &Connection,
    trial: &Experiment,
    model: &str,
    version: &str,
) -> StoreResult<serde_json::Value> {
    let in_trial = trial
        .variants
        .iter()
        .find(|arm| arm.model_version.as_deref() == Some(version))
        .map(|arm| arm.payload.clone())
        .filter(|payload| !payload.is_null());
    if let Some(payload) = in_trial {
        return Ok(payload);
    }
    let definition: Option<String> = tx
        .query_row(
            "SELECT definition FROM model_versions WHERE model = ? AND version = ?",
            [model, version],
            |row| row.get(0),
        )
        .optional()?;
    let Some(text) = definition else {
        return Ok(serde_json::Value::Null);
    };
    let registered: ModelVersion =
        serde_json::from_str(&text).map_err(|err| StoreError::Corrupt(format!("model version: {err}")))?;
    Ok(registered.payload)
}
