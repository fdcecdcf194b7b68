//! `POST /v1/events` and `GET /v1/events/summary` (SPEC §4, §6).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rctgate_domain::{split_event_body, BatchError, BodyPart, Scope};
use rctgate_store::{EventsSummary, IngestOutcome, PreparedEvents, Store, StoreError};
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::query_params::{Parameters, QueryParams};
use crate::request_body::RequestBody;
use crate::state::AppState;

/// A JSON array or NDJSON batch; all-or-nothing, idempotent on `id`, and
/// answered only once durable (synced in the store's ingest log).
pub async fn ingest(
    State(state): State<AppState>,
    caller: Caller,
    RequestBody(bytes): RequestBody,
) -> Result<Json<IngestOutcome>, ApiError> {
    caller.require(Scope::Ingest)?;
    let limit = state.limits.max_batch_events;
    let threads = state.limits.parse_threads;
    let telemetry = state.telemetry.clone();
    // Parsing a large batch is CPU work: keep it off the async workers too.
    let result = state
        .blocking(move |store| Ok::<_, ApiError>(ingest_body(store, &bytes, limit, threads)))
        .await?;
    match result {
        Ok(outcome) => {
            telemetry.record_events(outcome.accepted, outcome.duplicates);
            Ok(Json(outcome))
        }
        Err(rejected) => {
            telemetry.record_rejected(rejected.events);
            Err(rejected.error)
        }
    }
}

/// A refused batch, and how many of its events were parsed (0 when it is not valid JSON).
struct Rejected {
    error: ApiError,
    events: u64,
}

/// Parses and validates the body's parts on up to `threads` threads, then stores them as
/// one batch. For a 5,000-event batch parsing and validating took more time than inserting
/// and committing, and one client waits for each answer before it sends the next batch, so
/// a second core would otherwise stay idle.
fn ingest_body(store: &Store, body: &[u8], limit: usize, threads: usize) -> Result<IngestOutcome, Rejected> {
    let parts = split_event_body(body, threads);
    let prepared: Vec<Result<PreparedEvents, PartError>> = match parts.as_slice() {
        [whole] => vec![prepare(store, whole, limit)],
        _ => std::thread::scope(|scope| {
            let others: Vec<_> = parts[1..]
                .iter()
                .map(|part| scope.spawn(move || prepare(store, part, limit)))
                .collect();
            let first = prepare(store, &parts[0], limit);
            std::iter::once(first)
                .chain(others.into_iter().map(|handle| {
                    handle.join().unwrap_or_else(|_| {
                        Err(PartError::Store(
                            StoreError::Corrupt("a parser thread panicked".into()),
                            0,
                        ))
                    })
                }))
                .collect()
        }),
    };
    let parsed: usize = prepared
        .iter()
        .map(|part| match part {
            Ok(events) => events.len(),
            Err(PartError::Store(_, events)) => *events,
            Err(PartError::Batch(_)) => 0,
        })
        .sum();
    let too_many = prepared
        .iter()
        .any(|part| matches!(part, Err(PartError::Batch(BatchError::TooManyEvents { .. }))));
    if too_many || parsed > limit {
        return Err(Rejected {
            error: batch_error(BatchError::TooManyEvents { limit }),
            events: parsed as u64,
        });
    }
    let mut ready = Vec::with_capacity(prepared.len());
    for part in prepared {
        match part {
            Ok(events) => ready.push(events),
            Err(PartError::Batch(err)) => {
                return Err(Rejected {
                    error: batch_error(err),
                    events: 0,
                })
            }
            Err(PartError::Store(err, _)) => {
                return Err(Rejected {
                    error: ApiError::from(err),
                    events: parsed as u64,
                })
            }
        }
    }
    store.insert_prepared(ready).map_err(|err| Rejected {
        error: ApiError::from(err),
        events: parsed as u64,
    })
}

/// Why a part of a body was refused: it does not parse, or an event is invalid (with the
/// part's number of events).
enum PartError {
    Batch(BatchError),
    Store(StoreError, usize),
}

fn prepare(store: &Store, part: &BodyPart<'_>, limit: usize) -> Result<PreparedEvents, PartError> {
    let batch = part.parse(limit).map_err(PartError::Batch)?;
    store
        .prepare(&batch)
        .map_err(|err| PartError::Store(err, batch.len()))
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

impl Parameters for SummaryParams {
    const EXPECTED: &'static str = "the only parameter is experiment.";
    const FIELD: &'static str = "experiment";
}

pub async fn summary(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(params): QueryParams<SummaryParams>,
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
