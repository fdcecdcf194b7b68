//! JSON decoding that names the field that failed.
//!
//! serde_json alone says "invalid type ... at line 1 column 80"; users need `variants[1].weight`.
//! Decoding through `serde_path_to_error` records the path, and missing or unknown fields
//! (whose path is their parent's) get their own name appended.

use crate::error::ValidationError;
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Decodes `bytes` as a `T`, turning any failure into a [`ValidationError`] with the field path.
///
/// The plain decoder runs first: tracking the path costs several times more (it showed in the
/// profile of `POST /v1/events`), and valid input, the common case, needs no path. Only a
/// failure is decoded again with tracking, to name the field.
pub fn from_json_slice<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ValidationError> {
    serde_json::from_slice(bytes).or_else(|_| explain(serde_json::Deserializer::from_slice(bytes)))
}

/// Decodes `text` as a `T`; see [`from_json_slice`]. Text already known to be UTF-8 skips
/// the check serde_json makes of every string in bytes.
pub fn from_json_str<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, ValidationError> {
    serde_json::from_str(text).or_else(|_| explain(serde_json::Deserializer::from_str(text)))
}

/// The path-tracking decode, for the error message.
fn explain<'a, T: Deserialize<'a>, R: serde_json::de::Read<'a>>(
    mut deserializer: serde_json::Deserializer<R>,
) -> Result<T, ValidationError> {
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(path_error)?;
    deserializer.end().map_err(|err| {
        ValidationError::general(format!("trailing characters after the JSON value ({err})"))
    })?;
    Ok(value)
}

/// Decodes an already parsed JSON value as a `T`, naming the failing field.
pub fn from_json_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ValidationError> {
    serde_path_to_error::deserialize(value).map_err(path_error)
}

fn path_error<E: std::fmt::Display>(err: serde_path_to_error::Error<E>) -> ValidationError {
    let path = err.path().to_string();
    let message = err.inner().to_string();
    // serde_path_to_error writes `.` for the root and `?` where it could not tell the key.
    let path = path.trim_end_matches('?').trim_end_matches('.').to_string();
    let field = match named_field(&message) {
        // Missing and unknown fields are reported at their parent; name the field itself.
        Some(name) if !path.ends_with(name) => join(&path, name),
        _ => path,
    };
    let message = sentence(&message);
    if field.is_empty() {
        ValidationError::general(message)
    } else {
        ValidationError::new(field, message)
    }
}

/// The field named by serde's "missing field `x`" or "unknown field `x`, expected ..." messages.
fn named_field(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("unknown field `"))?;
    rest.split('`').next()
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// serde's messages are lower-case fragments; make them read as a sentence.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "Invalid JSON.".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        weight: f64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        variants: Vec<Inner>,
    }

    #[test]
    fn type_errors_name_the_nested_field() {
        let err = from_json_str::<Outer>(r#"{"name":"a","variants":[{"weight":1},{"weight":"x"}]}"#)
            .expect_err("string weight");
        assert_eq!(err.field.as_deref(), Some("variants[1].weight"));
        assert!(err.message.starts_with("Invalid type"), "{}", err.message);
    }

    #[test]
    fn missing_fields_are_named() {
        let err = from_json_str::<Outer>(r#"{"name":"a","variants":[{}]}"#).expect_err("missing");
        assert_eq!(err.field.as_deref(), Some("variants[0].weight"));
        let err = from_json_str::<Outer>(r#"{"variants":[]}"#).expect_err("missing");
        assert_eq!(err.field.as_deref(), Some("name"));
    }

    #[test]
    fn unknown_fields_are_named() {
        let err = from_json_str::<Outer>(r#"{"name":"a","variants":[],"colour":1}"#).expect_err("unknown");
        assert_eq!(err.field.as_deref(), Some("colour"));
        assert!(err.message.contains("unknown field") || err.message.contains("Unknown field"));
    }

    #[test]
    fn syntax_errors_have_no_field_or_the_nearest() {
        let err = from_json_str::<Outer>("{not json").expect_err("syntax");
        assert!(err.message.contains("line 1"), "{}", err.message);
        let err = from_json_str::<Outer>(r#"{"name":"a","variants":[]} x"#).expect_err("trailing");
        assert!(err.field.is_none());
    }
}
