//! `GET /v1/experiments/{key}/results`: the scorecard (SPEC §9), cached.
//!
//! A scorecard scans every event of the experiment, so it is cached per experiment (and
//! segment) and served again while nothing changed: each entry remembers the store's
//! [`data_generation`](rctgate_store::Store::data_generation) it was computed at, and any
//! commit of events or metadata makes it stale. Metric events name no experiment, so any new
//! event invalidates every entry; that is conservative, never stale. Entries also expire
//! after [`MAX_AGE`], because "days running" moves with the clock. Requests that miss
//! together wait for one analysis ([`crate::results_cache::ResultsCache::flight`]). A
//! stopped experiment answers its frozen scorecard (segments are still computed, over its
//! final window).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rctgate_analysis::FrozenResult;
use rctgate_domain::Scope;
use rctgate_store::AnalyzeOptions;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::query_params::{Parameters, QueryParams};
use crate::state::AppState;

/// `?segment=ATTRIBUTE&series=false`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultsParams {
    segment: Option<String>,
    /// The daily cumulative series of the primary metric; on by default.
    series: Option<bool>,
}

impl Parameters for ResultsParams {
    const EXPECTED: &'static str =
        "the parameters are segment (an exposure attribute) and series (true or false).";
    const FIELD: &'static str = "segment";
}

/// The results JSON of experiment `key`, from the cache when nothing changed since it was
/// computed; also whether it was a cache `"hit"` or `"miss"`. The dashboard reads through
/// here too, so its pages cost no more analyses than the API.
pub async fn cached_results(
    state: &AppState,
    key: String,
    segment: Option<String>,
    series: bool,
) -> Result<(Arc<String>, &'static str), ApiError> {
    let cache_key = (key.clone(), segment.clone(), series);
    // Read before computing: a commit during the computation leaves the entry stale.
    let generation = state.store.data_generation();
    if let Some(body) = state.results.get(&cache_key, generation) {
        return Ok((body, "hit"));
    }
    let flight = state.results.flight(&cache_key);
    let _turn = flight.lock().await;
    // The request that had the turn before this one may have computed it since this one
    // arrived: then it holds every event this request could have seen, even if more came
    // while it waited (under steady ingest, waiting requests would otherwise run one after
    // another).
    if let Some(body) = state.results.get_since(&cache_key, generation) {
        return Ok((body, "hit"));
    }
    let generation = state.store.data_generation();
    let analysed = key.clone();
    let body = state
        .blocking(move |store| {
            let options = AnalyzeOptions {
                segment: segment.as_deref(),
                series,
                // The server analyses the same running trials again and again.
                kept: rctgate_store::KeptUnits::Keep,
            };
            store.results(&analysed, &options).map(|value| value.to_string())
        })
        .await?;
    // The trial's unit rows, kept for its next analyses if this request found none
    // (computing them costs about a scorecard, so not on this request).
    crate::kept_rows::keep(state, key, rctgate_store::KeepRows::Missing);
    let body = Arc::new(body);
    state.results.put(cache_key, generation, Arc::clone(&body));
    Ok((body, "miss"))
}

/// [`cached_results`] read as the typed result (a scorecard, or a stopped trial's reason it
/// could not be computed), for the server's own readers: the dashboard, the rollout check.
pub async fn cached_result(
    state: &AppState,
    key: String,
    segment: Option<String>,
    series: bool,
) -> Result<FrozenResult, ApiError> {
    let (body, _) = cached_results(state, key, segment, series).await?;
    serde_json::from_str(&body).map_err(|err| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("The scorecard could not be read: {err}."),
        )
    })
}

pub async fn results(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    QueryParams(params): QueryParams<ResultsParams>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Read)?;
    let segment = params.segment.filter(|s| !s.is_empty());
    let series = params.series.unwrap_or(true);
    let (body, cache) = cached_results(&state, key, segment, series).await?;
    let mut response = (*body).clone().into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    headers.insert("x-rctgate-cache", HeaderValue::from_static(cache));
    Ok(response)
}
