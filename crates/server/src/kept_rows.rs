//! Keeping every running trial's unit rows fresh off any request (`Store::keep_unit_rows`):
//! a results request then pays only for what arrived since the last refresh, however long
//! nobody looked at the trial.

use std::sync::Arc;
use std::time::Duration;

use crate::state::AppState;
use crate::telemetry::KeptRows;
use rctgate_store::{KeepRows, RowsKept};

/// Keeps the rows of experiment `key` (`which`) on a blocking thread, counting what happened
/// in `/metrics`; a failure is logged and leaves the rows as they were.
pub fn keep(state: &AppState, key: String, which: KeepRows) -> tokio::task::JoinHandle<()> {
    let (store, telemetry) = (Arc::clone(&state.store), Arc::clone(&state.telemetry));
    tokio::task::spawn_blocking(move || match store.keep_unit_rows(&key, which) {
        Ok(RowsKept::Computed) => telemetry.record_unit_rows(KeptRows::Built),
        Ok(RowsKept::Refreshed) => telemetry.record_unit_rows(KeptRows::Refreshed),
        Ok(RowsKept::LeftAsKept | RowsKept::NotKept) => {}
        Err(err) => {
            telemetry.record_unit_rows(KeptRows::Failed);
            tracing::warn!(experiment = %key, error = %err, "could not keep the trial's unit rows");
        }
    })
}

/// Keeps the rows of every running experiment, one after another, every `every`, until the
/// task is aborted (at shutdown).
pub fn spawn(state: AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    crate::timer::spawn(state, every, "keeping unit rows", |state, running| async move {
        for experiment in running {
            let _ = keep(&state, experiment.key, KeepRows::MissingOrStale).await;
        }
    })
}
