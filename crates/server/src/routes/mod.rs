//! The routes, one module per resource.

mod audit;
mod backup;
mod catalog;
mod decide;
mod events;
mod experiments;
mod growthbook;
mod health;
mod keys;
mod models;
mod ofrep;
mod rollout;

pub(crate) use experiments::{start_as, stop_as};

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;

use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::prometheus))
        .route("/v1/metrics", get(catalog::list).post(catalog::upsert))
        .route(
            "/v1/experiments",
            get(experiments::list).post(experiments::create),
        )
        .route(
            "/v1/experiments/{key}",
            get(experiments::show).put(experiments::replace),
        )
        .route("/v1/experiments/{key}/start", post(experiments::start))
        .route("/v1/experiments/{key}/stop", post(experiments::stop))
        .route("/v1/experiments/{key}/results", get(crate::results::results))
        .route("/v1/experiments/{key}/rollout-check", get(rollout::rollout_check))
        .route("/v1/flagger/{hook}", post(rollout::flagger))
        .route(
            "/v1/experiments/{key}/distributions",
            get(experiments::distributions),
        )
        .route("/v1/decide", post(decide::decide))
        .route("/api/features/{client_key}", get(growthbook::features))
        .route("/ofrep/v1/evaluate/flags/{key}", post(ofrep::evaluate_one))
        .route("/ofrep/v1/evaluate/flags", post(ofrep::evaluate_all))
        .route("/v1/events", post(events::ingest))
        .route("/v1/events/summary", get(events::summary))
        .route("/v1/audit", get(audit::list))
        .route("/v1/keys", get(keys::list).post(keys::create))
        .route("/v1/keys/{id}", delete(keys::revoke))
        .route("/v1/models", get(models::list).post(models::create))
        .route("/v1/models/{name}", get(models::show))
        .route("/v1/models/{name}/versions", post(models::add_version))
        .route("/v1/models/{name}/promote", post(models::promote))
        .route("/v1/models/{name}/gate", get(models::gate))
        .route("/v1/models/{name}/monitoring", get(models::monitoring))
        .route(
            "/v1/models/{name}/overrides/{id}/approve",
            post(models::approve_override),
        )
        .route("/v1/ledger", get(models::ledger))
        .route("/v1/backup", post(backup::create))
        .merge(crate::dashboard::routes())
        .fallback(health::not_found)
        .method_not_allowed_fallback(health::method_not_allowed)
        .layer(middleware::from_fn(crate::rejections::as_json))
        .layer(middleware::from_fn_with_state(state.clone(), record))
        .with_state(state)
}

/// Counts every request by its route template (not the raw path, which would
/// make one series per experiment key) and status, with its latency.
async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let started = Instant::now();
    let response = next.run(request).await;
    state.telemetry.record_request(
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
