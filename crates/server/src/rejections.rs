//! axum's own rejections are plain text: a path segment that is not UTF-8, a form or a header
//! its extractor cannot read. The API's errors are JSON (SPEC §4; OFREP's shape under
//! `/ofrep`), so this layer rewrites a plain-text client error on an API path into that body,
//! its text as the sentence. The routes' own errors are JSON already and pass untouched, as
//! does the dashboard, whose errors are pages.

use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// The longest rejection text read back (axum's are one line).
const REJECTION_BYTES: usize = 64 * 1024;

pub(crate) async fn as_json(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let ofrep = path.starts_with("/ofrep/");
    let api = ofrep || path.starts_with("/v1/") || path.starts_with("/api/");
    let response = next.run(request).await;
    let plain = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/plain"));
    if !api || !plain || !response.status().is_client_error() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = to_bytes(body, REJECTION_BYTES).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let sentence = format!("The request is invalid: {}.", text.trim().trim_end_matches('.'));
    let body = match ofrep {
        true => json!({"errorCode": "GENERAL", "errorDetails": sentence}),
        false => json!({"error": sentence}),
    };
    parts.headers.remove(CONTENT_TYPE);
    parts.headers.remove(CONTENT_LENGTH);
    let mut rewritten = (parts.status, Json(body)).into_response();
    for (name, value) in &parts.headers {
        rewritten.headers_mut().insert(name, value.clone());
    }
    rewritten
}
