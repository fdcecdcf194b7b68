//! Events (SPEC §6): what clients send ([`EventRecord`]) and what is stored ([`Event`]).
//!
//! Every input path (HTTP JSON, NDJSON, CSV, Parquet) produces the same flat [`EventRecord`],
//! with one column per field of either type, so there is exactly one validation. Validation
//! turns it into the tagged [`Event`], whose variants only carry the fields of their type.
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

use crate::attributes::{check_attributes, Attributes};
use crate::catalog::ExperimentCatalog;
use crate::error::ValidationError;
use crate::event_fields::{check_exposure_target, parse_time, EventFields, TimeField};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest event id, in characters.
pub const MAX_ID_CHARS: usize = 128;
/// Longest unit id, in characters.
pub const MAX_UNIT_CHARS: usize = 256;
/// Value of a metric event that does not carry one.
pub const DEFAULT_METRIC_VALUE: f64 = 1.0;

/// The two kinds of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// A unit was assigned and treated.
    Exposure,
    /// Something a metric counts happened to a unit.
    Metric,
}

impl EventType {
    /// The name used in the `type` field.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Exposure => "exposure",
            EventType::Metric => "metric",
        }
    }
}

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

/// A validated event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    /// A unit was assigned and treated.
    Exposure(Exposure),
    /// Something a metric counts happened to a unit.
    Metric(MetricEvent),
}

/// A validated exposure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exposure {
    /// Idempotency key.
    pub id: String,
    /// The randomization unit.
    pub unit: String,
    /// Experiment key.
    pub experiment: String,
    /// Variant name.
    pub variant: String,
    /// When the unit was exposed.
    #[serde(serialize_with = "serialize_ts")]
    pub ts: DateTime<Utc>,
    /// Whether the model changed what the unit saw; `None` if the client did not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub triggered: Option<bool>,
    /// The model's output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_output: Option<f64>,
    /// The model's latency in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Flat attributes.
    #[serde(skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
}

/// A validated metric event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricEvent {
    /// Idempotency key.
    pub id: String,
    /// The randomization unit.
    pub unit: String,
    /// Event name.
    pub event: String,
    /// Amount (finite).
    pub value: f64,
    /// When it happened.
    #[serde(serialize_with = "serialize_ts")]
    pub ts: DateTime<Utc>,
    /// Flat attributes.
    #[serde(skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
}

impl Event {
    /// The idempotency key.
    pub fn id(&self) -> &str {
        match self {
            Event::Exposure(exposure) => &exposure.id,
            Event::Metric(metric) => &metric.id,
        }
    }

    /// The unit.
    pub fn unit(&self) -> &str {
        match self {
            Event::Exposure(exposure) => &exposure.unit,
            Event::Metric(metric) => &metric.unit,
        }
    }

    /// When it happened.
    pub fn ts(&self) -> DateTime<Utc> {
        match self {
            Event::Exposure(exposure) => exposure.ts,
            Event::Metric(metric) => metric.ts,
        }
    }

    /// Checks what needs stored state: an exposure's experiment and variant must exist.
    pub fn check_references(&self, experiments: &impl ExperimentCatalog) -> Result<(), ValidationError> {
        match self {
            Event::Exposure(exposure) => {
                check_exposure_target(&exposure.experiment, &exposure.variant, experiments)
            }
            Event::Metric(_) => Ok(()),
        }
    }
}

impl EventRecord {
    /// The record's fields, borrowed, for checking.
    pub fn fields(&self) -> EventFields<'_> {
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
            latency_ms: self.latency_ms,
            event: self.event.as_deref(),
            value: self.value,
        }
    }

    /// Every check that needs no stored state, and the conversion to an [`Event`].
    pub fn into_event(self) -> Result<Event, ValidationError> {
        let checked = self.fields().check()?;
        let attributes = self.attributes.unwrap_or_default();
        check_attributes(&attributes)?;
        // `check` proved the type's required fields present; the defaults are unreachable.
        Ok(match self.event_type {
            EventType::Exposure => Event::Exposure(Exposure {
                id: self.id,
                unit: self.unit,
                experiment: self.experiment.unwrap_or_default(),
                variant: self.variant.unwrap_or_default(),
                ts: checked.ts,
                triggered: self.triggered,
                model_output: self.model_output,
                latency_ms: self.latency_ms,
                attributes,
            }),
            EventType::Metric => Event::Metric(MetricEvent {
                id: self.id,
                unit: self.unit,
                event: self.event.unwrap_or_default(),
                value: checked.value,
                ts: checked.ts,
                attributes,
            }),
        })
    }

    /// Full validation: [`EventRecord::into_event`] then [`Event::check_references`].
    pub fn validate(self, experiments: &impl ExperimentCatalog) -> Result<Event, ValidationError> {
        let event = self.into_event()?;
        event.check_references(experiments)?;
        Ok(event)
    }
}

/// Parses an event time; see [`parse_time`].
pub fn parse_ts(ts: &EventTime) -> Result<DateTime<Utc>, ValidationError> {
    match ts {
        EventTime::Text(text) => parse_time(TimeField::Text(text)),
        EventTime::At(at) => Ok(*at),
    }
}

/// Formats an event time as RFC 3339 in UTC with `Z`, at the microsecond precision stored.
pub fn format_ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn serialize_ts<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_ts(*at))
}

#[cfg(test)]
mod tests {
    use super::*;
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
        record.validate(&experiments()).err().and_then(|err| err.field)
    }

    #[test]
    fn spec_examples_validate() {
        let exposure = record(EXPOSURE).validate(&experiments()).expect("valid exposure");
        let Event::Exposure(exposure) = exposure else {
            panic!("expected an exposure");
        };
        assert_eq!(exposure.variant, "treatment");
        assert_eq!(exposure.triggered, Some(true));
        assert_eq!(
            exposure.attributes.get("device"),
            Some(&serde_json::json!("mobile"))
        );
        let metric = record(METRIC).validate(&experiments()).expect("valid metric");
        assert_eq!(metric.id(), "e2");
        assert_eq!(format_ts(metric.ts()), "2026-11-26T11:05:00Z");
    }

    #[test]
    fn metric_value_defaults_to_one() {
        let mut metric = record(METRIC);
        metric.value = None;
        let Ok(Event::Metric(event)) = metric.into_event() else {
            panic!("expected a metric event");
        };
        assert_eq!(event.value, 1.0);
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
    fn validated_events_serialize_tagged() {
        let event = record(EXPOSURE).validate(&experiments()).expect("valid");
        let json = serde_json::to_value(&event).expect("serializes");
        assert_eq!(json["type"], "exposure");
        assert_eq!(json["ts"], "2026-11-26T12:00:00Z");
        let record_again: EventRecord = crate::json::from_json_value(json).expect("parses back");
        assert_eq!(record_again.validate(&experiments()), Ok(event));
    }
}
