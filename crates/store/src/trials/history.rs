//! The stopped trials of a model with their frozen verdicts: what the gate and the ledger read.

use crate::error::{StoreError, StoreResult};
use crate::store::Store;
use duckdb::Connection;
use rctgate_analysis::FrozenResult;
use rctgate_domain::{Experiment, Status};

impl Store {
    /// Every stopped trial of a model, with its frozen verdict.
    pub fn model_trials(&self, name: &str) -> StoreResult<Vec<(Experiment, FrozenResult)>> {
        stopped_trials(&self.writer().conn, name)
    }
}

/// Stopped experiments naming model `name`, with their frozen results, oldest first.
pub(crate) fn stopped_trials(conn: &Connection, name: &str) -> StoreResult<Vec<(Experiment, FrozenResult)>> {
    let mut found = stopped_experiments(conn)?;
    found.retain(|(experiment, _)| experiment.model.as_deref() == Some(name));
    Ok(found)
}

/// Every stopped experiment with its frozen results, oldest first.
pub(crate) fn stopped_experiments(conn: &Connection) -> StoreResult<Vec<(Experiment, FrozenResult)>> {
    let mut statement = conn.prepare(
        "SELECT definition, frozen_results FROM experiments WHERE status = ? AND frozen_results IS NOT NULL \
         ORDER BY created_at, key",
    )?;
    let rows = statement.query_map([Status::Stopped.as_str()], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    let mut found = Vec::new();
    for row in rows {
        let (definition, frozen) = row?;
        let experiment: Experiment = serde_json::from_str(&definition)
            .map_err(|err| StoreError::Corrupt(format!("experiment definition: {err}")))?;
        let frozen: FrozenResult = serde_json::from_str(&frozen)
            .map_err(|err| StoreError::Corrupt(format!("frozen results of {}: {err}", experiment.key)))?;
        found.push((experiment, frozen));
    }
    Ok(found)
}
