//! Stopping a trial and freezing its verdict (SPEC §4): the scorecard as of the stop, written
//! once with the stop and never changed afterwards.

use crate::catalog::audit::{self, Change};
use crate::catalog::experiments::{load, not_found, write_change};
use crate::error::{StoreError, StoreResult};
use crate::store::Store;
use crate::time::now;
use crate::trials::timing::timed;
use duckdb::OptionalExt;
use rctgate_analysis::FrozenResult;
use rctgate_domain::Experiment;
use serde_json::Value;

impl Store {
    /// Stops a running experiment: it becomes `stopped`, records `stopped_at`, and freezes
    /// the final scorecard and verdict (SPEC §4), computed over the exposures up to the stop.
    ///
    /// The analysis runs before the writer lock is taken, so ingestion continues meanwhile;
    /// the stop then commits only if the experiment is still the one analysed. A scorecard
    /// that cannot be computed (a metric deleted from the catalog) never prevents a stop: the
    /// frozen result is then an `invalid` verdict saying why. The frozen scorecard is
    /// recorded in the audit log (`experiment.results_frozen`) and never changes afterwards.
    pub fn stop_experiment(&self, key: &str, key_id: &str) -> StoreResult<Experiment> {
        let stored = self.get_experiment(key)?;
        let mut stopped = stored.clone();
        stopped.status = stored.status.stop(key)?;
        let stopped_at = now();
        stopped.stopped_at = Some(stopped_at);
        let analysed = timed("stop: the final scorecard", || {
            self.analyze_experiment(&stopped, stopped_at, &Default::default())
        });
        let frozen = match analysed {
            Ok(card) => FrozenResult::Scorecard(Box::new(card)),
            Err(err) => {
                FrozenResult::unanalysable(key, format!("The final scorecard could not be computed: {err}"))
            }
        };
        let results = serde_json::to_value(&frozen)
            .map_err(|err| StoreError::Corrupt(format!("scorecard to JSON: {err}")))?;
        // Its rows kept for analysing it while it ran are of no use once it is frozen. The
        // lock of the kept rows' writers is taken first: another trial's refresh may hold it
        // for a second, and the writer lock, taken second, would meanwhile block every event
        // insert (the soak saw waits up to 1 s). No holder of the kept rows' lock takes the
        // writer lock.
        let _kept = timed("stop: waiting for the kept rows' lock", || self.kept_units_lock());
        let mut writer = timed("stop: waiting for the writer", || self.writer());
        let tx = writer.conn.transaction()?;
        let current = load(&tx, key)?.ok_or_else(|| not_found(key))?;
        if current != stored {
            return Err(StoreError::conflict(format!(
                "Experiment {key} changed while it was being stopped; stop it again."
            )));
        }
        write_change(&tx, &stored, &stopped, "experiment.stop", key_id)?;
        tx.execute(
            "UPDATE experiments SET frozen_results = ? WHERE key = ?",
            duckdb::params![results.to_string(), key],
        )?;
        audit::record(
            &tx,
            Change {
                key_id,
                action: "experiment.results_frozen",
                target: key,
                before: None,
                after: Some(&results),
            },
        )?;
        crate::trials::unit_state::forget(&tx, key)?;
        timed("stop: commit", || tx.commit())?;
        self.touch_experiments();
        Ok(stopped)
    }

    /// The results frozen when experiment `key` stopped (`None` before it stopped), typed.
    pub fn frozen_results(&self, key: &str) -> StoreResult<Option<FrozenResult>> {
        self.frozen_text(key)?
            .map(|text| {
                serde_json::from_str(&text)
                    .map_err(|err| StoreError::Corrupt(format!("frozen results of {key}: {err}")))
            })
            .transpose()
    }

    /// The results frozen when experiment `key` stopped, as they were written: what
    /// `/results` serves, byte for byte the same JSON whenever it is asked.
    pub(crate) fn frozen_json(&self, key: &str) -> StoreResult<Option<Value>> {
        self.frozen_text(key)?
            .map(|text| {
                serde_json::from_str(&text)
                    .map_err(|err| StoreError::Corrupt(format!("frozen results of {key}: {err}")))
            })
            .transpose()
    }

    fn frozen_text(&self, key: &str) -> StoreResult<Option<String>> {
        let writer = self.writer();
        let row: Option<Option<String>> = writer
            .conn
            .query_row(
                "SELECT frozen_results FROM experiments WHERE key = ?",
                [key],
                |row| row.get(0),
            )
            .optional()?;
        row.ok_or_else(|| not_found(key))
    }
}
