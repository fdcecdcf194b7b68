//! `POST /v1/decide` (SPEC §4): which arm a unit gets in every running
//! experiment, or in the listed ones; exposures are logged unless
//! `"expose": false`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rctgate_domain::attributes::check_attributes;
use rctgate_domain::{from_json_slice, Attributes, Scope};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::assignment::exposure;
use crate::auth::Caller;
use crate::error::body;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    unit: String,
    #[serde(default)]
    attributes: Option<Attributes>,
    #[serde(default)]
    experiments: Option<Vec<String>>,
    #[serde(default = "yes")]
    expose: bool,
}

fn yes() -> bool {
    true
}

#[derive(Serialize)]
pub struct Assignment {
    experiment: String,
    variant: String,
    variant_index: usize,
    in_experiment: bool,
    payload: Value,
}

#[derive(Serialize)]
pub struct DecideResponse {
    assignments: Vec<Assignment>,
    /// Exposures queued for writing.
    exposures_queued: u64,
    /// Exposures refused because the queue was full: not logged.
    exposures_dropped: u64,
}

/// Units longer than this are refused (they could not be stored either).
const MAX_UNIT_CHARS: usize = 256;

pub async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    payload: Result<Bytes, BytesRejection>,
) -> Result<Json<DecideResponse>, ApiError> {
    caller.require(Scope::Assign)?;
    let request: DecideRequest = from_json_slice(&body(payload)?)?;
    if request.unit.is_empty() || request.unit.chars().count() > MAX_UNIT_CHARS {
        return Err(ApiError::bad_request(format!(
            "unit must be a non-empty id of at most {MAX_UNIT_CHARS} characters."
        ))
        .with_field(Some("unit".into())));
    }
    if let Some(attributes) = &request.attributes {
        check_attributes(attributes).map_err(|e| ApiError::from(e.inside("attributes")))?;
    }
    let snapshot = state.assignments.current();
    let chosen: Vec<_> = match &request.experiments {
        None => snapshot.all().iter().collect(),
        Some(keys) => keys
            .iter()
            .enumerate()
            .map(|(i, key)| {
                snapshot.get(key).ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        format!("No running experiment is named {key:?}."),
                    )
                    .with_field(Some(format!("experiments[{i}]")))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let (mut queued, mut dropped) = (0, 0);
    let mut assignments = Vec::with_capacity(chosen.len());
    for experiment in chosen {
        let decision = experiment.decide(&request.unit);
        if request.expose && decision.exposes() {
            if state
                .exposures
                .offer(exposure(&decision, &request.unit, request.attributes.as_ref()))
            {
                queued += 1;
            } else {
                dropped += 1;
            }
        }
        assignments.push(Assignment {
            experiment: decision.experiment.to_string(),
            variant: decision.variant.to_string(),
            variant_index: decision.variant_index,
            in_experiment: decision.in_experiment,
            payload: decision.payload.clone(),
        });
    }
    Ok(Json(DecideResponse {
        assignments,
        exposures_queued: queued,
        exposures_dropped: dropped,
    }))
}
