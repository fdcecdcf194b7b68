//! A route's query string read into its typed parameters, a malformed one answered as every
//! other error is: SPEC §4's JSON body with one sentence. axum's own `Query` answers it with a
//! plain-text 400, which clients parsing `{"error": ...}` cannot read.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Parameters of a route's query string.
pub trait Parameters: DeserializeOwned {
    /// The end of the sentence a malformed query string gets: which parameters there are.
    const EXPECTED: &'static str;
    /// The error body's `field`: the route's main parameter, which a client most likely
    /// misspelled or mistyped.
    const FIELD: &'static str;
}

/// The extractor: `QueryParams(params): QueryParams<ResultsParams>`.
pub struct QueryParams<T>(pub T);

impl<T: Parameters, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(params)) => Ok(QueryParams(params)),
            Err(err) => Err(ApiError::bad_request(format!(
                "The query string is invalid ({}); {}",
                err.body_text(),
                T::EXPECTED
            ))
            .with_field(Some(T::FIELD.to_string()))),
        }
    }
}
