//! Progressive delivery asks the trial: `GET /v1/experiments/{key}/rollout-check` for Argo
//! Rollouts' web metric, and Flagger's `confirm-promotion` and `rollback` webhooks
//! (`POST /v1/flagger/{hook}`).
//!
//! Both read the experiment's scorecard (cached like `/results`, the frozen one once it is
//! stopped) and reduce it to one phase: `pass` when the decision is `ship`; `fail` when it is
//! `no_ship` or `invalid`, or a guardrail is breached, whatever else the scorecard says;
//! `wait` otherwise. A controller then goes on, rolls back, or waits. Canary weights split
//! requests, not users; `docs/progressive-delivery.md` shows the sound set-up, in which
//! rctgate assigns units and the rollout only raises the experiment's coverage.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use rctgate_domain::{from_json_slice, Scope};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::{authenticate, presented_key, Caller};
use crate::error::ApiError;
use crate::request_body::RequestBody;
use crate::results::cached_results;
use crate::state::AppState;

/// What a delivery controller should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The trial says ship: promote.
    Pass,
    /// The trial says no, or cannot be trusted, or a guardrail is breached: roll back.
    Fail,
    /// Not enough evidence yet.
    Wait,
}

/// The answer of `rollout-check`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutCheck {
    pub phase: Phase,
    /// The decision's verdict (`ship`, `no_ship`, `keep_running`, `invalid`).
    pub verdict: String,
    /// The sample-ratio test's p-value; `null` before any unit is exposed.
    pub srm_p_value: Option<f64>,
    /// The guardrail metrics worse than their margin for some treatment.
    pub guardrails_breached: Vec<String>,
    /// The decision's reasons, and why the phase is `fail` when a guardrail alone made it.
    pub reasons: Vec<String>,
}

impl RolloutCheck {
    /// The check of a scorecard (SPEC §9's JSON).
    pub fn of_results(results: &Value) -> RolloutCheck {
        let verdict = results["decision"]["verdict"]
            .as_str()
            .unwrap_or("invalid")
            .to_string();
        let mut reasons: Vec<String> = results["decision"]["reasons"]
            .as_array()
            .map(|reasons| {
                reasons
                    .iter()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let guardrails_breached: Vec<String> = results["metrics"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|metric| metric["role"] == "guardrail")
            .filter(|metric| {
                metric["guardrail"]
                    .as_array()
                    .is_some_and(|checks| checks.iter().any(|check| check["breached"] == true))
            })
            .filter_map(|metric| metric["name"].as_str().map(str::to_string))
            .collect();
        let phase = match verdict.as_str() {
            "no_ship" | "invalid" => Phase::Fail,
            _ if !guardrails_breached.is_empty() => {
                reasons.push(format!(
                    "Guardrails breached: {}; a rollout does not wait for the trial's end on a breach.",
                    guardrails_breached.join(", ")
                ));
                Phase::Fail
            }
            "ship" => Phase::Pass,
            _ => Phase::Wait,
        };
        RolloutCheck {
            phase,
            verdict,
            srm_p_value: results["srm"]["p_value"].as_f64(),
            guardrails_breached,
            reasons,
        }
    }
}

/// The check of experiment `key`, from its (cached) scorecard without the daily series.
async fn check(state: &AppState, key: String) -> Result<RolloutCheck, ApiError> {
    let (body, _) = cached_results(state, key, None, false).await?;
    let results: Value = serde_json::from_str(&body).map_err(|err| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("The scorecard did not parse: {err}."),
        )
    })?;
    Ok(RolloutCheck::of_results(&results))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn card(verdict: &str, breached: bool) -> Value {
        json!({
            "srm": {"p_value": 0.42, "ok": true},
            "metrics": [
                {"name": "bookings", "role": "primary"},
                {"name": "cancellations", "role": "guardrail",
                 "guardrail": [{"variant": "treatment", "margin": 0.01, "bound": 0.02, "breached": breached}]}
            ],
            "decision": {"verdict": verdict, "reasons": ["Because."]}
        })
    }

    #[test]
    fn the_phase_follows_the_verdict_and_a_breach_fails_whatever_the_verdict() {
        let phase = |verdict, breached| RolloutCheck::of_results(&card(verdict, breached)).phase;
        assert_eq!(phase("ship", false), Phase::Pass);
        assert_eq!(phase("keep_running", false), Phase::Wait);
        assert_eq!(phase("no_ship", false), Phase::Fail);
        assert_eq!(phase("invalid", false), Phase::Fail);
        assert_eq!(phase("keep_running", true), Phase::Fail);
        let check = RolloutCheck::of_results(&card("keep_running", true));
        assert_eq!(check.guardrails_breached, ["cancellations"]);
        assert_eq!(check.srm_p_value, Some(0.42));
        assert_eq!(check.reasons.len(), 2, "{:?}", check.reasons);
    }
}
