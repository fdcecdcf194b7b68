//! The store's error type, sorted by what a caller should answer.
//!
//! The server maps [`StoreError::kind`] to a status code (400, 404, 409, 500) and the CLI to
//! its exit code, without matching on every variant.

use rctgate_domain::{Refusal, ValidationError};
use rctgate_duckdb_native::NativeError;
use std::fmt;
use std::path::PathBuf;

/// What went wrong, from the caller's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is wrong (HTTP 400): fix it and retry.
    Invalid,
    /// The named thing does not exist (HTTP 404).
    NotFound,
    /// The input is fine but conflicts with the current state (HTTP 409).
    Conflict,
    /// The store failed (HTTP 500); not the caller's fault.
    Internal,
}

/// Every error the store returns.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A field is invalid.
    #[error("{0}")]
    Invalid(ValidationError),
    /// No such metric, experiment, ...
    #[error("No {what} named {name:?} exists.")]
    NotFound {
        /// What was looked for ("experiment", "metric").
        what: &'static str,
        /// The name or key looked for.
        name: String,
    },
    /// Refused by a rule: exists already, wrong lifecycle state, frozen randomization.
    #[error("{0}")]
    Conflict(Refusal),
    /// The promotion gate refused: every reason, each a sentence.
    #[error("The promotion is blocked: {}", .0.join(" "))]
    Blocked(Vec<String>),
    /// An import file is missing, malformed or holds an invalid event.
    #[error("{0}")]
    Import(ImportError),
    /// The database file was written by a newer rctgate.
    #[error(
        "The database was written by a newer rctgate (schema version {found}; this one knows up \
         to {known}); upgrade rctgate to open it."
    )]
    NewerSchema {
        /// Version in the file.
        found: u32,
        /// Newest version this binary knows.
        known: u32,
    },
    /// DuckDB failed.
    #[error("Database error: {0}")]
    Database(#[from] duckdb::Error),
    /// The database could not be opened.
    #[error("Cannot open the database: {0}")]
    Open(String),
    /// DuckDB refused to insert events (or to begin or commit their transaction).
    #[error("Cannot store events: {0}")]
    Append(String),
    /// A query through the C API (`rctgate_duckdb_native::ResultStream`) failed; DuckDB's message.
    #[error("Database error: {0}")]
    Query(String),
    /// Stored data could not be decoded (a bug or a hand-edited database).
    #[error("Stored data is corrupt: {0}")]
    Corrupt(String),
    /// File system error outside imports.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<rctgate_analysis::EngineError> for StoreError {
    fn from(err: rctgate_analysis::EngineError) -> StoreError {
        StoreError::Query(err.0)
    }
}

impl From<NativeError> for StoreError {
    fn from(err: NativeError) -> StoreError {
        match err {
            NativeError::Open(message) => StoreError::Open(message),
            NativeError::Statement(message) => StoreError::Append(message),
            NativeError::Query(message) => StoreError::Query(message),
            NativeError::NulByte(_) => StoreError::Corrupt(err.to_string()),
            NativeError::Duckdb(err) => StoreError::Database(err),
        }
    }
}

impl StoreError {
    /// How a caller should treat this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Invalid(_) | StoreError::Import(_) => ErrorKind::Invalid,
            StoreError::NotFound { .. } => ErrorKind::NotFound,
            StoreError::Conflict(_) | StoreError::Blocked(_) => ErrorKind::Conflict,
            StoreError::NewerSchema { .. }
            | StoreError::Database(_)
            | StoreError::Open(_)
            | StoreError::Append(_)
            | StoreError::Query(_)
            | StoreError::Corrupt(_)
            | StoreError::Io(_) => ErrorKind::Internal,
        }
    }

    /// The field to name in an error response, if there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            StoreError::Invalid(err) => err.field.as_deref(),
            StoreError::Import(err) => err.field.as_deref(),
            _ => None,
        }
    }

    /// The reasons of a blocked promotion (empty for other errors).
    pub fn reasons(&self) -> &[String] {
        match self {
            StoreError::Blocked(reasons) => reasons,
            _ => &[],
        }
    }

    /// A 409 with the given reason.
    pub(crate) fn conflict(reason: impl Into<String>) -> Self {
        StoreError::Conflict(Refusal::new(reason))
    }

    /// A 400 naming a field.
    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        StoreError::Invalid(ValidationError::new(field, message))
    }
}

impl From<ValidationError> for StoreError {
    fn from(err: ValidationError) -> Self {
        StoreError::Invalid(err)
    }
}

impl From<Refusal> for StoreError {
    fn from(refusal: Refusal) -> Self {
        StoreError::Conflict(refusal)
    }
}

/// An import failure, naming the file, the row (1-based data row; the line for NDJSON) and the
/// field when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    /// The file being imported.
    pub file: PathBuf,
    /// 1-based data row (header excluded), or line for NDJSON; `None` for whole-file problems.
    pub row: Option<u64>,
    /// The offending column or field.
    pub field: Option<String>,
    /// One sentence.
    pub message: String,
}

impl ImportError {
    pub(crate) fn file(file: &std::path::Path, message: impl Into<String>) -> Self {
        ImportError {
            file: file.to_path_buf(),
            row: None,
            field: None,
            message: message.into(),
        }
    }

    pub(crate) fn at_row(file: &std::path::Path, row: u64, err: ValidationError) -> Self {
        ImportError {
            file: file.to_path_buf(),
            row: Some(row),
            field: err.field,
            message: err.message,
        }
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(row) = self.row {
            write!(f, ", row {row}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ", {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ImportError {}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;
