//! SPEC §4 error bodies: `{"error": "one sentence", "field": "name"?}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rctgate_store::{ErrorKind, StoreError};
use serde::Serialize;

#[derive(Debug, Serialize)]
struct Body<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    /// Every reason, for a refusal that has several (a blocked promotion).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    reasons: &'a [String],
}

/// An error answer: a status, one sentence, and the field at fault if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub field: Option<String>,
    pub reasons: Vec<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            field: None,
            reasons: Vec::new(),
        }
    }

    pub fn with_field(mut self, field: Option<String>) -> Self {
        self.field = field.filter(|f| !f.is_empty());
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        let status = match err.kind() {
            ErrorKind::Invalid => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Internal => {
                tracing::error!(error = %err, "store failure");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let field = err.field().map(str::to_string);
        let mut error = ApiError::new(status, err.to_string()).with_field(field);
        error.reasons = err.reasons().to_vec();
        error
    }
}

impl From<rctgate_domain::ValidationError> for ApiError {
    fn from(err: rctgate_domain::ValidationError) -> Self {
        let field = err.field.clone();
        ApiError::bad_request(err.to_string()).with_field(field)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: &self.message,
            field: self.field.as_deref(),
            reasons: &self.reasons,
        };
        (self.status, Json(body)).into_response()
    }
}
