//! Progressive delivery asks the trial: `GET /v1/experiments/{key}/rollout-check` for Argo
//! Rollouts' web metric, and Flagger's `confirm-promotion` and `rollback` webhooks
//! (`POST /v1/flagger/{hook}`).
//!
//! Both read the experiment's scorecard (cached like `/results`, the frozen one once it is
//! stopped) and reduce it to one phase (`rctgate_analysis::rollout`): `pass`, `fail` or
//! `wait`. A controller then goes on, rolls back, or waits. Canary weights split
//! requests, not users; `docs/progressive-delivery.md` shows the sound set-up, in which
//! rctgate assigns units and the rollout only raises the experiment's coverage.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use rctgate_analysis::rollout::{Phase, RolloutCheck};
use rctgate_domain::{from_json_slice, Scope};
use serde::Deserialize;

use crate::auth::{authenticate, presented_key, Caller};
use crate::error::ApiError;
use crate::request_body::RequestBody;
use crate::results::cached_result;
use crate::state::AppState;

/// The check of experiment `key`, from its (cached) result without the daily series.
async fn check(state: &AppState, key: String) -> Result<RolloutCheck, ApiError> {
    Ok(RolloutCheck::of(&cached_result(state, key, None, false).await?))
}

/// `GET /v1/experiments/{key}/rollout-check`: always 200 with the phase in the body, so an
/// Argo Rollouts AnalysisTemplate decides with `result.phase` (errors are JSON too).
pub async fn rollout_check(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
) -> Result<Json<RolloutCheck>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(check(&state, key).await?))
}

/// What Flagger posts to a webhook.
#[derive(Debug, Deserialize)]
struct FlaggerPayload {
    name: String,
    namespace: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

/// The Flagger webhooks this server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hook {
    /// 200 lets Flagger promote the canary; anything else makes it wait.
    ConfirmPromotion,
    /// 200 makes Flagger roll the canary back; anything else lets it go on.
    Rollback,
}

/// `POST /v1/flagger/{hook}` (`confirm-promotion` or `rollback`): the trial named by
/// `metadata.experiment` answers per Flagger's contract, 200 to act and 409 (with the check)
/// not to. Flagger sends no headers of its own, so the key may come as `metadata.api_key`
/// when no `Authorization` or `X-API-Key` header carries one.
pub async fn flagger(
    State(state): State<AppState>,
    Path(hook): Path<String>,
    headers: HeaderMap,
    RequestBody(payload): RequestBody,
) -> Result<(StatusCode, Json<RolloutCheck>), ApiError> {
    let hook = match hook.as_str() {
        "confirm-promotion" => Hook::ConfirmPromotion,
        "rollback" => Hook::Rollback,
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("No Flagger webhook `{other}` here; use confirm-promotion or rollback."),
            ))
        }
    };
    let payload: FlaggerPayload = from_json_slice(&payload)?;
    let key = presented_key(&headers).or(payload.metadata.get("api_key").map(String::as_str));
    authenticate(&state, key)?.require(Scope::Read)?;
    let Some(experiment) = payload.metadata.get("experiment").filter(|key| !key.is_empty()) else {
        return Err(ApiError::bad_request(format!(
            "The canary {}.{} names no experiment: add `experiment: KEY` to the webhook's metadata.",
            payload.namespace, payload.name
        ))
        .with_field(Some("metadata.experiment".into())));
    };
    let check = check(&state, experiment.clone()).await?;
    let act = match hook {
        Hook::ConfirmPromotion => check.phase == Phase::Pass,
        Hook::Rollback => check.phase == Phase::Fail,
    };
    let status = if act { StatusCode::OK } else { StatusCode::CONFLICT };
    Ok((status, Json(check)))
}
