//! The OpenFeature Remote Evaluation Protocol (`specs/ofrep-openapi.yaml`):
//! a running experiment is a flag whose value is the unit's variant payload,
//! `variant` its name and `reason` `SPLIT`, or control's payload with reason
//! `DEFAULT` when the unit is outside the experiment. The targeting key is
//! the unit. Evaluations log exposures like `/v1/decide` does.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rctgate_domain::Scope;
use serde_json::{json, Map, Value};

use crate::assignment::{exposure, RunningExperiment};
use crate::auth::Caller;
use crate::error::body;
use crate::{ApiError, AppState};

/// An OFREP evaluation failure body.
fn failure(status: StatusCode, key: Option<&str>, code: &str, details: String) -> Response {
    let mut body = json!({"errorCode": code, "errorDetails": details});
    if let Some(key) = key {
        body["key"] = key.into();
    }
    (status, Json(body)).into_response()
}

/// The evaluation context and its targeting key, or the OFREP error.
fn context(payload: &[u8], key: Option<&str>) -> Result<(String, Map<String, Value>), Response> {
    let parsed: Value = serde_json::from_slice(payload).map_err(|e| {
        failure(
            StatusCode::BAD_REQUEST,
            key,
            "PARSE_ERROR",
            format!("The request is not valid JSON: {e}."),
        )
    })?;
    let Some(Value::Object(context)) = parsed.get("context").cloned() else {
        return Err(failure(
            StatusCode::BAD_REQUEST,
            key,
            "INVALID_CONTEXT",
            "The request needs a `context` object.".into(),
        ));
    };
    match context.get("targetingKey") {
        Some(Value::String(unit)) if !unit.is_empty() && unit.chars().count() <= 256 => {
            Ok((unit.clone(), context))
        }
        Some(Value::String(unit)) if !unit.is_empty() => Err(failure(
            StatusCode::BAD_REQUEST,
            key,
            "INVALID_CONTEXT",
            "context.targetingKey is longer than 256 characters.".into(),
        )),
        _ => Err(failure(
            StatusCode::BAD_REQUEST,
            key,
            "TARGETING_KEY_MISSING",
            "context.targetingKey is required: it is the unit that is assigned.".into(),
        )),
    }
}

/// Evaluates one flag for `unit`, queueing the exposure.
fn evaluate(state: &AppState, experiment: &RunningExperiment, unit: &str) -> Value {
    let decision = experiment.decide(unit);
    if decision.in_experiment {
        state.exposures.offer(exposure(&decision, unit, None));
    }
    json!({
        "key": decision.experiment,
        "value": decision.payload,
        "reason": if decision.in_experiment { "SPLIT" } else { "DEFAULT" },
        "variant": decision.variant,
        "metadata": {"experiment": decision.experiment, "variant_index": decision.variant_index},
    })
}

pub async fn evaluate_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    payload: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Assign)?;
    let bytes = body(payload)?;
    let (unit, _) = match context(&bytes, Some(&key)) {
        Ok(parsed) => parsed,
        Err(response) => return Ok(response),
    };
    let snapshot = state.assignments.current();
    let Some(experiment) = snapshot.get(&key) else {
        let details = format!("Flag '{key}' was not found: no running experiment has this key.");
        return Ok(failure(
            StatusCode::NOT_FOUND,
            Some(&key),
            "FLAG_NOT_FOUND",
            details,
        ));
    };
    Ok(Json(evaluate(&state, experiment, &unit)).into_response())
}

/// Random per process, so ETags never repeat across restarts.
fn process_nonce() -> u64 {
    static NONCE: OnceLock<u64> = OnceLock::new();
    *NONCE.get_or_init(rand::random)
}

pub async fn evaluate_all(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    payload: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Assign)?;
    let bytes = body(payload)?;
    let (unit, context) = match context(&bytes, None) {
        Ok(parsed) => parsed,
        Err(response) => return Ok(response),
    };
    let snapshot = state.assignments.current();
    // The flags for a context change only when the running experiments do.
    let mut hasher = DefaultHasher::new();
    (
        process_nonce(),
        snapshot.generation,
        &unit,
        Value::Object(context).to_string(),
    )
        .hash(&mut hasher);
    let etag = format!("\"{:016x}\"", hasher.finish());
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let etag_header =
        HeaderValue::from_str(&etag).map_err(|_| ApiError::internal("could not build the ETag"))?;
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag_header)]).into_response());
    }
    let flags: Vec<Value> = snapshot
        .all()
        .iter()
        .map(|e| evaluate(&state, e, &unit))
        .collect();
    Ok(([(header::ETAG, etag_header)], Json(json!({ "flags": flags }))).into_response())
}
