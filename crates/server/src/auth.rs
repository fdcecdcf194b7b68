//! API keys: `Authorization: Bearer KEY` or `X-API-Key: KEY` (SPEC §4).
//!
//! A missing, unknown, revoked or expired key is 401 (the sentence says which); a valid key
//! without the needed scope is 403. The key itself is never logged; only its public id
//! travels on (into the audit log).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use rctgate_domain::Scope;
use rctgate_store::KeyIdentity;

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller of a request (shared with the store's key cache).
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<KeyIdentity>);

impl Caller {
    /// 403 unless the caller's scopes grant `scope`.
    pub fn require(&self, scope: Scope) -> Result<&Self, ApiError> {
        if self.0.allows(scope) {
            Ok(self)
        } else {
            Err(forbidden(&self.0, scope))
        }
    }

    /// The public key id, for the audit log.
    pub fn key_id(&self) -> &str {
        &self.0.key_id
    }
}

/// The key in `Authorization: Bearer KEY` (the scheme in any case) or `X-API-Key: KEY`,
/// without surrounding blanks. Works on bytes: a key is ASCII, and `HeaderValue::to_str`'s
/// visible-ASCII scan of the whole header was a measurable part of a `/v1/decide`.
pub fn presented_key(headers: &axum::http::HeaderMap) -> Option<&str> {
    let key = match headers.get(axum::http::header::AUTHORIZATION) {
        Some(value) => {
            let (scheme, rest) = value.as_bytes().split_at_checked(BEARER.len())?;
            if !scheme.eq_ignore_ascii_case(BEARER) {
                return None;
            }
            rest
        }
        None => headers.get("x-api-key")?.as_bytes(),
    };
    std::str::from_utf8(key.trim_ascii()).ok()
}

const BEARER: &[u8] = b"bearer ";

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(state, presented_key(&parts.headers))
    }
}

/// The caller holding `key`; 401 when there is none or it is not a valid key.
pub fn authenticate(state: &AppState, key: Option<&str>) -> Result<Caller, ApiError> {
    let unauthorized = |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, message);
    let key = key.filter(|k| !k.is_empty()).ok_or_else(|| {
        unauthorized("An API key is required: send `Authorization: Bearer KEY` or `X-API-Key: KEY`.")
    })?;
    state
        .store
        .authenticate(key)
        .map(Caller)
        .map_err(|rejection| unauthorized(&rejection.to_string()))
}

/// The 403 for a key whose scopes do not grant `scope`.
pub fn forbidden(identity: &KeyIdentity, scope: Scope) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        format!(
            "This key has scope `{}`; this request needs scope `{}`.",
            identity.scopes,
            scope.as_str()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_from(header: &str, value: &str) -> Option<String> {
        let request = axum::http::Request::builder()
            .header(header, value)
            .body(())
            .expect("request");
        presented_key(&request.into_parts().0.headers).map(str::to_string)
    }

    #[test]
    fn reads_the_key_from_either_header() {
        assert_eq!(
            key_from("Authorization", "Bearer rctg_a_b").as_deref(),
            Some("rctg_a_b")
        );
        assert_eq!(
            key_from("authorization", "bEaReR   rctg_a_b  ").as_deref(),
            Some("rctg_a_b")
        );
        assert_eq!(key_from("X-API-Key", " rctg_a_b ").as_deref(), Some("rctg_a_b"));
        assert_eq!(key_from("Authorization", "Basic cmN0Zw=="), None);
        assert_eq!(key_from("Authorization", "Bearer"), None);
        assert_eq!(key_from("Authorization", "Bearerrctg_a_b"), None);
        assert_eq!(key_from("Authorization", "Bearer ").as_deref(), Some(""));
        assert_eq!(key_from("Accept", "*/*"), None);
    }
}
