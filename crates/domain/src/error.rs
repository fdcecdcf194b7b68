//! The one error type of validation.
//!
//! Every rule in this crate reports through [`ValidationError`] so that the HTTP layer can
//! answer `{"error": message, "field": field}` and the CLI can print one sentence naming the
//! field, without either of them knowing which rule failed.

use serde::Serialize;
use std::fmt;

/// A rejected input: which field, and one sentence saying what is wrong with it.
///
/// `field` is a path in the input document (`variants[1].weight`, `metrics.primary`), optionally
/// prefixed by a position in a batch (`line 17: ts`). It is `None` when the input as a whole is
/// unusable (for example a body that is not JSON at all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationError {
    /// Path of the offending field, if one can be named.
    pub field: Option<String>,
    /// One clear sentence for a human.
    pub message: String,
}

impl ValidationError {
    /// An error about one named field.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// An error about the input as a whole.
    pub fn general(message: impl Into<String>) -> Self {
        ValidationError {
            field: None,
            message: message.into(),
        }
    }

    /// Re-roots the error under a parent field: `weight` inside `variants[1]` becomes
    /// `variants[1].weight`. Used when a nested value is validated by its own function.
    pub fn inside(mut self, parent: &str) -> Self {
        self.field = Some(match self.field.take() {
            Some(field) if field.starts_with('[') => format!("{parent}{field}"),
            Some(field) => format!("{parent}.{field}"),
            None => parent.to_string(),
        });
        self
    }

    /// Prefixes a position in a batch, giving fields like `line 17: ts`, so one error in a
    /// batch of thousands can be found.
    pub fn at(mut self, position: &str) -> Self {
        self.field = Some(match self.field.take() {
            Some(field) => format!("{position}: {field}"),
            None => position.to_string(),
        });
        self
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ValidationError {}

/// Shorthand for results of validation.
pub type Validated<T> = Result<T, ValidationError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_builds_paths() {
        let err = ValidationError::new("weight", "must be positive").inside("variants[1]");
        assert_eq!(err.field.as_deref(), Some("variants[1].weight"));
        let err = ValidationError::new("[0]", "unknown").inside("metrics.guardrails");
        assert_eq!(err.field.as_deref(), Some("metrics.guardrails[0]"));
    }

    #[test]
    fn batch_position_prefixes_field() {
        let err = ValidationError::new("ts", "bad").at("line 17");
        assert_eq!(err.field.as_deref(), Some("line 17: ts"));
        assert_eq!(err.to_string(), "line 17: ts: bad");
        let err = ValidationError::general("not JSON").at("line 3");
        assert_eq!(err.field.as_deref(), Some("line 3"));
    }
}
