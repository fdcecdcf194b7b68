//! `POST /v1/decide` (SPEC §4): which arm a unit gets in every running
//! experiment, or in the listed ones; exposures are logged unless
//! `"expose": false`, marked `triggered` when the request says so.

use std::borrow::Cow;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use rctgate_domain::attributes::check_attributes;
use rctgate_domain::{from_json_slice, Attributes, Scope};
use serde::Deserialize;

use crate::assignment::{decide_each, Decision, Offered};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::request_body::RequestBody;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest<'a> {
    /// Borrowed from the body unless it has escapes.
    #[serde(borrow)]
    unit: Cow<'a, str>,
    #[serde(default)]
    attributes: Option<Attributes>,
    #[serde(default)]
    experiments: Option<Vec<String>>,
    #[serde(default = "yes")]
    expose: bool,
    /// Whether the model changed what this unit saw (triggered analysis); logged on the
    /// exposures this decision writes. A later exposure with `true` marks the unit.
    #[serde(default)]
    triggered: Option<bool>,
}

fn yes() -> bool {
    true
}

/// Bytes of the response around its assignments: `{"assignments":[` and the three counts,
/// each at most 20 digits, so the response `String` is allocated once.
const FRAME_BYTES: usize = 160;

/// Units longer than this are refused (they could not be stored either).
const MAX_UNIT_CHARS: usize = 256;

pub async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    caller.require(Scope::Assign)?;
    let request: DecideRequest = from_json_slice(&body)?;
    // A unit of at most MAX_UNIT_CHARS bytes has at most as many characters: only longer
    // ones are counted.
    let unit = &request.unit;
    if unit.is_empty() || (unit.len() > MAX_UNIT_CHARS && unit.chars().count() > MAX_UNIT_CHARS) {
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
    let (mut queued, mut repeated, mut dropped) = (0u64, 0u64, 0u64);
    // The response is assembled from each variant's pre-rendered JSON.
    let mut out = String::with_capacity(FRAME_BYTES + chosen.iter().map(|e| e.rendered_len()).sum::<usize>());
    out.push_str("{\"assignments\":[");
    let mut expose = |decision: &Decision<'_>| {
        if request.expose && decision.exposes() {
            match state
                .exposures
                .offer(decision, unit, request.attributes.as_ref(), request.triggered)
            {
                Offered::Queued => queued += 1,
                Offered::Repeat => repeated += 1,
                Offered::Dropped => dropped += 1,
            }
        }
    };
    decide_each(&chosen, unit, |decision| {
        expose(&decision);
        if !out.ends_with('[') {
            out.push(',');
        }
        out.push_str(decision.rendered);
    });
    // Exposed, not answered: the layers' holdouts the request did not ask for.
    for holdout in snapshot.holdouts_beside(&chosen) {
        expose(&holdout.decide(unit));
    }
    // The counts are written with `itoa`: `write!` through `core::fmt` was 700 of the ~28,000
    // user-space instructions a decision took (callgrind).
    let mut digits = itoa::Buffer::new();
    out.push_str("],\"exposures_queued\":");
    out.push_str(digits.format(queued));
    out.push_str(",\"exposures_repeated\":");
    out.push_str(digits.format(repeated));
    out.push_str(",\"exposures_dropped\":");
    out.push_str(digits.format(dropped));
    out.push('}');
    Ok(([(header::CONTENT_TYPE, "application/json")], out).into_response())
}
