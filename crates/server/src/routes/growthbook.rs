//! `GET /api/features/{client_key}`: the running experiments in the GrowthBook SDK's features
//! format, so that a GrowthBook SDK with `api_host` set to this server assigns units locally,
//! in the same arms as `/v1/decide` (the hashing is GrowthBook's; see `rctgate_assign`).
//!
//! The client key is an API key of scope `assign` in the path, where the SDKs put it. Such a
//! key can only assign, so it may ship in a browser bundle. Each running experiment is a
//! feature of the same key (`RunningExperiment::growthbook_feature`); an experiment under a
//! layer's global holdout is left out, because the SDK's rules cannot express the holdout's
//! second hash: decide those with `/v1/decide`. The SDK's tracking callback posts the
//! exposure to `/v1/events` (docs/growthbook-sdk.md).

use axum::extract::{Path, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rctgate_domain::Scope;
use serde_json::{json, Map, Value};

use crate::auth::{authenticate, presented_key};
use crate::error::ApiError;
use crate::state::AppState;

/// The features; a key in a header (`Authorization`, `X-API-Key`) takes precedence over the
/// path's, as for every other route.
pub async fn features(
    State(state): State<AppState>,
    Path(client_key): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = presented_key(&headers).unwrap_or(&client_key);
    authenticate(&state, Some(key))?.require(Scope::Assign)?;
    let snapshot = state.assignments.current();
    let features: Map<String, Value> = snapshot
        .all()
        .iter()
        .filter_map(|experiment| Some((experiment.key.clone(), experiment.growthbook_feature()?.clone())))
        .collect();
    let mut response = Json(json!({"status": 200, "features": features})).into_response();
    // SDKs cache on their side; a proxy must not serve another key's answer.
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    Ok(response)
}
