//! The offline/online ledger (SPEC §9): what each model version promised offline against
//! what its trial measured.

use crate::catalog::models::view;
use crate::error::StoreResult;
use crate::store::Store;
use crate::trials::history::stopped_experiments;
use duckdb::Connection;
use rctgate_analysis::latency_cost::LatencyCostPoint;
use rctgate_analysis::ledger::{ledger, offline_gain, Ledger, LedgerEntry};
use rctgate_analysis::FrozenResult;
use rctgate_domain::{Experiment, ModelVersion};

impl Store {
    /// The offline/online ledger: every treatment arm of every stopped trial of every model;
    /// and every latency arm of every stopped latency-cost trial, with or without a model.
    pub fn ledger(&self) -> StoreResult<Ledger> {
        let writer = self.writer();
        let conn = &writer.conn;
        let stopped = stopped_experiments(conn)?;
        let mut statement = conn.prepare("SELECT name FROM models ORDER BY created_at, name")?;
        let models: Vec<String> = statement
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let mut entries = Vec::new();
        for model in &models {
            entries.extend(model_entries(conn, model, &stopped)?);
        }
        let latency_arms = stopped
            .iter()
            .filter_map(|(experiment, frozen)| {
                let card = frozen.scorecard()?;
                let cost = card.latency_cost.as_ref()?;
                let primary = frozen.primary()?.name.clone();
                Some(cost.arms.iter().map(move |arm| LatencyCostPoint {
                    experiment: experiment.key.clone(),
                    primary_metric: primary.clone(),
                    arm: arm.clone(),
                }))
            })
            .flatten()
            .collect();
        Ok(ledger(entries, latency_arms))
    }
}

/// The ledger entries of `model` among the `stopped` trials: each treatment arm on a version
/// other than control's, in the trials' order. Holdouts are left out: they watch a version
/// already launched, and counting them would enter its lift twice.
pub(crate) fn model_entries(
    conn: &Connection,
    model: &str,
    stopped: &[(Experiment, FrozenResult)],
) -> StoreResult<Vec<LedgerEntry>> {
    let versions: std::collections::HashMap<String, ModelVersion> = view(conn, model)?
        .versions
        .into_iter()
        .map(|v| (v.version.clone(), v))
        .collect();
    let offline = |version: &Option<String>| {
        version
            .as_ref()
            .and_then(|v| versions.get(v))
            .map(|v| v.offline_metrics.clone())
            .unwrap_or_default()
    };
    let trials = stopped
        .iter()
        .filter(|(experiment, _)| experiment.model.as_deref() == Some(model) && experiment.holdout.is_none());
    let mut entries = Vec::new();
    for (experiment, frozen) in trials {
        let control = experiment.variants.first().and_then(|v| v.model_version.clone());
        for (i, variant) in experiment.variants.iter().enumerate().skip(1) {
            // An arm on control's own version (a latency-cost or A/A arm) compares no
            // versions: it has no offline gain to set against its lift.
            let Some(version) = variant
                .model_version
                .as_ref()
                .filter(|v| Some(*v) != control.as_ref())
            else {
                continue;
            };
            let lift = frozen.business_lift_at(i);
            // A design's arms besides its deciding treatment measure costs.
            if !experiment.design.is_standard() && lift.is_none() {
                continue;
            }
            entries.push(LedgerEntry {
                experiment: experiment.key.clone(),
                model: model.to_string(),
                control_version: control.clone(),
                treatment_version: version.clone(),
                offline_gain: offline_gain(&offline(&control), &offline(&variant.model_version)),
                primary_metric: frozen.primary().map(|primary| primary.name.clone()),
                lift: lift.as_ref().and_then(|l| l.effect),
                ci_low: lift.as_ref().and_then(|l| l.ci_low),
                ci_high: lift.as_ref().and_then(|l| l.ci_high),
                verdict: frozen.decision().verdict.as_str().to_string(),
            });
        }
    }
    Ok(entries)
}
