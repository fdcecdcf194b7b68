//! Metric definitions (SPEC §7): how a unit's events become one number per unit.

use crate::error::ValidationError;
use crate::names::{check_identifier, check_text, MAX_NAME_CHARS};
use serde::{Deserialize, Serialize};

/// Longest metric description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;

/// The window used when a metric does not say: one week after first exposure, long enough to
/// cover weekly seasonality, which is also the example window of SPEC §7.
pub const DEFAULT_WINDOW_HOURS: f64 = 168.0;

/// How a unit's events in its window become that unit's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// 1 if the unit has any such event, else 0.
    Proportion,
    /// Sum of the events' `value`.
    Mean,
    /// Number of events.
    Count,
    /// Sum of `value` of `event` over sum of `value` of `denominator_event` (delta method).
    Ratio,
    /// The `quantile` of the values (each event's, or each exposure's latency), clustered by
    /// unit: a p95 latency, a median basket.
    Quantile,
}

/// Where a metric's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricSource {
    /// Metric events named `event` (the default).
    #[default]
    Events,
    /// The `latency_ms` the model service sent with each exposure of the experiment: a
    /// latency guardrail without extra events. `mean` is the mean per request (the sum of a
    /// unit's latencies over its count of requests, by the delta method), `quantile` the
    /// quantile over requests.
    ExposureLatency,
}

impl MetricSource {
    fn is_events(&self) -> bool {
        *self == MetricSource::Events
    }
}

pub use rctgate_stats::Direction;

/// A metric of the catalog. `direction` has no default on purpose: guessing "increase" for a
/// cancellations guardrail would make a harmful change look good.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// Unique name, referenced by experiments.
    pub name: String,
    /// Aggregation per unit.
    pub kind: MetricKind,
    /// The event name counted (the numerator's, for a ratio); none for `exposure_latency`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event: String,
    /// The denominator's event name; required for `ratio`, refused otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominator_event: Option<String>,
    /// Hours after a unit's first exposure during which its events count; defaults to 168.
    #[serde(default = "default_window_hours")]
    pub window_hours: f64,
    /// Which way is good.
    pub direction: Direction,
    /// Days before first exposure used as the CUPED covariate; none disables CUPED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuped_days: Option<u32>,
    /// Free text for people reading the catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The level of a `quantile` metric, in (0, 1): 0.95 for a p95.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<f64>,
    /// Where the values come from; metric events by default.
    #[serde(default, skip_serializing_if = "MetricSource::is_events")]
    pub source: MetricSource,
}

fn default_window_hours() -> f64 {
    DEFAULT_WINDOW_HOURS
}

impl Metric {
    /// Whether the metric can decide a trial as its primary: a business outcome, not a
    /// quantile or a latency, which guard a trial instead.
    pub fn can_decide(&self) -> bool {
        self.kind != MetricKind::Quantile && self.source == MetricSource::Events
    }

    /// Why it cannot be the primary metric (see [`Metric::can_decide`]), naming the field.
    pub fn primary_refusal(&self) -> ValidationError {
        ValidationError::new(
            "metrics.primary",
            format!(
                "Metric {:?} is a quantile or latency metric: it can guard a trial (a guardrail, a \
                 secondary metric) but not decide it; the primary metric is a business outcome.",
                self.name
            ),
        )
    }

    /// Checks every field rule; the first broken rule is reported.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_identifier("name", &self.name)?;
        match self.source {
            MetricSource::Events => check_text("event", &self.event, MAX_NAME_CHARS)?,
            MetricSource::ExposureLatency => {
                if !self.event.is_empty() {
                    return Err(ValidationError::new(
                        "event",
                        "An exposure_latency metric reads the exposures' latency_ms; leave event out.",
                    ));
                }
                if !matches!(self.kind, MetricKind::Mean | MetricKind::Quantile) {
                    return Err(ValidationError::new(
                        "kind",
                        "An exposure_latency metric is a mean (per request) or a quantile of the latency.",
                    ));
                }
            }
        }
        match (self.kind, self.quantile) {
            (MetricKind::Quantile, None) => {
                return Err(ValidationError::new(
                    "quantile",
                    "A quantile metric needs its level: quantile = 0.95 for a p95.",
                ))
            }
            (MetricKind::Quantile, Some(level)) if !(level > 0.0 && level < 1.0) => {
                return Err(ValidationError::new(
                    "quantile",
                    "Must lie strictly between 0 and 1 (0.95 for a p95).",
                ))
            }
            (MetricKind::Quantile, Some(_)) => {}
            (_, Some(_)) => {
                return Err(ValidationError::new(
                    "quantile",
                    "Only quantile metrics take a quantile level.",
                ))
            }
            (_, None) => {}
        }
        match (self.kind, &self.denominator_event) {
            (MetricKind::Ratio, None) => {
                return Err(ValidationError::new(
                    "denominator_event",
                    "A ratio metric needs a denominator_event.",
                ))
            }
            (MetricKind::Ratio, Some(denominator)) => {
                check_text("denominator_event", denominator, MAX_NAME_CHARS)?
            }
            (_, Some(_)) => {
                return Err(ValidationError::new(
                    "denominator_event",
                    "Only ratio metrics take a denominator_event.",
                ))
            }
            (_, None) => {}
        }
        if !(self.window_hours.is_finite() && self.window_hours > 0.0) {
            return Err(ValidationError::new(
                "window_hours",
                "Must be a positive number of hours.",
            ));
        }
        if self.cuped_days == Some(0) {
            return Err(ValidationError::new(
                "cuped_days",
                "Must be a positive number of days; leave it out to disable CUPED.",
            ));
        }
        if self.cuped_days.is_some()
            && (matches!(self.kind, MetricKind::Ratio | MetricKind::Quantile)
                || self.source == MetricSource::ExposureLatency)
        {
            return Err(ValidationError::new(
                "cuped_days",
                "CUPED is not available for ratio, quantile and exposure_latency metrics; leave cuped_days out.",
            ));
        }
        if let Some(description) = &self.description {
            crate::names::check_length("description", description, MAX_DESCRIPTION_CHARS)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::from_json_str;

    fn bookings() -> Metric {
        from_json_str(
            r#"{"name": "bookings", "kind": "proportion", "event": "booking", "window_hours": 168,
                "direction": "increase", "cuped_days": 14}"#,
        )
        .expect("spec example parses")
    }

    fn field_of(metric: &Metric) -> Option<String> {
        metric.validate().err().and_then(|err| err.field)
    }

    #[test]
    fn spec_examples_are_valid() {
        assert_eq!(bookings().validate(), Ok(()));
        let ratio: Metric = from_json_str(
            r#"{"name": "revenue_per_session", "kind": "ratio", "event": "revenue",
                "denominator_event": "session", "window_hours": 168, "direction": "increase"}"#,
        )
        .expect("parses");
        assert_eq!(ratio.validate(), Ok(()));
    }

    #[test]
    fn window_defaults_to_one_week() {
        let metric: Metric =
            from_json_str(r#"{"name": "m", "kind": "count", "event": "e", "direction": "decrease"}"#)
                .expect("parses");
        assert_eq!(metric.window_hours, 168.0);
        assert_eq!(metric.validate(), Ok(()));
    }

    #[test]
    fn ratio_needs_a_denominator_and_others_refuse_one() {
        let mut metric = bookings();
        metric.kind = MetricKind::Ratio;
        assert_eq!(field_of(&metric).as_deref(), Some("denominator_event"));
        metric.kind = MetricKind::Mean;
        metric.denominator_event = Some("session".into());
        assert_eq!(field_of(&metric).as_deref(), Some("denominator_event"));
        metric.denominator_event = Some(String::new());
        metric.kind = MetricKind::Ratio;
        assert_eq!(field_of(&metric).as_deref(), Some("denominator_event"));
    }

    #[test]
    fn window_must_be_positive_and_finite() {
        for hours in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let mut metric = bookings();
            metric.window_hours = hours;
            assert_eq!(field_of(&metric).as_deref(), Some("window_hours"));
        }
    }

    #[test]
    fn cuped_days_must_be_positive() {
        let mut metric = bookings();
        metric.cuped_days = Some(0);
        assert_eq!(field_of(&metric).as_deref(), Some("cuped_days"));
    }

    #[test]
    fn ratio_metrics_refuse_cuped() {
        let mut metric = bookings();
        metric.kind = MetricKind::Ratio;
        metric.denominator_event = Some("session".into());
        assert_eq!(field_of(&metric).as_deref(), Some("cuped_days"));
        metric.cuped_days = None;
        assert_eq!(metric.validate(), Ok(()));
    }

    #[test]
    fn name_and_event_are_checked() {
        let mut metric = bookings();
        metric.name = "book ings".into();
        assert_eq!(field_of(&metric).as_deref(), Some("name"));
        let mut metric = bookings();
        metric.event = String::new();
        assert_eq!(field_of(&metric).as_deref(), Some("event"));
        let mut metric = bookings();
        metric.description = Some("x".repeat(MAX_DESCRIPTION_CHARS + 1));
        assert_eq!(field_of(&metric).as_deref(), Some("description"));
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        let err = from_json_str::<Metric>(
            r#"{"name": "m", "kind": "count", "event": "e", "direction": "increase", "windw_hours": 5}"#,
        )
        .expect_err("typo");
        assert_eq!(err.field.as_deref(), Some("windw_hours"));
        let err =
            from_json_str::<Metric>(r#"{"name": "m", "kind": "sum", "event": "e", "direction": "increase"}"#)
                .expect_err("kind");
        assert_eq!(err.field.as_deref(), Some("kind"));
        let err = from_json_str::<Metric>(r#"{"name": "m", "kind": "count", "event": "e"}"#)
            .expect_err("direction");
        assert_eq!(err.field.as_deref(), Some("direction"));
    }

    #[test]
    fn latency_and_quantile_metrics_are_checked() {
        let p95: Metric = from_json_str(
            r#"{"name": "p95_latency", "kind": "quantile", "quantile": 0.95, "source": "exposure_latency",
                "direction": "decrease"}"#,
        )
        .expect("parses");
        assert_eq!(p95.validate(), Ok(()));
        assert!(p95.event.is_empty());
        let text = serde_json::to_string(&p95).expect("serializes");
        assert!(!text.contains("\"event\""), "{text}");
        assert_eq!(from_json_str::<Metric>(&text), Ok(p95.clone()));
        let mean = Metric {
            kind: MetricKind::Mean,
            quantile: None,
            ..p95.clone()
        };
        assert_eq!(mean.validate(), Ok(()));
        let cases = [
            (
                Metric {
                    quantile: None,
                    ..p95.clone()
                },
                "quantile",
            ),
            (
                Metric {
                    quantile: Some(1.0),
                    ..p95.clone()
                },
                "quantile",
            ),
            (
                Metric {
                    quantile: Some(0.5),
                    ..bookings()
                },
                "quantile",
            ),
            (
                Metric {
                    event: "request".into(),
                    ..p95.clone()
                },
                "event",
            ),
            (
                Metric {
                    kind: MetricKind::Count,
                    quantile: None,
                    ..p95.clone()
                },
                "kind",
            ),
            (
                Metric {
                    cuped_days: Some(7),
                    ..mean.clone()
                },
                "cuped_days",
            ),
            (
                Metric {
                    source: MetricSource::Events,
                    ..p95.clone()
                },
                "event",
            ),
        ];
        for (metric, field) in cases {
            assert_eq!(field_of(&metric).as_deref(), Some(field), "{metric:?}");
        }
        let events_quantile = Metric {
            source: MetricSource::Events,
            event: "basket".into(),
            ..p95
        };
        assert_eq!(events_quantile.validate(), Ok(()));
    }

    #[test]
    fn round_trips_through_json() {
        let metric = bookings();
        let text = serde_json::to_string(&metric).expect("serializes");
        assert_eq!(from_json_str::<Metric>(&text), Ok(metric));
    }
}
