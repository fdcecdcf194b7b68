//! [`RequestBody`]: a whole request body, at most `Limits::max_body_bytes` long.
//!
//! Every handler that takes a body takes it through this extractor, so the limit and the
//! error sentences live in one place. It reads hyper's body frames itself instead of using
//! axum's `Bytes` extractor: that one wraps the body in a length limiter and an error mapper
//! and gathers the frames in a queue even when, as for nearly every API request, the whole
//! body is one frame. Here one frame is handed on as it came (no copy, no allocation), and a
//! body that says up front it is too long is refused before any of it is read.

use std::future::poll_fn;
use std::pin::Pin;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use http_body::Body as _;

use crate::error::ApiError;
use crate::state::AppState;

/// The request's body, read whole.
pub struct RequestBody(pub Bytes);

impl FromRequest<AppState> for RequestBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        read_whole(request.into_body(), state.limits.max_body_bytes)
            .await
            .map(RequestBody)
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "The request body is larger than this server accepts; send smaller batches.",
    )
}

/// Reads `body` to its end; 413 as soon as it is known to pass `limit` bytes.
async fn read_whole(mut body: Body, limit: usize) -> Result<Bytes, ApiError> {
    // `Content-Length` (hyper's size hint) refuses an oversized body before reading it, and
    // sizes the copy a body of several frames is gathered in (one allocation, not a doubling
    // series, for a large `POST /v1/events`).
    let announced = body.size_hint().lower();
    if announced > limit as u64 {
        return Err(too_large());
    }
    // The first frame is kept as it came; a second one starts a copy that gathers the rest.
    let mut first = Bytes::new();
    let mut joined: Option<Vec<u8>> = None;
    let mut length = 0;
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame
            .map_err(|err| ApiError::bad_request(format!("The request body could not be read: {err}.")))?;
        // Trailers carry nothing an API request needs.
        let Ok(data) = frame.into_data() else { continue };
        length += data.len();
        if length > limit {
            return Err(too_large());
        }
        match &mut joined {
            Some(joined) => joined.extend_from_slice(&data),
            None if first.is_empty() => first = data,
            None => {
                let mut both = Vec::with_capacity(length.max(announced as usize));
                both.extend_from_slice(&first);
                both.extend_from_slice(&data);
                joined = Some(both);
            }
        }
    }
    Ok(joined.map_or(first, Bytes::from))
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::task::{Context, Poll};

    use http_body::Frame;

    use super::*;

    /// A body sent as the given chunks, one frame each (as a chunked upload arrives).
    struct Chunks(VecDeque<&'static str>);

    impl http_body::Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(
                self.0
                    .pop_front()
                    .map(|c| Ok(Frame::data(Bytes::from_static(c.as_bytes())))),
            )
        }
    }

    async fn read(chunks: &[&'static str], limit: usize) -> Result<Bytes, ApiError> {
        read_whole(Body::new(Chunks(chunks.iter().copied().collect())), limit).await
    }

    #[tokio::test]
    async fn joins_every_frame_in_order() {
        assert_eq!(read(&[], 10).await.unwrap(), "");
        assert_eq!(read(&["{\"unit\": 1}"], 64).await.unwrap(), "{\"unit\": 1}");
        assert_eq!(read(&["ab", "", "cd", "e"], 5).await.unwrap(), "abcde");
    }

    #[tokio::test]
    async fn refuses_past_the_limit_whether_announced_or_streamed() {
        let streamed = read(&["abc", "def"], 5).await.unwrap_err();
        assert_eq!(streamed.status, StatusCode::PAYLOAD_TOO_LARGE);
        let announced = read_whole(Body::from("abcdef"), 5).await.unwrap_err();
        assert_eq!(announced.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(read_whole(Body::from("abcde"), 5).await.unwrap(), "abcde");
    }
}
