//! The SPEC §6 rules, applied to borrowed fields.
//!
//! Every input path reduces an event to [`EventFields`] before checking it, through
//! [`ReceivedEvent`]: JSON parsed in place ([`crate::EventRecordRef`]), records built in code
//! ([`crate::EventRecord`]), CSV and Parquet rows straight from the reader's buffers (so a
//! bulk import does not allocate per event just to validate). One set of rules, one order of
//! checks ([`ReceivedEvent::check`]): id, unit, ts, the type's own fields, then attributes,
//! then the references to stored experiments.

use crate::attributes::{check_attribute_list, AttributeValue};
use crate::catalog::ExperimentCatalog;
use crate::error::ValidationError;
use crate::names::{check_text, MAX_NAME_CHARS};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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

/// An event time as received, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeField<'a> {
    /// Text that must be RFC 3339.
    Text(&'a str),
    /// A typed instant (a Parquet timestamp column).
    At(DateTime<Utc>),
}

/// One event's fields, borrowed from wherever they were read; attributes are checked
/// separately (`crate::attributes`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventFields<'a> {
    /// `exposure` or `metric`.
    pub event_type: EventType,
    /// Idempotency key.
    pub id: &'a str,
    /// The randomization unit.
    pub unit: &'a str,
    /// When it happened.
    pub ts: TimeField<'a>,
    /// Exposure: the experiment.
    pub experiment: Option<&'a str>,
    /// Exposure: the variant.
    pub variant: Option<&'a str>,
    /// Exposure: whether the model changed what the unit saw.
    pub triggered: Option<bool>,
    /// Exposure: the model's output.
    pub model_output: Option<f64>,
    /// Exposure: the output of a model computed alongside but not served (the
    /// model-disagreement design); the unit is triggered where it differs from `model_output`.
    pub shadow_output: Option<f64>,
    /// Exposure: the model's latency in milliseconds.
    pub latency_ms: Option<f64>,
    /// Metric: the event name.
    pub event: Option<&'a str>,
    /// Metric: the amount.
    pub value: Option<f64>,
}

/// What checking concluded: the instant, and for a metric event its value (default applied).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckedFields {
    /// The event time in UTC.
    pub ts: DateTime<Utc>,
    /// The metric value (1.0 when absent); 0 for exposures, which have none.
    pub value: f64,
}

impl EventFields<'_> {
    /// Every rule that needs no stored state, except attributes.
    pub fn check(&self) -> Result<CheckedFields, ValidationError> {
        check_text("id", self.id, MAX_ID_CHARS)?;
        check_text("unit", self.unit, MAX_UNIT_CHARS)?;
        let ts = parse_time(self.ts)?;
        let value = match self.event_type {
            EventType::Exposure => {
                refuse_field("event", self.event.is_some(), EventType::Exposure)?;
                refuse_field("value", self.value.is_some(), EventType::Exposure)?;
                check_text(
                    "experiment",
                    require("experiment", self.experiment)?,
                    MAX_NAME_CHARS,
                )?;
                check_text("variant", require("variant", self.variant)?, MAX_NAME_CHARS)?;
                if let Some(output) = self.model_output {
                    check_finite("model_output", output)?;
                }
                if let Some(output) = self.shadow_output {
                    check_finite("shadow_output", output)?;
                    if self.model_output.is_none() {
                        return Err(ValidationError::new(
                            "shadow_output",
                            "Needs model_output: it is compared with the served model's output.",
                        ));
                    }
                }
                if let Some(latency) = self.latency_ms {
                    check_finite("latency_ms", latency)?;
                    if latency < 0.0 {
                        return Err(ValidationError::new("latency_ms", "Must not be negative."));
                    }
                }
                0.0
            }
            EventType::Metric => {
                for (field, present) in [
                    ("experiment", self.experiment.is_some()),
                    ("variant", self.variant.is_some()),
                    ("triggered", self.triggered.is_some()),
                    ("model_output", self.model_output.is_some()),
                    ("shadow_output", self.shadow_output.is_some()),
                    ("latency_ms", self.latency_ms.is_some()),
                ] {
                    refuse_field(field, present, EventType::Metric)?;
                }
                check_text("event", require("event", self.event)?, MAX_NAME_CHARS)?;
                let value = self.value.unwrap_or(DEFAULT_METRIC_VALUE);
                check_finite("value", value)?;
                value
            }
        };
        Ok(CheckedFields { ts, value })
    }

    /// Checks what needs stored state: an exposure's experiment and variant must exist.
    pub fn check_references(&self, experiments: &impl ExperimentCatalog) -> Result<(), ValidationError> {
        match (self.event_type, self.experiment, self.variant) {
            (EventType::Exposure, Some(experiment), Some(variant)) => {
                check_exposure_target(experiment, variant, experiments)
            }
            _ => Ok(()),
        }
    }
}

/// An event as received, however it was read ([`crate::EventRecord`], [`crate::EventRecordRef`]):
/// what validation and storing read from it.
pub trait ReceivedEvent {
    /// Its fields, borrowed.
    fn fields(&self) -> EventFields<'_>;

    /// Its attributes sorted by name, each name once; `None` for a value that is not a
    /// string, number or boolean (which [`ReceivedEvent::check`] refuses).
    fn attributes(&self) -> impl Iterator<Item = (&str, Option<AttributeValue<'_>>)>;

    /// Every SPEC §6 rule, in one order: fields, attributes, then the references to stored
    /// experiments.
    fn check(&self, experiments: &impl ExperimentCatalog) -> Result<CheckedFields, ValidationError> {
        let fields = self.fields();
        let checked = fields.check()?;
        check_attribute_list(self.attributes())?;
        fields.check_references(experiments)?;
        Ok(checked)
    }
}

/// An exposure must name an existing experiment and one of its variants.
pub fn check_exposure_target(
    experiment: &str,
    variant: &str,
    experiments: &impl ExperimentCatalog,
) -> Result<(), ValidationError> {
    let Some(variants) = experiments.variants_of(experiment) else {
        return Err(ValidationError::new(
            "experiment",
            format!("No experiment named {experiment:?} exists."),
        ));
    };
    if !variants.iter().any(|name| name == variant) {
        return Err(ValidationError::new(
            "variant",
            format!(
                "Experiment {experiment:?} has no variant {variant:?}; it has {}.",
                variants.join(", ")
            ),
        ));
    }
    Ok(())
}

fn require<'a>(field: &str, value: Option<&'a str>) -> Result<&'a str, ValidationError> {
    value.ok_or_else(|| ValidationError::new(field, format!("Is required; add {field}.")))
}

fn refuse_field(field: &str, present: bool, event_type: EventType) -> Result<(), ValidationError> {
    if !present {
        return Ok(());
    }
    let owner = match event_type {
        EventType::Exposure => "metric events",
        EventType::Metric => "exposures",
    };
    Err(ValidationError::new(
        field,
        format!(
            "{field} belongs to {owner}, not to {} events.",
            event_type.as_str()
        ),
    ))
}

fn check_finite(field: &str, value: f64) -> Result<(), ValidationError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(ValidationError::new(field, "Must be a finite number."))
    }
}

/// Parses an event time; only RFC 3339 text is accepted (`2026-11-26T12:00:00Z`, with an
/// offset or `Z`), so that a time is never silently read in some local zone.
pub fn parse_time(ts: TimeField<'_>) -> Result<DateTime<Utc>, ValidationError> {
    match ts {
        TimeField::At(at) => Ok(at),
        TimeField::Text(text) => DateTime::parse_from_rfc3339(text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|_| {
                ValidationError::new(
                    "ts",
                    format!(
                        "{:?} is not an RFC 3339 time; write it like 2026-11-26T12:00:00Z.",
                        truncate(text, 64)
                    ),
                )
            }),
    }
}

fn truncate(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn metric() -> EventFields<'static> {
        EventFields {
            event_type: EventType::Metric,
            id: "e1",
            unit: "u1",
            ts: TimeField::Text("2026-11-26T12:00:00+01:00"),
            experiment: None,
            variant: None,
            triggered: None,
            model_output: None,
            shadow_output: None,
            latency_ms: None,
            event: Some("booking"),
            value: None,
        }
    }

    #[test]
    fn check_returns_the_utc_time_and_the_defaulted_value() {
        let checked = metric().check().expect("valid");
        assert_eq!(crate::event::format_ts(checked.ts), "2026-11-26T11:00:00Z");
        assert_eq!(checked.value, DEFAULT_METRIC_VALUE);
    }

    #[test]
    fn typed_times_skip_parsing() {
        let at = DateTime::from_timestamp(1_795_694_400, 0).expect("in range");
        let fields = EventFields {
            ts: TimeField::At(at),
            ..metric()
        };
        assert_eq!(fields.check().map(|checked| checked.ts), Ok(at));
    }

    #[test]
    fn references_are_checked_for_exposures_only() {
        let experiments = HashMap::from([("k".to_string(), vec!["a".to_string()])]);
        assert_eq!(metric().check_references(&experiments), Ok(()));
        let exposure = EventFields {
            event_type: EventType::Exposure,
            experiment: Some("k"),
            variant: Some("b"),
            event: None,
            ..metric()
        };
        let err = exposure.check_references(&experiments).expect_err("no variant b");
        assert_eq!(err.field.as_deref(), Some("variant"));
    }
}
