//! Events (SPEC §6) as clients send them: [`EventRecord`], flat, one field per field of
//! either type.
//!
//! Every input path reduces an event to the same borrowed fields ([`ReceivedEvent`]: an
//! [`EventRecord`] built in code, an [`crate::EventRecordRef`] parsed in place from JSON,
//! a CSV or Parquet row), so there is exactly one validation, [`ReceivedEvent::check`].
//!
//! Choices where SPEC §6 is silent:
//! - a metric event without `value` counts as `1.0`, so a plain occurrence ("booking") needs no
//!   value;
//! - `triggered` stays unknown (`None`) when not sent; a triggered-only analysis counts only
//!   exposures that say `true`;
//! - fields of the other type are refused rather than ignored (`event` on an exposure is a
//!   client bug worth hearing about);
//! - exposures may name an experiment in any status: history is back-filled into drafts and
//!   late events arrive after a stop; the analysis window decides what counts.

use crate::attributes::{scalar, AttributeValue, Attributes};
use crate::event_fields::{EventFields, EventType, ReceivedEvent, TimeField};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An event's time as received: RFC 3339 text (JSON, CSV), or an already typed timestamp
/// (a Parquet timestamp column), which skips parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTime {
    /// Text that must be RFC 3339.
    Text(String),
    /// A typed instant.
    At(DateTime<Utc>),
}

impl Serialize for EventTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            EventTime::Text(text) => serializer.serialize_str(text),
            EventTime::At(at) => serializer.serialize_str(&format_ts(*at)),
        }
    }
}

impl<'de> Deserialize<'de> for EventTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(EventTime::Text)
    }
}

/// One event as received, before validation: the union of both types' fields (SPEC §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRecord {
    /// `exposure` or `metric`.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// Idempotency key: a repeated id is stored once.
    pub id: String,
    /// The randomization unit.
    pub unit: String,
    /// When it happened.
    pub ts: EventTime,
    /// Exposure: the experiment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// Exposure: the variant the unit got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Exposure: whether the model changed what the unit saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggered: Option<bool>,
    /// Exposure: the model's output (for response distribution monitoring).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_output: Option<f64>,
    /// Exposure: the output of a model computed alongside but not served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_output: Option<f64>,
    /// Exposure: the model's latency in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Metric: the event name metrics refer to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Metric: the amount; 1.0 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Flat attributes, for segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Attributes>,
}

impl EventRecord {
    /// An owned record of borrowed fields and attributes (to keep an event past its input).
    pub fn from_fields(fields: &EventFields<'_>, attributes: Option<Attributes>) -> EventRecord {
        EventRecord {
            event_type: fields.event_type,
            id: fields.id.to_string(),
            unit: fields.unit.to_string(),
            ts: match fields.ts {
                TimeField::Text(text) => EventTime::Text(text.to_string()),
                TimeField::At(at) => EventTime::At(at),
            },
            experiment: fields.experiment.map(str::to_string),
            variant: fields.variant.map(str::to_string),
            triggered: fields.triggered,
            model_output: fields.model_output,
            shadow_output: fields.shadow_output,
            latency_ms: fields.latency_ms,
            event: fields.event.map(str::to_string),
            value: fields.value,
            attributes,
        }
    }
}

impl ReceivedEvent for EventRecord {
    fn fields(&self) -> EventFields<'_> {
        EventFields {
            event_type: self.event_type,
            id: &self.id,
            unit: &self.unit,
            ts: match &self.ts {
                EventTime::Text(text) => TimeField::Text(text),
                EventTime::At(at) => TimeField::At(*at),
            },
            experiment: self.experiment.as_deref(),
            variant: self.variant.as_deref(),
            triggered: self.triggered,
            model_output: self.model_output,
            shadow_output: self.shadow_output,
            latency_ms: self.latency_ms,
            event: self.event.as_deref(),
            value: self.value,
        }
    }

    fn attributes(&self) -> impl Iterator<Item = (&str, Option<AttributeValue<'_>>)> {
        // A serde_json map iterates in key order.
        self.attributes
            .iter()
            .flatten()
            .map(|(name, value)| (name.as_str(), scalar(value)))
    }
}

/// Formats an event time as RFC 3339 in UTC with `Z`, at the microsecond precision stored.
pub fn format_ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_fields::{MAX_ID_CHARS, MAX_UNIT_CHARS};
    use crate::json::from_json_str;
    use crate::names::MAX_NAME_CHARS;
    use std::collections::HashMap;

    const EXPOSURE: &str = r#"{"type": "exposure", "id": "e1", "unit": "u42", "experiment": "ranker-v7",
        "variant": "treatment", "ts": "2026-11-26T12:00:00Z", "triggered": true,
        "attributes": {"device": "mobile"}, "model_output": 0.83, "latency_ms": 12.5}"#;
    const METRIC: &str = r#"{"type": "metric", "id": "e2", "unit": "u42", "event": "booking", "value": 1.0, "ts": "2026-11-26T12:05:00+01:00"}"#;

    fn experiments() -> HashMap<String, Vec<String>> {
        HashMap::from([(
            "ranker-v7".to_string(),
            vec!["control".to_string(), "treatment".to_string()],
        )])
    }

    fn record(text: &str) -> EventRecord {
        from_json_str(text).expect("record parses")
    }

    fn field_of(record: EventRecord) -> Option<String> {
        record.check(&experiments()).err().and_then(|err| err.field)
    }

    #[test]
    fn spec_examples_validate() {
        let exposure = record(EXPOSURE);
        assert!(exposure.check(&experiments()).is_ok());
        assert_eq!(exposure.fields().variant, Some("treatment"));
        assert_eq!(
            exposure.attributes().collect::<Vec<_>>(),
            vec![("device", Some(AttributeValue::Text("mobile")))]
        );
        let checked = record(METRIC).check(&experiments()).expect("valid metric");
        assert_eq!(format_ts(checked.ts), "2026-11-26T11:05:00Z");
    }

    #[test]
    fn metric_value_defaults_to_one() {
        let mut metric = record(METRIC);
        metric.value = None;
        let checked = metric.check(&experiments()).expect("valid metric");
        assert_eq!(checked.value, 1.0);
    }

    #[test]
    fn id_and_unit_must_be_non_empty_and_bounded() {
        let mut event = record(METRIC);
        event.id = String::new();
        assert_eq!(field_of(event).as_deref(), Some("id"));
        let mut event = record(METRIC);
        event.id = "x".repeat(MAX_ID_CHARS + 1);
        assert_eq!(field_of(event).as_deref(), Some("id"));
        let mut event = record(METRIC);
        event.unit = String::new();
        assert_eq!(field_of(event).as_deref(), Some("unit"));
        let mut event = record(METRIC);
        event.unit = "u".repeat(MAX_UNIT_CHARS + 1);
        assert_eq!(field_of(event).as_deref(), Some("unit"));
        let mut event = record(METRIC);
        event.unit = "u".repeat(MAX_UNIT_CHARS);
        assert_eq!(field_of(event), None);
    }

    #[test]
    fn ts_must_be_rfc3339() {
        for bad in [
            "2026-11-26 12:00:00",
            "2026-11-26",
            "yesterday",
            "2026-11-26T12:00:00",
        ] {
            let mut event = record(METRIC);
            event.ts = EventTime::Text(bad.into());
            assert_eq!(field_of(event).as_deref(), Some("ts"), "{bad}");
        }
        let mut event = record(METRIC);
        event.ts = EventTime::Text("2026-11-26T12:00:00.123456Z".into());
        assert_eq!(field_of(event), None);
    }

    #[test]
    fn exposures_need_an_existing_experiment_and_variant() {
        let mut event = record(EXPOSURE);
        event.experiment = Some("ranker-v8".into());
        assert_eq!(field_of(event).as_deref(), Some("experiment"));
        let mut event = record(EXPOSURE);
        event.variant = Some("treatment2".into());
        assert_eq!(field_of(event).as_deref(), Some("variant"));
        let mut event = record(EXPOSURE);
        event.experiment = None;
        assert_eq!(field_of(event).as_deref(), Some("experiment"));
        let mut event = record(EXPOSURE);
        event.variant = None;
        assert_eq!(field_of(event).as_deref(), Some("variant"));
    }

    #[test]
    fn metric_events_need_a_bounded_event_name_and_finite_value() {
        let mut event = record(METRIC);
        event.event = None;
        assert_eq!(field_of(event).as_deref(), Some("event"));
        let mut event = record(METRIC);
        event.event = Some("e".repeat(MAX_NAME_CHARS + 1));
        assert_eq!(field_of(event).as_deref(), Some("event"));
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut event = record(METRIC);
            event.value = Some(bad);
            assert_eq!(field_of(event).as_deref(), Some("value"));
        }
    }

    #[test]
    fn model_output_and_latency_must_be_finite() {
        let mut event = record(EXPOSURE);
        event.model_output = Some(f64::NAN);
        assert_eq!(field_of(event).as_deref(), Some("model_output"));
        let mut event = record(EXPOSURE);
        event.latency_ms = Some(f64::INFINITY);
        assert_eq!(field_of(event).as_deref(), Some("latency_ms"));
        let mut event = record(EXPOSURE);
        event.latency_ms = Some(-1.0);
        assert_eq!(field_of(event).as_deref(), Some("latency_ms"));
    }

    #[test]
    fn a_shadow_output_is_finite_on_an_exposure_with_a_model_output() {
        let mut event = record(EXPOSURE);
        event.model_output = Some(0.4);
        event.shadow_output = Some(f64::NAN);
        assert_eq!(field_of(event).as_deref(), Some("shadow_output"));
        let mut event = record(EXPOSURE);
        event.model_output = None;
        event.shadow_output = Some(0.4);
        assert_eq!(
            field_of(event).as_deref(),
            Some("shadow_output"),
            "needs model_output"
        );
        let mut event = record(METRIC);
        event.shadow_output = Some(0.4);
        assert_eq!(field_of(event).as_deref(), Some("shadow_output"));
        let mut event = record(EXPOSURE);
        event.model_output = Some(0.4);
        event.shadow_output = Some(0.7);
        assert_eq!(field_of(event), None);
    }

    #[test]
    fn fields_of_the_other_type_are_refused() {
        let mut event = record(METRIC);
        event.experiment = Some("ranker-v7".into());
        assert_eq!(field_of(event).as_deref(), Some("experiment"));
        let mut event = record(METRIC);
        event.triggered = Some(true);
        assert_eq!(field_of(event).as_deref(), Some("triggered"));
        let mut event = record(EXPOSURE);
        event.value = Some(2.0);
        assert_eq!(field_of(event).as_deref(), Some("value"));
    }

    #[test]
    fn attributes_are_checked() {
        let text = EXPOSURE.replace(r#"{"device": "mobile"}"#, r#"{"device": {"os": "ios"}}"#);
        assert_eq!(field_of(record(&text)).as_deref(), Some("attributes.device"));
    }

    #[test]
    fn unknown_fields_and_types_are_refused_at_parse() {
        let typo = METRIC.replace("\"value\"", "\"valeu\"");
        let err = from_json_str::<EventRecord>(&typo).expect_err("typo");
        assert_eq!(err.field.as_deref(), Some("valeu"));
        let bad_type = METRIC.replace("\"metric\"", "\"click\"");
        let err = from_json_str::<EventRecord>(&bad_type).expect_err("type");
        assert_eq!(err.field.as_deref(), Some("type"));
        let err =
            from_json_str::<EventRecord>(r#"{"type": "metric", "unit": "u", "ts": "x"}"#).expect_err("id");
        assert_eq!(err.field.as_deref(), Some("id"));
    }

    #[test]
    fn records_serialize_as_they_were_sent() {
        let exposure = record(EXPOSURE);
        let json = serde_json::to_value(&exposure).expect("serializes");
        assert_eq!(json["type"], "exposure");
        assert_eq!(json["ts"], "2026-11-26T12:00:00Z");
        let again: EventRecord = crate::json::from_json_value(json).expect("parses back");
        assert_eq!(again, exposure);
    }
}
