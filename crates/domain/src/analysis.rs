//! An experiment's analysis settings (SPEC §7 `analysis`, §8 conventions).

use crate::error::ValidationError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use rctgate_stats::request::Method;
pub use rctgate_stats::Difference;

/// Default significance level.
pub const DEFAULT_ALPHA: f64 = 0.05;
/// Default tolerated relative worsening of a guardrail before it counts as breached.
pub const DEFAULT_GUARDRAIL_MARGIN: f64 = 0.01;
/// Default tuning N* of the sequential method (gbstats' default).
pub const DEFAULT_SEQUENTIAL_TUNING: f64 = 5000.0;

/// Analysis settings. Every field has a default, so `analysis` may be left out entirely.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Analysis {
    /// Statistical method.
    #[serde(default)]
    pub method: Method,
    /// Significance level, in (0, 1).
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Relative or absolute effects.
    #[serde(default)]
    pub difference: Difference,
    /// Count only triggered units, from their first triggered exposure.
    #[serde(default)]
    pub triggered_only: bool,
    /// Units the experiment plans to reach; a `no_ship` needs this sample to have ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_units: Option<u64>,
    /// Minimum days of running before a decision other than `keep_running`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_days: Option<u32>,
    /// Tolerated worsening of a guardrail (relative, >= 0).
    #[serde(default = "default_guardrail_margin")]
    pub guardrail_margin: f64,
    /// N* of the sequential method, > 0.
    #[serde(default = "default_sequential_tuning")]
    pub sequential_tuning: f64,
    /// First exposure time that counts; defaults to when the experiment started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// Last exposure time that counts; defaults to when it stopped, or now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
}

fn default_alpha() -> f64 {
    DEFAULT_ALPHA
}

fn default_guardrail_margin() -> f64 {
    DEFAULT_GUARDRAIL_MARGIN
}

fn default_sequential_tuning() -> f64 {
    DEFAULT_SEQUENTIAL_TUNING
}

impl Default for Analysis {
    fn default() -> Self {
        Analysis {
            method: Method::default(),
            alpha: DEFAULT_ALPHA,
            difference: Difference::default(),
            triggered_only: false,
            planned_units: None,
            min_days: None,
            guardrail_margin: DEFAULT_GUARDRAIL_MARGIN,
            sequential_tuning: DEFAULT_SEQUENTIAL_TUNING,
            start: None,
            end: None,
        }
    }
}

impl Analysis {
    /// Checks the ranges; fields are named relative to `analysis`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(ValidationError::new(
                "alpha",
                "Must be strictly between 0 and 1 (0.05 is usual).",
            ));
        }
        if self.planned_units == Some(0) {
            return Err(ValidationError::new(
                "planned_units",
                "Must be positive; leave it out if there is no plan.",
            ));
        }
        if !(self.guardrail_margin.is_finite() && self.guardrail_margin >= 0.0) {
            return Err(ValidationError::new("guardrail_margin", "Must be a number >= 0."));
        }
        if !(self.sequential_tuning.is_finite() && self.sequential_tuning > 0.0) {
            return Err(ValidationError::new(
                "sequential_tuning",
                "Must be a positive number.",
            ));
        }
        if let (Some(start), Some(end)) = (self.start, self.end) {
            if start >= end {
                return Err(ValidationError::new("end", "Must be later than start."));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::from_json_str;

    fn field_of(analysis: &Analysis) -> Option<String> {
        analysis.validate().err().and_then(|err| err.field)
    }

    #[test]
    fn empty_object_takes_every_default() {
        let analysis: Analysis = from_json_str("{}").expect("parses");
        assert_eq!(analysis, Analysis::default());
        assert_eq!(analysis.method, Method::Sequential);
        assert_eq!(analysis.alpha, 0.05);
        assert_eq!(analysis.difference, Difference::Relative);
        assert!(!analysis.triggered_only);
        assert_eq!(analysis.guardrail_margin, 0.01);
        assert_eq!(analysis.sequential_tuning, 5000.0);
        assert_eq!(analysis.validate(), Ok(()));
    }

    #[test]
    fn spec_example_parses() {
        let analysis: Analysis = from_json_str(
            r#"{"method": "sequential", "alpha": 0.05, "triggered_only": false,
                "planned_units": 200000, "min_days": 7, "guardrail_margin": 0.01,
                "start": "2026-11-01T00:00:00Z", "end": "2026-11-30T00:00:00+01:00"}"#,
        )
        .expect("parses");
        assert_eq!(analysis.planned_units, Some(200_000));
        assert_eq!(analysis.validate(), Ok(()));
    }

    #[test]
    fn alpha_must_be_inside_the_unit_interval() {
        for alpha in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
            let analysis = Analysis {
                alpha,
                ..Analysis::default()
            };
            assert_eq!(field_of(&analysis).as_deref(), Some("alpha"));
        }
    }

    #[test]
    fn ranges_are_checked() {
        let zero_plan = Analysis {
            planned_units: Some(0),
            ..Analysis::default()
        };
        assert_eq!(field_of(&zero_plan).as_deref(), Some("planned_units"));
        let negative_margin = Analysis {
            guardrail_margin: -0.01,
            ..Analysis::default()
        };
        assert_eq!(field_of(&negative_margin).as_deref(), Some("guardrail_margin"));
        let zero_tuning = Analysis {
            sequential_tuning: 0.0,
            ..Analysis::default()
        };
        assert_eq!(field_of(&zero_tuning).as_deref(), Some("sequential_tuning"));
    }

    #[test]
    fn start_must_precede_end() {
        let analysis: Analysis =
            from_json_str(r#"{"start": "2026-11-30T00:00:00Z", "end": "2026-11-01T00:00:00Z"}"#)
                .expect("parses");
        assert_eq!(field_of(&analysis).as_deref(), Some("end"));
    }

    #[test]
    fn bad_values_are_refused_at_parse_time() {
        let err = from_json_str::<Analysis>(r#"{"method": "bayes"}"#).expect_err("method");
        assert_eq!(err.field.as_deref(), Some("method"));
        let err = from_json_str::<Analysis>(r#"{"start": "yesterday"}"#).expect_err("start");
        assert_eq!(err.field.as_deref(), Some("start"));
        let err = from_json_str::<Analysis>(r#"{"alfa": 0.1}"#).expect_err("typo");
        assert_eq!(err.field.as_deref(), Some("alfa"));
    }
}
