//! `GET /v1/audit`: the append-only audit log, newest first (admin).

use axum::extract::State;
use axum::Json;
use rctgate_domain::Scope;
use rctgate_store::AuditEntry;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::query_params::{Parameters, QueryParams};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// At most this many entries (default 100, at most 10,000).
    limit: Option<usize>,
}

impl Parameters for Params {
    const EXPECTED: &'static str = "the only parameter is limit.";
    const FIELD: &'static str = "limit";
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(params): QueryParams<Params>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    caller.require(Scope::Admin)?;
    let limit = params.limit.unwrap_or(100);
    if limit == 0 || limit > 10_000 {
        return Err(
            ApiError::bad_request("limit must be between 1 and 10000.").with_field(Some("limit".into()))
        );
    }
    Ok(Json(state.blocking(move |store| store.list_audit(limit)).await?))
}
