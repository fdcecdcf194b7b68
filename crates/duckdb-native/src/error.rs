//! Errors of the C API calls, sorted by what failed; the store maps each to its own error.

/// What failed in a call to DuckDB's C API.
#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    /// The database could not be opened, configured or connected to.
    #[error("{0}")]
    Open(String),
    /// A statement run with [`crate::NativeConnection::execute`] failed (BEGIN, COMMIT, an
    /// INSERT of chunks); DuckDB's message.
    #[error("{0}")]
    Statement(String),
    /// A query read with [`crate::NativeConnection::stream`] failed, or its result is not of
    /// the types asked for; DuckDB's message or ours.
    #[error("{0}")]
    Query(String),
    /// Text handed to DuckDB holds a NUL byte (a path, a setting, a name).
    #[error("{0:?} contains a NUL byte")]
    NulByte(String),
    /// A call through duckdb-rs failed.
    #[error(transparent)]
    Duckdb(#[from] duckdb::Error),
}

/// A result of this crate.
pub type NativeResult<T> = Result<T, NativeError>;
