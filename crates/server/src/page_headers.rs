//! The dashboard's response headers: a strict Content-Security-Policy and its companions.
//!
//! The pages are server-rendered HTML with no script at all, one inline style sheet and
//! inline SVG charts; everything a user wrote (names, hypotheses, descriptions) is escaped by
//! maud. The policy says as much to the browser, so that if an escape were ever missed,
//! injected markup could still run nothing, load nothing and send no form elsewhere:
//! no source is allowed by default, the one style sheet is allowed by its SHA-256 (not
//! `'unsafe-inline'`), forms post only to this origin, and no other site may frame a page.

use std::sync::LazyLock;

use axum::http::header::{CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};
use axum::http::HeaderValue;
use axum::response::Response;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The policy, with the hash of the pages' style sheet (`rctgate_report::render::STYLE`).
static POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash =
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(rctgate_report::render::STYLE));
    let policy = format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src 'self' data:; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    // Base64 and the fixed text are visible ASCII: a valid header value.
    HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
});

/// Adds the headers to a dashboard response (`axum::middleware::map_response`).
pub(crate) async fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, POLICY.clone());
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}
