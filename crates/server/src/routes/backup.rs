//! `POST /v1/backup` (admin): a consistent copy of the database while the server runs (the
//! server holds the file, so `rctgate backup --db` cannot reach it; `rctgate backup --server`
//! calls this). The directory is on the server's machine.

use std::path::PathBuf;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rctgate_domain::{from_json_slice, Scope};
use rctgate_store::Backup;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::request_body::RequestBody;
use crate::state::AppState;

/// `{"to": "/absolute/directory"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupRequest {
    to: String,
}

/// 201 with the copy's path, size and event count.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    RequestBody(payload): RequestBody,
) -> Result<(StatusCode, Json<Backup>), ApiError> {
    caller.require(Scope::Admin)?;
    let request: BackupRequest = from_json_slice(&payload)?;
    let dir = PathBuf::from(request.to.trim());
    if !dir.is_absolute() {
        return Err(ApiError::bad_request(
            "to must be an absolute directory on the server's machine, e.g. /var/backups/rctgate/2026-12-07.",
        )
        .with_field(Some("to".into())));
    }
    let backup = state.blocking(move |store| store.backup(&dir)).await?;
    tracing::info!(file = %backup.file, events = backup.events, key = caller.key_id(), "database backed up");
    Ok((StatusCode::CREATED, Json(backup)))
}
