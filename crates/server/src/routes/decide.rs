//! `POST /v1/decide` (SPEC §4): which arm a unit gets in every running
//! experiment, or in the listed ones; exposures are logged unless
//! `"expose": false`.

use std::borrow::Cow;
use std::fmt::Write;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use rctgate_domain::attributes::check_attributes;
use rctgate_domain::{from_json_slice, Attributes, Scope};
use serde::Deserialize;

use crate::assignment::{decide_each, Offered};
use crate::auth::Caller;
use crate::error::body;
use crate::{ApiError, AppState};

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
}

fn yes() -> bool {
    true
}

/// Units longer than this are refused (they could not be stored either).
const MAX_UNIT_CHARS: usize = 256;

pub async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    payload: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Assign)?;
    let body = body(payload)?;
    let request: DecideRequest = from_json_slice(&body)?;
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
    let (mut queued, mut repeated, mut dropped) = (0, 0, 0);
    // The response is assembled from each variant's pre-rendered JSON.
    let mut out = String::with_capacity(64 + chosen.iter().map(|e| e.rendered_len()).sum::<usize>());
    out.push_str("{\"assignments\":[");
    decide_each(&chosen, &request.unit, |decision| {
        if request.expose && decision.exposes() {
            match state
                .exposures
                .offer(&decision, &request.unit, request.attributes.as_ref())
            {
                Offered::Queued => queued += 1,
                Offered::Repeat => repeated += 1,
                Offered::Dropped => dropped += 1,
            }
        }
        if !out.ends_with('[') {
            out.push(',');
        }
        out.push_str(decision.rendered);
    });
    // Writing into a String cannot fail.
    let _ = write!(
        out,
        "],\"exposures_queued\":{queued},\"exposures_repeated\":{repeated},\"exposures_dropped\":{dropped}}}"
    );
    Ok(([(header::CONTENT_TYPE, "application/json")], out).into_response())
}
