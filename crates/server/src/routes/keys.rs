//! `/v1/keys` (admin): create, list and revoke API keys while the server runs (the file is
//! locked by the server, so `rctgate keys ... --db` cannot reach it). A new key's plaintext is
//! in its creation response only; the store keeps its hash, and the audit log its public id.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use rctgate_domain::{from_json_slice, KeyRequest, Scope};
use rctgate_store::{KeyInfo, NewKey};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::request_body::RequestBody;
use crate::state::AppState;

/// `{"scopes": ["assign", "ingest"], "name": "...", "expires_in": "90d"}`: 201 with the key.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    RequestBody(payload): RequestBody,
) -> Result<(StatusCode, Json<NewKey>), ApiError> {
    caller.require(Scope::Admin)?;
    let spec = from_json_slice::<KeyRequest>(&payload)?.validate()?;
    let key_id = caller.key_id().to_string();
    let key = state
        .blocking(move |store| store.create_key(&spec, &key_id))
        .await?;
    Ok((StatusCode::CREATED, Json(key)))
}

/// Every key, without secrets: id, name, scopes, status, created, expires, last used.
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<KeyInfo>>, ApiError> {
    caller.require(Scope::Admin)?;
    Ok(Json(state.blocking(|store| store.list_keys()).await?))
}

/// Revokes a key: its next request, and every dashboard session opened with it, gets 401.
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<KeyInfo>, ApiError> {
    caller.require(Scope::Admin)?;
    let key_id = caller.key_id().to_string();
    Ok(Json(
        state
            .blocking(move |store| store.revoke_key(&id, &key_id))
            .await?,
    ))
}
