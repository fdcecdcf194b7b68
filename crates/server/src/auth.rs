//! API keys: `Authorization: Bearer KEY` or `X-API-Key: KEY` (SPEC §4).
//!
//! A missing or unknown key is 401; a known key without the needed scope is
//! 403. The key itself is never logged; only its public id travels on (into
//! the audit log).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use rctgate_domain::Scope;
use rctgate_store::KeyIdentity;

use crate::{ApiError, AppState};

/// The authenticated caller of a request (shared with the store's key cache).
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<KeyIdentity>);

impl Caller {
    /// 403 unless the caller's scope includes `scope`.
    pub fn require(&self, scope: Scope) -> Result<&Self, ApiError> {
        if self.0.scope.allows(scope) {
            Ok(self)
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "This key has scope `{}`; this request needs scope `{}`.",
                    self.0.scope.as_str(),
                    scope.as_str()
                ),
            ))
        }
    }

    /// The public key id, for the audit log.
    pub fn key_id(&self) -> &str {
        &self.0.key_id
    }
}

fn presented_key(parts: &Parts) -> Option<&str> {
    let headers = &parts.headers;
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        let text = value.to_str().ok()?;
        let (scheme, key) = text.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| key.trim());
    }
    headers.get("x-api-key")?.to_str().ok().map(str::trim)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let unauthorized = |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, message);
        let key = presented_key(parts).filter(|k| !k.is_empty()).ok_or_else(|| {
            unauthorized("An API key is required: send `Authorization: Bearer KEY` or `X-API-Key: KEY`.")
        })?;
        state
            .store
            .authenticate(key)
            .map(Caller)
            .ok_or_else(|| unauthorized("The API key is not valid."))
    }
}
