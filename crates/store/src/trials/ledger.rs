//! The offline/online ledger (SPEC §9): what each model version promised offline against
//! what its trial measured.

use crate::catalog::models::view;
use crate::error::StoreResult;
use crate::store::Store;
use crate::trials::history::stopped_trials;
use rctgate_analysis::ledger::{ledger, offline_gain, Ledger, LedgerEntry};
use rctgate_domain::ModelVersion;

impl Store {
    /// The offline/online ledger: every treatment arm of every stopped trial of every model.
    pub fn ledger(&self) -> StoreResult<Ledger> {
        let writer = self.writer();
        let conn = &writer.conn;
        let mut statement = conn.prepare("SELECT name FROM models ORDER BY created_at, name")?;
        let models: Vec<String> = statement
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let mut entries = Vec::new();
        for model in &models {
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
            for (experiment, frozen) in stopped_trials(conn, model)? {
                let control = experiment.variants.first().and_then(|v| v.model_version.clone());
                for (i, variant) in experiment.variants.iter().enumerate().skip(1) {
                    let Some(version) = &variant.model_version else {
                        continue;
                    };
                    let lift = frozen.primary_lift_at(i);
                    entries.push(LedgerEntry {
                        experiment: experiment.key.clone(),
                        model: model.clone(),
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
        }
        Ok(ledger(entries))
    }
}
