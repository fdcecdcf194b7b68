//! Liveness, Prometheus metrics, and the JSON 404 for unknown paths.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

use crate::error::ApiError;
use crate::state::AppState;

/// Liveness: touches no database, so it answers while the store is busy.
pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn prometheus(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state
            .telemetry
            .render(&state.exposures, state.store.events_pending()),
    )
}

pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "No such endpoint; see SPEC §4 for the API.",
    )
}

/// A path that exists, asked with a method it does not take (axum's own 405 has no body).
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "This endpoint does not take that method; see SPEC §4 for the API.",
    )
}
