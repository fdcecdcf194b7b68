//! `GET/POST /v1/metrics`: the metric catalog (SPEC §7).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rctgate_domain::{from_json_slice, Metric, Scope};
use rctgate_store::Upserted;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::request_body::RequestBody;
use crate::state::AppState;

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<Metric>>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(state.blocking(|store| store.list_metrics()).await?))
}

/// Creates a metric or replaces the one of that name: 201 when created.
pub async fn upsert(
    State(state): State<AppState>,
    caller: Caller,
    RequestBody(payload): RequestBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Scope::Experiment)?;
    let metric: Metric = from_json_slice(&payload)?;
    let key_id = caller.key_id().to_string();
    let stored = metric.clone();
    let outcome = state
        .blocking(move |store| store.upsert_metric(&stored, &key_id))
        .await?;
    let status = if outcome == Upserted::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({"metric": metric, "outcome": outcome}))))
}
