//! `/v1/experiments`: create, replace, read, start and stop (SPEC §4, §5, §7).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use rctgate_analysis::distribution::Distributions;
use rctgate_domain::{from_json_slice, Experiment, Scope};
use serde_json::json;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::request_body::RequestBody;
use crate::state::AppState;

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<Experiment>>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(state.blocking(|store| store.list_experiments()).await?))
}

pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
) -> Result<Json<Experiment>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(
        state.blocking(move |store| store.get_experiment(&key)).await?,
    ))
}

/// The model outputs per arm and per day, with their shapes and shifts.
pub async fn distributions(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
) -> Result<Json<Distributions>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(
        state.blocking(move |store| store.distributions(&key)).await?,
    ))
}

/// Creates a draft; 409 when the key exists.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    RequestBody(payload): RequestBody,
) -> Result<(StatusCode, Json<Experiment>), ApiError> {
    caller.require(Scope::Experiment)?;
    let experiment: Experiment = from_json_slice(&payload)?;
    let key_id = caller.key_id().to_string();
    let created = state
        .blocking(move |store| store.create_experiment(experiment, &key_id))
        .await?;
    Ok((StatusCode::CREATED, changed(&state, created).await?))
}

/// Replaces an experiment; 409 when it would reshuffle a running one.
pub async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    RequestBody(payload): RequestBody,
) -> Result<Json<Experiment>, ApiError> {
    caller.require(Scope::Experiment)?;
    let experiment: Experiment = from_json_slice(&payload)?;
    let key_id = caller.key_id().to_string();
    let replaced = state
        .blocking(move |store| store.replace_experiment(&key, experiment, &key_id))
        .await?;
    changed(&state, replaced).await
}

pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
) -> Result<Json<Experiment>, ApiError> {
    caller.require(Scope::Experiment)?;
    Ok(Json(start_as(&state, key, caller.key_id().to_string()).await?))
}

/// Stops a running experiment and freezes its final scorecard and verdict.
pub async fn stop(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
) -> Result<Json<Experiment>, ApiError> {
    caller.require(Scope::Experiment)?;
    Ok(Json(stop_as(&state, key, caller.key_id().to_string()).await?))
}

/// Starts experiment `key` as key `key_id` (the API and the dashboard's button).
pub(crate) async fn start_as(state: &AppState, key: String, key_id: String) -> Result<Experiment, ApiError> {
    let started = state
        .blocking(move |store| store.start_experiment(&key, &key_id))
        .await?;
    Ok(changed(state, started).await?.0)
}

/// Stops experiment `key` as key `key_id`, freezing its verdict, and announces the verdict on
/// the webhook (the API and the dashboard's button).
pub(crate) async fn stop_as(state: &AppState, key: String, key_id: String) -> Result<Experiment, ApiError> {
    let stopped = state
        .blocking(move |store| {
            let stopped = store.stop_experiment(&key, &key_id)?;
            let frozen = store.frozen_results(&key)?;
            Ok::<_, rctgate_store::StoreError>((stopped, frozen))
        })
        .await?;
    let (stopped, frozen) = stopped;
    if let Some(frozen) = frozen {
        state.webhook.send(
            "verdict",
            json!({"experiment": stopped.key, "model": stopped.model, "decision": frozen.decision(),
                   "primary": frozen.primary().map(|primary| &primary.name)}),
        );
    }
    Ok(changed(state, stopped).await?.0)
}

/// Answers with the changed experiment once assignment sees the change.
async fn changed(state: &AppState, experiment: Experiment) -> Result<Json<Experiment>, ApiError> {
    state.reload_assignments().await?;
    Ok(Json(experiment))
}
