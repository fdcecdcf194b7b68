//! `POST /v1/keys` (admin): a new API key while the server runs (the file is locked by the
//! server, so `rctgate keys create --db` cannot reach it). The plaintext is in this one
//! response only; the store keeps its hash, and the audit log its public id.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rctgate_domain::{from_json_slice, Scope};
use rctgate_store::NewKey;
use serde::Deserialize;

use crate::auth::Caller;
use crate::request_body::RequestBody;
use crate::{ApiError, AppState};

/// `{"scope": "assign" | "ingest" | "read" | "admin"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKeyRequest {
    scope: Scope,
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    RequestBody(payload): RequestBody,
) -> Result<(StatusCode, Json<NewKey>), ApiError> {
    caller.require(Scope::Admin)?;
    let request: NewKeyRequest = from_json_slice(&payload)?;
    let key_id = caller.key_id().to_string();
    let key = state
        .blocking(move |store| store.create_key(request.scope, &key_id))
        .await?;
    Ok((StatusCode::CREATED, Json(key)))
}
