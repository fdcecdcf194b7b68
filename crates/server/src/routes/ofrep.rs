//! The OpenFeature Remote Evaluation Protocol (`specs/ofrep-openapi.yaml`):
//! a running experiment is a flag whose value is the unit's variant payload,
//! `variant` its name and `reason` `SPLIT`, or control's payload with reason
//! `DEFAULT` when the unit is outside the experiment. The targeting key is
//! the unit. Evaluations log exposures like `/v1/decide` does, marked
//! `triggered` when the context carries `triggered` (true or false).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rctgate_domain::Scope;
use serde_json::{json, Map, Value};

use crate::assignment::{Decision, RunningExperiment};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::request_body::RequestBody;
use crate::state::AppState;

/// An OFREP evaluation failure: its status, error code and details.
struct Failure {
    status: StatusCode,
    code: &'static str,
    details: String,
}

impl Failure {
    fn bad_request(code: &'static str, details: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            details: details.into(),
        }
    }

    /// The body of the spec's `evaluationFailure`; `key` for single flags.
    fn respond(self, key: Option<&str>) -> Response {
        let mut body = json!({"errorCode": self.code, "errorDetails": self.details});
        if let Some(key) = key {
            body["key"] = key.into();
        }
        (self.status, Json(body)).into_response()
    }
}

/// The evaluation context and its targeting key (the unit).
fn context(payload: &[u8]) -> Result<(String, Map<String, Value>), Failure> {
    let parsed: Value = serde_json::from_slice(payload)
        .map_err(|e| Failure::bad_request("PARSE_ERROR", format!("The request is not valid JSON: {e}.")))?;
    let Some(Value::Object(context)) = parsed.get("context").cloned() else {
        return Err(Failure::bad_request(
            "INVALID_CONTEXT",
            "The request needs a `context` object.",
        ));
    };
    match context.get("targetingKey") {
        Some(Value::String(unit)) if !unit.is_empty() && unit.chars().count() <= 256 => {
            Ok((unit.clone(), context))
        }
        Some(Value::String(unit)) if !unit.is_empty() => Err(Failure::bad_request(
            "INVALID_CONTEXT",
            "context.targetingKey is longer than 256 characters.",
        )),
        _ => Err(Failure::bad_request(
            "TARGETING_KEY_MISSING",
            "context.targetingKey is required: it is the unit that is assigned.",
        )),
    }
}

/// The context's `triggered` (whether the model changed what the unit saw), when given; it
/// must be a boolean.
fn triggered(context: &Map<String, Value>) -> Result<Option<bool>, Failure> {
    match context.get("triggered") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(triggered)) => Ok(Some(*triggered)),
        Some(_) => Err(Failure::bad_request(
            "INVALID_CONTEXT",
            "context.triggered must be true or false.",
        )),
    }
}

/// Evaluates one flag for `unit`, queueing the exposure (marked `triggered` when given).
/// With `holdouts`, the layer's global holdout is exposed too (`Snapshot::holdouts_beside`).
fn evaluate(
    state: &AppState,
    experiment: &RunningExperiment,
    holdouts: &[&RunningExperiment],
    unit: &str,
    triggered: Option<bool>,
) -> Value {
    let decision = experiment.decide(unit);
    if experiment.ofrep_exposures {
        let expose = |decision: &Decision<'_>| {
            if decision.exposes() {
                // Queued, a repeat or dropped: all counted in /metrics.
                let _ = state.exposures.offer(decision, unit, None, triggered);
            }
        };
        expose(&decision);
        for holdout in holdouts {
            expose(&holdout.decide(unit));
        }
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
    RequestBody(bytes): RequestBody,
) -> Result<Response, ApiError> {
    caller.require(Scope::Assign)?;
    let (unit, triggered) = match context(&bytes).and_then(|(unit, context)| Ok((unit, triggered(&context)?)))
    {
        Ok(parsed) => parsed,
        Err(failure) => return Ok(failure.respond(Some(&key))),
    };
    let snapshot = state.assignments.current();
    let Some(experiment) = snapshot.get(&key) else {
        let details = format!("Flag '{key}' was not found: no running experiment has this key.");
        let failure = Failure {
            status: StatusCode::NOT_FOUND,
            code: "FLAG_NOT_FOUND",
            details,
        };
        return Ok(failure.respond(Some(&key)));
    };
    let holdouts = snapshot.holdouts_beside(&[experiment]);
    Ok(Json(evaluate(&state, experiment, &holdouts, &unit, triggered)).into_response())
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
    RequestBody(bytes): RequestBody,
) -> Result<Response, ApiError> {
    caller.require(Scope::Assign)?;
    let (unit, context, triggered) =
        match context(&bytes).and_then(|(unit, context)| Ok((unit, triggered(&context)?, context))) {
            Ok((unit, triggered, context)) => (unit, context, triggered),
            Err(failure) => return Ok(failure.respond(None)),
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
        .map(|e| evaluate(&state, e, &[], &unit, triggered))
        .collect();
    Ok(([(header::ETAG, etag_header)], Json(json!({ "flags": flags }))).into_response())
}
