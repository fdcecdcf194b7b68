//! [`EventRecordRef`]: an event parsed in place, its strings borrowed from the input.
//!
//! `POST /v1/events` and NDJSON imports parse thousands of events per batch. Parsed into
//! [`EventRecord`], every id, unit, time, name and attribute is a `String` of its own (and the
//! attributes a map), which made parsing and freeing about half of the server's time per
//! batch. An [`EventRecordRef`] points into the body instead; only a string with escapes
//! (`\"`, `\u00e9`) is copied, unescaped. It has the same fields, the same
//! `deny_unknown_fields`, and is validated by the same rules ([`ReceivedEvent::check`]).

use crate::attributes::AttributeValue;
use crate::event::EventRecord;
use crate::event_fields::EventType;
use crate::event_fields::{EventFields, ReceivedEvent, TimeField};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// One event as received (SPEC §6), borrowing from the text it was parsed from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRecordRef<'a> {
    #[serde(rename = "type")]
    event_type: EventType,
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(borrow)]
    unit: Text<'a>,
    #[serde(borrow)]
    ts: Text<'a>,
    #[serde(default, borrow)]
    experiment: Option<Text<'a>>,
    #[serde(default, borrow)]
    variant: Option<Text<'a>>,
    #[serde(default)]
    triggered: Option<bool>,
    #[serde(default)]
    model_output: Option<f64>,
    #[serde(default)]
    shadow_output: Option<f64>,
    #[serde(default)]
    latency_ms: Option<f64>,
    #[serde(default, borrow)]
    event: Option<Text<'a>>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default, borrow)]
    attributes: Option<AttributeList<'a>>,
}

impl EventRecordRef<'_> {
    /// The same event as an owned [`EventRecord`] (to keep it past its input). A value that
    /// is not a string, number or boolean becomes `null`, which validation refuses as well.
    pub fn to_record(&self) -> EventRecord {
        let attributes = self.attributes.as_ref().map(|list| {
            list.0
                .iter()
                .map(|(name, value)| {
                    let json = value.as_attribute().and_then(AttributeValue::to_json);
                    (name.0.to_string(), json.unwrap_or(Value::Null))
                })
                .collect::<Map<String, Value>>()
        });
        EventRecord::from_fields(&self.fields(), attributes)
    }
}

impl ReceivedEvent for EventRecordRef<'_> {
    fn fields(&self) -> EventFields<'_> {
        EventFields {
            event_type: self.event_type,
            id: &self.id.0,
            unit: &self.unit.0,
            ts: TimeField::Text(&self.ts.0),
            experiment: optional_text(&self.experiment),
            variant: optional_text(&self.variant),
            triggered: self.triggered,
            model_output: self.model_output,
            shadow_output: self.shadow_output,
            latency_ms: self.latency_ms,
            event: optional_text(&self.event),
            value: self.value,
        }
    }

    fn attributes(&self) -> impl Iterator<Item = (&str, Option<AttributeValue<'_>>)> {
        self.attributes
            .iter()
            .flat_map(|list| &list.0)
            .map(|(name, value)| (&*name.0, value.as_attribute()))
    }
}

fn optional_text<'s>(text: &'s Option<Text<'_>>) -> Option<&'s str> {
    text.as_ref().map(|text| &*text.0)
}

/// A JSON string, borrowed unless it had to be unescaped.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Borrowed(text)))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(text.to_string())))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(text)))
    }
}

/// An attribute value as parsed: a scalar, or `Unsupported` for null, arrays and objects,
/// kept so that validation (not the parser) refuses them, with the same message as for an
/// [`EventRecord`].
#[derive(Debug, Clone, PartialEq)]
enum Scalar<'a> {
    Text(Text<'a>),
    Integer(i64),
    Number(f64),
    Bool(bool),
    Unsupported,
}

impl Scalar<'_> {
    fn as_attribute(&self) -> Option<AttributeValue<'_>> {
        match self {
            Scalar::Text(text) => Some(AttributeValue::Text(&text.0)),
            Scalar::Integer(number) => Some(AttributeValue::Integer(*number)),
            Scalar::Number(number) => Some(AttributeValue::Number(*number)),
            Scalar::Bool(flag) => Some(AttributeValue::Bool(*flag)),
            Scalar::Unsupported => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a string, a number or a boolean")
    }

    fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Bool(flag))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Integer(number))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Scalar<'de>, E> {
        // As serde_json's `Number::as_i64` then `as_f64` read it for an owned record.
        Ok(i64::try_from(number).map_or(Scalar::Number(number as f64), Scalar::Integer))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Number(number))
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Scalar<'de>, E> {
        TextVisitor.visit_borrowed_str(text).map(Scalar::Text)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Scalar<'de>, E> {
        TextVisitor.visit_str(text).map(Scalar::Text)
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Scalar<'de>, E> {
        TextVisitor.visit_string(text).map(Scalar::Text)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Unsupported)
    }

    fn visit_none<E: de::Error>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Unsupported)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Unsupported)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Unsupported)
    }
}

/// Attributes sorted by name, each name once (the last value wins, as in a JSON map), so
/// they read like [`crate::Attributes`] do.
#[derive(Debug, Clone, PartialEq)]
struct AttributeList<'a>(Vec<(Text<'a>, Scalar<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for AttributeList<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(AttributeListVisitor)
    }
}

struct AttributeListVisitor;

impl<'de> Visitor<'de> for AttributeListVisitor {
    type Value = AttributeList<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an object of attributes")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AttributeList<'de>, A::Error> {
        let mut list: Vec<(Text<'de>, Scalar<'de>)> = Vec::with_capacity(map.size_hint().unwrap_or(4));
        while let Some(entry) = map.next_entry()? {
            list.push(entry);
        }
        // Stable, so of equal names the last one read stays last; keep that one.
        list.sort_by(|(a, _), (b, _)| a.cmp(b));
        let mut unique: Vec<(Text<'de>, Scalar<'de>)> = Vec::with_capacity(list.len());
        for entry in list {
            match unique.last_mut() {
                Some(last) if last.0 == entry.0 => *last = entry,
                _ => unique.push(entry),
            }
        }
        Ok(AttributeList(unique))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::Attributes;
    use crate::json::from_json_str;

    const EXPOSURE: &str = r#"{"type": "exposure", "id": "e1", "unit": "u42", "experiment": "ranker-v7",
        "variant": "treatment", "ts": "2026-11-26T12:00:00Z", "triggered": true,
        "attributes": {"device": "mobile", "age": 31, "big": 18446744073709551615, "premium": false,
        "score": 0.5, "device": "tablet"}, "model_output": 0.83, "latency_ms": 12.5}"#;

    #[test]
    fn strings_are_borrowed_unless_escaped() {
        let text = r#"{"type": "metric", "id": "plain", "unit": "caf\u00e9", "ts": "t", "event": "x"}"#;
        let record: EventRecordRef = from_json_str(text).expect("parses");
        assert!(matches!(record.id.0, Cow::Borrowed("plain")));
        assert!(matches!(&record.unit.0, Cow::Owned(unit) if unit == "café"));
    }

    #[test]
    fn reads_like_the_owned_record() {
        let borrowed: EventRecordRef = from_json_str(EXPOSURE).expect("parses borrowed");
        let owned: EventRecord = from_json_str(EXPOSURE).expect("parses owned");
        assert_eq!(borrowed.fields(), owned.fields());
        let from_ref: Vec<_> = borrowed.attributes().collect();
        let from_owned: Vec<_> = owned.attributes().collect();
        assert_eq!(from_ref, from_owned);
        assert_eq!(
            from_ref[1],
            ("big", Some(AttributeValue::Number(u64::MAX as f64)))
        );
        assert_eq!(from_ref[2], ("device", Some(AttributeValue::Text("tablet"))));
        let copied = borrowed.to_record();
        assert_eq!(copied.fields(), owned.fields());
        assert_eq!(copied.attributes().collect::<Vec<_>>(), from_owned);
    }

    #[test]
    fn unsupported_attribute_values_are_refused_by_validation() {
        let text = EXPOSURE.replace(r#""age": 31"#, r#""age": {"years": 31}"#);
        let record: EventRecordRef = from_json_str(&text).expect("parses");
        let catalog = std::collections::HashMap::from([(
            "ranker-v7".to_string(),
            vec!["control".to_string(), "treatment".to_string()],
        )]);
        let err = record.check(&catalog).expect_err("nested attribute");
        assert_eq!(err.field.as_deref(), Some("attributes.age"));
        let owned = record.to_record();
        assert_eq!(owned.attributes.as_ref().map(Attributes::len), Some(5));
        assert_eq!(owned.check(&catalog), Err(err));
    }

    #[test]
    fn unknown_fields_and_wrong_types_name_the_field() {
        let err = from_json_str::<EventRecordRef>(r#"{"type": "metric", "id": 1, "unit": "u", "ts": "t"}"#)
            .expect_err("numeric id");
        assert_eq!(err.field.as_deref(), Some("id"));
        let err = from_json_str::<EventRecordRef>(
            r#"{"type": "metric", "id": "a", "unit": "u", "ts": "t", "valeu": 1}"#,
        )
        .expect_err("typo");
        assert_eq!(err.field.as_deref(), Some("valeu"));
    }
}
