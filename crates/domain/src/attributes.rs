//! Event attributes: a flat object of string, number and boolean values.
//!
//! Attributes feed segment analysis (device, country, ...). They are kept flat and bounded so
//! that one client cannot blow up storage or segment cardinality with nested documents.

use crate::error::ValidationError;
use crate::names::check_length;
use serde_json::{Map, Value};

/// Attributes as received: a JSON object whose values are strings, numbers or booleans.
pub type Attributes = Map<String, Value>;

/// Most attributes on one event.
pub const MAX_ATTRIBUTES: usize = 64;
/// Longest attribute name, in characters.
pub const MAX_ATTRIBUTE_NAME_CHARS: usize = 128;
/// Longest string attribute value, in characters.
pub const MAX_ATTRIBUTE_VALUE_CHARS: usize = 1024;

/// One attribute value, borrowed: what every input path reduces attributes to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttributeValue<'a> {
    /// A string.
    Text(&'a str),
    /// A floating-point number (must be finite).
    Number(f64),
    /// An integer.
    Integer(i64),
    /// A boolean.
    Bool(bool),
}

impl AttributeValue<'_> {
    /// The value as JSON; `None` for a number that is not finite, which JSON cannot hold.
    pub fn to_json(self) -> Option<Value> {
        Some(match self {
            AttributeValue::Text(text) => Value::String(text.to_string()),
            AttributeValue::Bool(flag) => Value::Bool(flag),
            AttributeValue::Integer(number) => Value::from(number),
            AttributeValue::Number(number) => Value::Number(serde_json::Number::from_f64(number)?),
        })
    }
}

/// Checks count, names and value types and lengths; fields are named `attributes.NAME`.
pub fn check_attributes(attributes: &Attributes) -> Result<(), ValidationError> {
    check_attribute_list(
        attributes
            .iter()
            .map(|(name, value)| (name.as_str(), scalar(value))),
    )
}

/// A JSON value as an attribute value; `None` for null, arrays and objects, which are refused.
pub fn scalar(value: &Value) -> Option<AttributeValue<'_>> {
    match value {
        Value::String(text) => Some(AttributeValue::Text(text)),
        Value::Bool(flag) => Some(AttributeValue::Bool(*flag)),
        Value::Number(number) => Some(match number.as_i64() {
            Some(integer) => AttributeValue::Integer(integer),
            // serde_json numbers are finite; an out-of-range one reads as NaN and fails.
            None => AttributeValue::Number(number.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// The checks of [`check_attributes`] on attributes however they were read: `None` stands
/// for a value that is not a string, number or boolean.
pub fn check_attribute_list<'a>(
    attributes: impl Iterator<Item = (&'a str, Option<AttributeValue<'a>>)>,
) -> Result<(), ValidationError> {
    let mut count = 0;
    for (name, value) in attributes {
        let Some(value) = value else {
            return Err(ValidationError::new(
                format!("attributes.{name}"),
                "Attribute values must be a string, a number or a boolean.",
            ));
        };
        check_attribute(name, value)?;
        count += 1;
    }
    check_attribute_count(count)
}

/// Checks the number of attributes of one event.
pub fn check_attribute_count(count: usize) -> Result<(), ValidationError> {
    if count > MAX_ATTRIBUTES {
        return Err(ValidationError::new(
            "attributes",
            format!("Has {count} entries; at most {MAX_ATTRIBUTES} are allowed."),
        ));
    }
    Ok(())
}

/// Checks one attribute's name and value.
pub fn check_attribute(name: &str, value: AttributeValue<'_>) -> Result<(), ValidationError> {
    // Built only on failure: this runs for every imported row.
    let field = || format!("attributes.{name}");
    if name.is_empty() {
        return Err(ValidationError::new(
            field(),
            "Attribute names must not be empty.",
        ));
    }
    if name.len() > MAX_ATTRIBUTE_NAME_CHARS {
        check_length(&field(), name, MAX_ATTRIBUTE_NAME_CHARS)?;
    }
    match value {
        AttributeValue::Text(text) if text.len() > MAX_ATTRIBUTE_VALUE_CHARS => {
            check_length(&field(), text, MAX_ATTRIBUTE_VALUE_CHARS)
        }
        AttributeValue::Number(number) if !number.is_finite() => {
            Err(ValidationError::new(field(), "Must be a finite number."))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attributes(value: Value) -> Attributes {
        match value {
            Value::Object(map) => map,
            _ => Attributes::new(),
        }
    }

    #[test]
    fn flat_scalar_values_pass() {
        let ok = attributes(json!({"device": "mobile", "age": 31, "premium": true, "score": 0.5}));
        assert_eq!(check_attributes(&ok), Ok(()));
    }

    #[test]
    fn nested_and_null_values_are_refused() {
        for bad in [json!({"a": null}), json!({"a": [1]}), json!({"a": {"b": 1}})] {
            let err = check_attributes(&attributes(bad)).expect_err("refused");
            assert_eq!(err.field.as_deref(), Some("attributes.a"));
        }
    }

    #[test]
    fn count_and_lengths_are_bounded() {
        let mut many = Attributes::new();
        for index in 0..=MAX_ATTRIBUTES {
            many.insert(format!("k{index}"), json!(1));
        }
        let err = check_attributes(&many).expect_err("too many");
        assert_eq!(err.field.as_deref(), Some("attributes"));
        let long_value = attributes(json!({"ua": "x".repeat(MAX_ATTRIBUTE_VALUE_CHARS + 1)}));
        assert!(check_attributes(&long_value).is_err());
        let mut long_name = Attributes::new();
        long_name.insert("k".repeat(MAX_ATTRIBUTE_NAME_CHARS + 1), json!(1));
        assert!(check_attributes(&long_name).is_err());
        let empty_name = attributes(json!({"": 1}));
        assert!(check_attributes(&empty_name).is_err());
        assert!(check_attribute("x", AttributeValue::Number(f64::NAN)).is_err());
        assert!(check_attribute("x", AttributeValue::Integer(i64::MIN)).is_ok());
    }
}
