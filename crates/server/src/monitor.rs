//! Watching launches after the ship (issue 23): each model's production version through its
//! holdout, on a timer and whenever someone asks (`GET /v1/models/{name}/monitoring`).
//!
//! A watch stores the alerts it finds (each once per holdout, kind and metric), sends every
//! new one as a signed `alert` webhook event, and updates the Prometheus gauges
//! (`rctgate_holdout_lift*`, `rctgate_alert_active`). Both paths run the same [`watch`], so
//! what the timer announces is what the API shows.

use std::time::Duration;

use rctgate_analysis::saturation::DEFAULT_SATURATION_TRIALS;
use rctgate_store::{ModelMonitoring, RaisedAlert};
use serde::Serialize;

use crate::error::ApiError;
use crate::state::AppState;

/// How often the server watches every launch with a running holdout on its own.
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    /// `None`: only when asked.
    pub every: Option<Duration>,
    /// How often every running trial's unit rows are kept fresh (`kept_rows`); `None`:
    /// only after results requests.
    pub keep_rows_every: Option<Duration>,
}

/// What a watch of one model answers.
#[derive(Debug, Serialize)]
pub struct Watched {
    #[serde(flatten)]
    pub monitoring: ModelMonitoring,
    /// Every alert raised so far for the model, oldest first.
    pub alerts: Vec<RaisedAlert>,
}

/// Watches model `name` now: computes, stores new alerts, announces them, sets the gauges.
pub async fn watch(state: &AppState, name: String, window: usize) -> Result<Watched, ApiError> {
    let (monitoring, raised, alerts) = state
        .blocking(move |store| {
            let monitoring = store.monitoring(&name, window)?;
            let found = monitoring
                .holdout
                .as_ref()
                .map(|h| h.alerts.clone())
                .unwrap_or_default();
            let raised = store.record_alerts(&found)?;
            let alerts = store.alerts(&name)?;
            Ok::<_, rctgate_store::StoreError>((monitoring, raised, alerts))
        })
        .await?;
    for alert in raised {
        tracing::warn!(model = %alert.alert.model, kind = alert.alert.kind.as_str(), "{}", alert.alert.message);
        match serde_json::to_value(&alert) {
            Ok(data) => state.webhook.send("alert", data),
            Err(err) => tracing::error!("could not encode an alert: {err}"),
        }
    }
    state.telemetry.record_watch(&monitoring);
    Ok(Watched { monitoring, alerts })
}

/// Runs [`watch`] for every model with a running holdout, every `every`, until the task
/// is aborted (at shutdown). Failures are logged and retried at the next tick.
pub fn spawn(state: AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    crate::timer::spawn(state, every, "watching launches", |state, running| async move {
        let mut models: Vec<String> = running
            .into_iter()
            .filter_map(|e| e.holdout.map(|h| h.model))
            .collect();
        models.sort();
        models.dedup();
        for model in models {
            if let Err(err) = watch(&state, model.clone(), DEFAULT_SATURATION_TRIALS).await {
                tracing::error!(model, "watching the launch: {}", err.message);
            }
        }
    })
}
