//! `POST /v1/events` and `GET /v1/events/summary` (SPEC §4, §6).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use rctgate_domain::{parse_event_batch, BatchError, Scope};
use rctgate_store::{EventsSummary, IngestOutcome};
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::body;
use crate::{ApiError, AppState};

/// A JSON array or NDJSON batch; all-or-nothing, idempotent on `id`, and
/// answered only once durably committed.
pub async fn ingest(
    State(state): State<AppState>,
    caller: Caller,
    payload: Result<Bytes, BytesRejection>,
) -> Result<Json<IngestOutcome>, ApiError> {
    caller.require(Scope::Ingest)?;
    let bytes = body(payload)?;
    let limit = state.limits.max_batch_events;
    let telemetry = state.telemetry.clone();
    // Parsing a large batch is CPU work: keep it off the async workers too.
    let result = state
        .blocking(move |store| {
            let outcome = match parse_event_batch(&bytes, limit) {
                Ok(batch) => {
                    let events = batch.len() as u64;
                    store.ingest(batch).map_err(|e| (ApiError::from(e), events))
                }
                Err(e) => Err((batch_error(e), 0)),
            };
            Ok::<_, ApiError>(outcome)
        })
        .await?;
    match result {
        Ok(outcome) => {
            telemetry.record_events(outcome.accepted, outcome.duplicates);
            Ok(Json(outcome))
        }
        Err((err, events)) => {
            telemetry.record_rejected(events);
            Err(err)
        }
    }
}

fn batch_error(err: BatchError) -> ApiError {
    match err {
        BatchError::Invalid(invalid) => ApiError::from(invalid),
        too_many @ BatchError::TooManyEvents { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, too_many.to_string())
                .with_field(Some("events".into()))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryParams {
    experiment: Option<String>,
}

pub async fn summary(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<SummaryParams>,
) -> Result<Json<EventsSummary>, ApiError> {
    caller.require(Scope::Read)?;
    let key = params.experiment.filter(|k| !k.is_empty()).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "experiment is required: ?experiment=KEY.",
        )
        .with_field(Some("experiment".into()))
    })?;
    Ok(Json(
        state.blocking(move |store| store.events_summary(&key)).await?,
    ))
}
