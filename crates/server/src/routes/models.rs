//! The model registry and the gate (SPEC §4): `/v1/models`, versions, promotion, overrides
//! and their approval, the gate check CI pipelines call, and the offline/online ledger.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use rctgate_analysis::ledger::Ledger;
use rctgate_domain::{from_json_slice, ModelVersion, NewModel, PromotionRequest, Scope};
use rctgate_store::{GateAnswer, ModelView, Promotion, PromotionOutcome};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::query_params::{Parameters, QueryParams};
use crate::request_body::RequestBody;
use crate::state::AppState;

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<ModelView>>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(state.blocking(|store| store.list_models()).await?))
}

pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<ModelView>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(state.blocking(move |store| store.get_model(&name)).await?))
}

/// Registers a model: 201, 409 if the name exists.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    RequestBody(payload): RequestBody,
) -> Result<(StatusCode, Json<ModelView>), ApiError> {
    caller.require(Scope::Experiment)?;
    let model: NewModel = from_json_slice(&payload)?;
    let key_id = caller.key_id().to_string();
    let created = state
        .blocking(move |store| store.create_model(model, &key_id))
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Registers a version: 201, 404 without the model, 409 if the version exists.
pub async fn add_version(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    RequestBody(payload): RequestBody,
) -> Result<(StatusCode, Json<ModelVersion>), ApiError> {
    caller.require(Scope::Experiment)?;
    let version: ModelVersion = from_json_slice(&payload)?;
    let key_id = caller.key_id().to_string();
    let created = state
        .blocking(move |store| store.add_model_version(&name, version, &key_id))
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Moves the production pointer through the gate: 200 with the promotion; 409 with `reasons`
/// when it refuses. Trial evidence needs `experiment`; an override (`override_reason`) needs
/// `admin`, and with `serve --override-approvals N` (N > 1) it answers 202 with the pending
/// override (`{"override": {...}}`) until N different admins approved it.
pub async fn promote(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    RequestBody(payload): RequestBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Scope::Experiment)?;
    let request: PromotionRequest = from_json_slice(&payload)?;
    if request.override_reason.is_some() {
        caller.require(Scope::Admin)?;
    }
    let key_id = caller.key_id().to_string();
    let approvals = state.governance.override_approvals;
    let model = name.clone();
    let outcome = state
        .blocking(move |store| store.promote(&name, &request, &key_id, approvals))
        .await?;
    match outcome {
        PromotionOutcome::Promoted(promotion) => {
            if !promotion.evidence["holdout"].is_null() {
                // The holdout experiment runs from now: assignment must serve it.
                state.reload_assignments().await?;
            }
            Ok((StatusCode::OK, Json(announce(&state, &model, &promotion)?)))
        }
        PromotionOutcome::Pending(pending) => Ok((StatusCode::ACCEPTED, Json(json!({"override": pending})))),
    }
}

/// `POST /v1/models/{name}/overrides/{id}/approve` (admin, not the requester): 200 with the
/// override and, once enough admins approved, the promotion it made.
pub async fn approve_override(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Admin)?;
    let id: i64 = id.parse().map_err(|_| {
        ApiError::bad_request(format!("The override id {id:?} is not a number."))
            .with_field(Some("id".into()))
    })?;
    let key_id = caller.key_id().to_string();
    let model = name.clone();
    let (request, promotion) = state
        .blocking(move |store| store.approve_override(&name, id, &key_id))
        .await?;
    let promotion = match promotion {
        Some(promotion) => announce(&state, &model, &promotion)?,
        None => Value::Null,
    };
    Ok(Json(json!({"override": request, "promotion": promotion})))
}

/// Sends the promotion to the webhook, wakes the alias sync; returns it as JSON.
fn announce(state: &AppState, model: &str, promotion: &Promotion) -> Result<Value, ApiError> {
    state.aliases.wake();
    state
        .webhook
        .send("promotion", json!({"model": model, "promotion": promotion}));
    serde_json::to_value(promotion)
        .map_err(|err| ApiError::internal(format!("could not encode the promotion: {err}")))
}

/// `?version=V&experiment=KEY`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateParams {
    version: Option<String>,
    experiment: Option<String>,
}

impl Parameters for GateParams {
    const EXPECTED: &'static str = "the parameters are version and experiment.";
    const FIELD: &'static str = "version";
}

/// Whether a version may run in production (read scope: CI pipelines call it).
pub async fn gate(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    QueryParams(params): QueryParams<GateParams>,
) -> Result<Json<GateAnswer>, ApiError> {
    caller.require(Scope::Read)?;
    let version = params.version.filter(|v| !v.is_empty()).ok_or_else(|| {
        ApiError::bad_request("version is required: ?version=V.").with_field(Some("version".into()))
    })?;
    let request = PromotionRequest {
        version,
        experiment: params.experiment,
        override_reason: None,
        holdout: None,
    };
    Ok(Json(
        state
            .blocking(move |store| store.check_gate(&name, &request))
            .await?,
    ))
}

pub async fn ledger(State(state): State<AppState>, caller: Caller) -> Result<Json<Ledger>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(state.blocking(|store| store.ledger()).await?))
}

/// `?trials=K`: how many recent trials `value_saturation` looks at.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringParams {
    trials: Option<String>,
}

impl Parameters for MonitoringParams {
    const EXPECTED: &'static str = "the only parameter is trials.";
    const FIELD: &'static str = "trials";
}

/// Most recent trials `value_saturation` may be asked to look at.
const MAX_SATURATION_TRIALS: usize = 50;

/// The launch watched through its holdout, the alerts so far, and the versions' timeline
/// (`crate::monitor`); watching stores and announces any new alert.
pub async fn monitoring(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    QueryParams(params): QueryParams<MonitoringParams>,
) -> Result<Json<crate::monitor::Watched>, ApiError> {
    caller.require(Scope::Read)?;
    let window = match params.trials.as_deref() {
        None => rctgate_analysis::saturation::DEFAULT_SATURATION_TRIALS,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|k| (1..=MAX_SATURATION_TRIALS).contains(k))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "trials must be a whole number from 1 to {MAX_SATURATION_TRIALS} (the recent trials value_saturation looks at); got {text:?}."
                ))
                .with_field(Some("trials".into()))
            })?,
    };
    Ok(Json(crate::monitor::watch(&state, name, window).await?))
}
