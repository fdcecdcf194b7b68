//! Experiment definitions (SPEC §7) and their field rules.
//!
//! The same type is read from JSON (API) and TOML (`rctgate apply`), so every default lives in
//! serde attributes here and nowhere else.

use crate::analysis::Analysis;
use crate::catalog::MetricCatalog;
use crate::design::Design;
use crate::error::ValidationError;
use crate::lifecycle::Status;
use crate::names::{check_identifier, check_length, check_text, MAX_NAME_CHARS};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Longest hypothesis, in characters.
pub const MAX_HYPOTHESIS_CHARS: usize = 4000;
/// Most variants an experiment may have.
pub const MAX_VARIANTS: usize = 32;
/// How far the weights may sum from 1 (rounding in hand-written files).
pub const WEIGHT_SUM_TOLERANCE: f64 = 1e-6;

/// An RCT. `status` and the timestamps are owned by the server: a client may send them back
/// (a GET body can be PUT again unchanged) but the store always overwrites them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Unique key; also the default seed, so it is part of the randomization.
    pub key: String,
    /// What the trial is expected to show, and why.
    pub hypothesis: String,
    /// The model family under test, if the trial is about a model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Hash seed; defaults to the key (see [`Experiment::effective_seed`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// Share of (layer) traffic that enters the experiment, in (0, 1].
    #[serde(default = "full_coverage")]
    pub coverage: f64,
    /// Namespace shared with mutually exclusive experiments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<Layer>,
    /// How the arms relate: `standard` (each treatment against control), or one of Booking's
    /// designs for model-triggered changes (`c_t1_t2`, `disagreement`; see [`Design`]).
    #[serde(default, skip_serializing_if = "Design::is_standard_ref")]
    pub design: Design,
    /// Arms; the first is control.
    pub variants: Vec<Variant>,
    /// Metrics by role.
    pub metrics: MetricRoles,
    /// Analysis settings.
    #[serde(default)]
    pub analysis: Analysis,
    /// QA: units pinned to a variant (unit → variant name), served that arm
    /// whatever the hash says. Their decisions log no exposure, so QA traffic
    /// never enters the analysis.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub forced: std::collections::BTreeMap<String, String>,
    /// Whether OpenFeature (OFREP) evaluations log exposures, as `/v1/decide`
    /// does. Off for flags evaluated where the result is not shown to the
    /// unit (a prefetch, a cache warm-up). Defaults to on.
    #[serde(default = "exposes_by_default", skip_serializing_if = "is_true")]
    pub ofrep_exposures: bool,
    /// Makes this experiment the global holdout of the named layer: its control arm's units
    /// are kept out of every experiment of that layer (they get each one's control payload),
    /// so that comparing its arms measures the cumulative impact of all the layer's launches
    /// (see [`crate::holdout`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holds_out_layer: Option<String>,
    /// Set on the holdout experiment a promotion created (`promote --holdout`): what it holds
    /// out (server-owned; see [`crate::holdout`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<crate::holdout::Holdout>,
    /// Lifecycle state (server-owned).
    #[serde(default)]
    pub status: Status,
    /// When it was created (server-owned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// When it started running (server-owned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it stopped (server-owned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<DateTime<Utc>>,
}

/// QA pins are for a handful of testers, not a population.
pub const MAX_FORCED_UNITS: usize = 1_000;

fn exposes_by_default() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

fn full_coverage() -> f64 {
    1.0
}

/// A namespace `[start, end)` of a named layer; experiments in one layer with disjoint ranges
/// never share a unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// Layer name, hashed to place units in the namespace.
    pub name: String,
    /// Inclusive start, in [0, 1).
    pub start: f64,
    /// Exclusive end, in (start, 1].
    pub end: f64,
}

/// One arm of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Unique, non-empty name.
    pub name: String,
    /// Share of the experiment's units, > 0; all weights sum to 1.
    pub weight: f64,
    /// The model version this arm serves, if the trial is about a model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// What to serve (a model id, a prompt, a config): any JSON, returned by assignment.
    #[serde(default)]
    pub payload: serde_json::Value,
}

/// The experiment's metrics by role; each names a metric of the catalog, and a metric takes at
/// most one role (a guardrail that is also the primary would judge the same evidence twice).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricRoles {
    /// The business metric that decides `ship`.
    pub primary: String,
    /// Metrics that must not get significantly worse than the margin.
    #[serde(default)]
    pub guardrails: Vec<String>,
    /// Leading indicators; they never make a ship.
    #[serde(default)]
    pub proxies: Vec<String>,
    /// Reported, multiple-testing adjusted with the primary, not decisive.
    #[serde(default)]
    pub secondary: Vec<String>,
}

impl MetricRoles {
    /// Every metric name with its field path, primary first.
    pub fn named(&self) -> Vec<(String, &str)> {
        let mut named = vec![("primary".to_string(), self.primary.as_str())];
        for (role, names) in [
            ("guardrails", &self.guardrails),
            ("proxies", &self.proxies),
            ("secondary", &self.secondary),
        ] {
            for (index, name) in names.iter().enumerate() {
                named.push((format!("{role}[{index}]"), name.as_str()));
            }
        }
        named
    }
}

impl Experiment {
    /// The seed units are hashed with: the explicit seed, or the key.
    pub fn effective_seed(&self) -> &str {
        self.seed.as_deref().unwrap_or(&self.key)
    }

    /// Fills defaults that depend on other fields (the seed), so a stored experiment shows the
    /// seed it is randomized with.
    pub fn normalize(&mut self) {
        if self.seed.is_none() {
            self.seed = Some(self.key.clone());
        }
    }

    /// Variant names in order, control first.
    pub fn variant_names(&self) -> Vec<String> {
        self.variants.iter().map(|variant| variant.name.clone()).collect()
    }

    /// Checks every field rule; `metrics` says which metric names exist.
    pub fn validate(&self, metrics: &impl MetricCatalog) -> Result<(), ValidationError> {
        check_identifier("key", &self.key)?;
        if self.hypothesis.trim().is_empty() {
            return Err(ValidationError::new(
                "hypothesis",
                "State what the trial should show; an RCT without a hypothesis cannot be judged.",
            ));
        }
        check_length("hypothesis", &self.hypothesis, MAX_HYPOTHESIS_CHARS)?;
        if let Some(model) = &self.model {
            check_identifier("model", model)?;
        }
        if let Some(seed) = &self.seed {
            check_text("seed", seed, MAX_NAME_CHARS)?;
        }
        if !(self.coverage > 0.0 && self.coverage <= 1.0) {
            return Err(ValidationError::new(
                "coverage",
                "Must be greater than 0 and at most 1.",
            ));
        }
        if let Some(layer) = &self.layer {
            layer.validate().map_err(|err| err.inside("layer"))?;
        }
        self.validate_variants()?;
        if let Some(layer) = &self.holds_out_layer {
            self.validate_layer_holdout(layer)?;
        }
        let versions: Vec<Option<&str>> = self.variants.iter().map(|v| v.model_version.as_deref()).collect();
        self.design.validate(&versions, self.analysis.triggered_only)?;
        self.validate_forced()?;
        self.validate_metric_roles(metrics)?;
        self.analysis.validate().map_err(|err| err.inside("analysis"))
    }

    /// A layer's holdout sees every unit of the layer and has two arms, the held-out share
    /// first.
    fn validate_layer_holdout(&self, layer: &str) -> Result<(), ValidationError> {
        check_identifier("holds_out_layer", layer)?;
        if self.layer.is_some() {
            return Err(ValidationError::new(
                "layer",
                "A layer's global holdout must see all of the layer's units: it cannot run in a range of a layer itself.",
            ));
        }
        if self.variants.len() != 2 || !self.design.is_standard() {
            return Err(ValidationError::new(
                "variants",
                "A layer's global holdout has two arms in the standard design: the held-out units (control), then the rest.",
            ));
        }
        crate::holdout::check_share(
            "variants[0].weight",
            self.variants[0].weight,
            "of the layer's units out of its experiments",
        )
    }

    fn validate_forced(&self) -> Result<(), ValidationError> {
        if self.forced.len() > MAX_FORCED_UNITS {
            return Err(ValidationError::new(
                "forced",
                format!("At most {MAX_FORCED_UNITS} units can be pinned for QA."),
            ));
        }
        for (unit, variant) in &self.forced {
            let field = format!("forced.{unit}");
            check_text(&field, unit, MAX_NAME_CHARS)?;
            if !self.variants.iter().any(|v| &v.name == variant) {
                return Err(ValidationError::new(
                    field,
                    format!("Names variant {variant:?}, which this experiment does not have."),
                ));
            }
        }
        Ok(())
    }

    fn validate_variants(&self) -> Result<(), ValidationError> {
        if self.variants.len() < 2 {
            return Err(ValidationError::new(
                "variants",
                "An experiment needs at least two variants: control first, then a candidate.",
            ));
        }
        if self.variants.len() > MAX_VARIANTS {
            return Err(ValidationError::new(
                "variants",
                format!("At most {MAX_VARIANTS} variants are allowed."),
            ));
        }
        let mut seen = HashSet::new();
        for (index, variant) in self.variants.iter().enumerate() {
            let at = format!("variants[{index}]");
            variant.validate().map_err(|err| err.inside(&at))?;
            if !seen.insert(variant.name.as_str()) {
                return Err(ValidationError::new(
                    format!("{at}.name"),
                    format!(
                        "Variant name {:?} is used twice; names must be unique.",
                        variant.name
                    ),
                ));
            }
        }
        let total: f64 = self.variants.iter().map(|variant| variant.weight).sum();
        if (total - 1.0).abs() > WEIGHT_SUM_TOLERANCE {
            return Err(ValidationError::new(
                "variants",
                format!("The weights sum to {total}; they must sum to 1."),
            ));
        }
        Ok(())
    }

    fn validate_metric_roles(&self, metrics: &impl MetricCatalog) -> Result<(), ValidationError> {
        let mut seen: HashSet<&str> = HashSet::new();
        for (field, name) in self.metrics.named() {
            let field = format!("metrics.{field}");
            if !metrics.has_metric(name) {
                return Err(ValidationError::new(
                    field,
                    format!("No metric named {name:?} exists; create it first."),
                ));
            }
            if !seen.insert(name) {
                return Err(ValidationError::new(
                    field,
                    format!(
                        "Metric {name:?} already has a role in this experiment; a metric takes one role."
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl Layer {
    fn validate(&self) -> Result<(), ValidationError> {
        check_identifier("name", &self.name)?;
        if !(self.start >= 0.0 && self.start < 1.0) {
            return Err(ValidationError::new("start", "Must be in [0, 1)."));
        }
        if !(self.end > self.start && self.end <= 1.0) {
            return Err(ValidationError::new(
                "end",
                "Must be greater than start and at most 1.",
            ));
        }
        Ok(())
    }
}

impl Variant {
    fn validate(&self) -> Result<(), ValidationError> {
        check_text("name", &self.name, MAX_NAME_CHARS)?;
        if !(self.weight.is_finite() && self.weight > 0.0) {
            return Err(ValidationError::new("weight", "Must be a positive number."));
        }
        if let Some(version) = &self.model_version {
            check_text("model_version", version, MAX_NAME_CHARS)?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::json::from_json_str;
    use std::collections::BTreeSet;

    pub(crate) const SPEC_EXAMPLE: &str = r#"{"key": "ranker-v7", "hypothesis": "Better ranking sells more rooms.",
        "model": "hotel-ranker", "seed": "ranker-v7", "coverage": 1.0,
        "layer": {"name": "search", "start": 0.0, "end": 0.5},
        "variants": [{"name": "control", "weight": 0.5, "model_version": "v6", "payload": {"m": "v6"}},
                     {"name": "treatment", "weight": 0.5, "model_version": "v7", "payload": {"m": "v7"}}],
        "metrics": {"primary": "bookings", "guardrails": ["cancellations"], "proxies": ["clicks"],
                    "secondary": []},
        "analysis": {"method": "sequential", "alpha": 0.05, "triggered_only": false,
                     "planned_units": 200000, "min_days": 7, "guardrail_margin": 0.01}}"#;

    fn catalog() -> BTreeSet<String> {
        ["bookings", "cancellations", "clicks", "revenue"]
            .into_iter()
            .map(String::from)
            .collect()
    }

    fn example() -> Experiment {
        from_json_str(SPEC_EXAMPLE).expect("spec example parses")
    }

    fn field_of(experiment: &Experiment) -> Option<String> {
        experiment.validate(&catalog()).err().and_then(|err| err.field)
    }

    #[test]
    fn spec_example_is_valid() {
        assert_eq!(example().validate(&catalog()), Ok(()));
    }

    #[test]
    fn minimal_experiment_takes_defaults() {
        let mut experiment: Experiment = from_json_str(
            r#"{"key": "k", "hypothesis": "h",
                "variants": [{"name": "a", "weight": 0.5}, {"name": "b", "weight": 0.5}],
                "metrics": {"primary": "bookings"}}"#,
        )
        .expect("parses");
        assert_eq!(experiment.coverage, 1.0);
        assert_eq!(experiment.layer, None);
        assert_eq!(experiment.status, Status::Draft);
        assert_eq!(experiment.analysis, Analysis::default());
        assert_eq!(experiment.variants[0].payload, serde_json::Value::Null);
        assert_eq!(experiment.effective_seed(), "k");
        experiment.normalize();
        assert_eq!(experiment.seed.as_deref(), Some("k"));
        assert_eq!(experiment.validate(&catalog()), Ok(()));
    }

    #[test]
    fn key_and_hypothesis_are_required_and_checked() {
        let mut experiment = example();
        experiment.key = "ranker v7".into();
        assert_eq!(field_of(&experiment).as_deref(), Some("key"));
        let mut experiment = example();
        experiment.hypothesis = "  ".into();
        assert_eq!(field_of(&experiment).as_deref(), Some("hypothesis"));
    }

    #[test]
    fn coverage_must_be_in_zero_one() {
        for coverage in [0.0, -0.5, 1.01, f64::NAN] {
            let mut experiment = example();
            experiment.coverage = coverage;
            assert_eq!(field_of(&experiment).as_deref(), Some("coverage"));
        }
        let mut experiment = example();
        experiment.coverage = 0.01;
        assert_eq!(field_of(&experiment), None);
    }

    #[test]
    fn layer_range_must_be_inside_unit_interval() {
        for (start, end, field) in [
            (-0.1, 0.5, "layer.start"),
            (0.5, 0.5, "layer.end"),
            (0.6, 0.5, "layer.end"),
            (0.0, 1.1, "layer.end"),
            (1.0, 1.0, "layer.start"),
        ] {
            let mut experiment = example();
            experiment.layer = Some(Layer {
                name: "search".into(),
                start,
                end,
            });
            assert_eq!(field_of(&experiment).as_deref(), Some(field), "{start}..{end}");
        }
        let mut experiment = example();
        experiment.layer = Some(Layer {
            name: "search".into(),
            start: 0.5,
            end: 1.0,
        });
        assert_eq!(field_of(&experiment), None);
    }

    #[test]
    fn a_layer_holdout_sees_the_whole_layer_with_two_arms_holding_out_at_most_half() {
        let holdout = || {
            let mut experiment = example();
            experiment.layer = None;
            experiment.holds_out_layer = Some("search".into());
            experiment.variants[0].weight = 0.1;
            experiment.variants[1].weight = 0.9;
            experiment
        };
        assert_eq!(field_of(&holdout()), None);
        let mut experiment = holdout();
        experiment.layer = example().layer;
        assert_eq!(field_of(&experiment).as_deref(), Some("layer"));
        let mut experiment = holdout();
        experiment.holds_out_layer = Some("no spaces".into());
        assert_eq!(field_of(&experiment).as_deref(), Some("holds_out_layer"));
        let mut experiment = holdout();
        experiment.variants[0].weight = 0.6;
        experiment.variants[1].weight = 0.4;
        assert_eq!(field_of(&experiment).as_deref(), Some("variants[0].weight"));
        let mut experiment = holdout();
        let mut third = experiment.variants[1].clone();
        third.name = "third".into();
        third.weight = 0.4;
        experiment.variants[1].weight = 0.5;
        experiment.variants.push(third);
        assert_eq!(field_of(&experiment).as_deref(), Some("variants"));
    }

    #[test]
    fn needs_two_variants() {
        let mut experiment = example();
        experiment.variants.truncate(1);
        experiment.variants[0].weight = 1.0;
        assert_eq!(field_of(&experiment).as_deref(), Some("variants"));
    }

    #[test]
    fn variant_names_must_be_unique_and_non_empty() {
        let mut experiment = example();
        experiment.variants[1].name = "control".into();
        assert_eq!(field_of(&experiment).as_deref(), Some("variants[1].name"));
        let mut experiment = example();
        experiment.variants[0].name = String::new();
        assert_eq!(field_of(&experiment).as_deref(), Some("variants[0].name"));
    }

    #[test]
    fn weights_must_be_positive_and_sum_to_one() {
        let mut experiment = example();
        experiment.variants[1].weight = 0.0;
        assert_eq!(field_of(&experiment).as_deref(), Some("variants[1].weight"));
        let mut experiment = example();
        experiment.variants[1].weight = 0.6;
        assert_eq!(field_of(&experiment).as_deref(), Some("variants"));
        let mut experiment = example();
        experiment.variants[0].weight = 0.5 + 5e-7;
        assert_eq!(field_of(&experiment), None, "within tolerance");
        let thirds: Experiment = from_json_str(
            r#"{"key": "k", "hypothesis": "h",
                "variants": [{"name": "a", "weight": 0.333333}, {"name": "b", "weight": 0.333333},
                             {"name": "c", "weight": 0.333334}],
                "metrics": {"primary": "bookings"}}"#,
        )
        .expect("parses");
        assert_eq!(field_of(&thirds), None);
    }

    #[test]
    fn metrics_must_exist_and_take_one_role() {
        let mut experiment = example();
        experiment.metrics.primary = "revenu".into();
        assert_eq!(field_of(&experiment).as_deref(), Some("metrics.primary"));
        let mut experiment = example();
        experiment.metrics.guardrails.push("nope".into());
        assert_eq!(field_of(&experiment).as_deref(), Some("metrics.guardrails[1]"));
        let mut experiment = example();
        experiment.metrics.secondary.push("bookings".into());
        assert_eq!(field_of(&experiment).as_deref(), Some("metrics.secondary[0]"));
    }

    #[test]
    fn analysis_errors_are_nested() {
        let mut experiment = example();
        experiment.analysis.alpha = 2.0;
        assert_eq!(field_of(&experiment).as_deref(), Some("analysis.alpha"));
    }

    #[test]
    fn unknown_fields_are_refused_but_payload_is_free() {
        let with_typo = SPEC_EXAMPLE.replace("\"coverage\"", "\"coverge\"");
        let err = from_json_str::<Experiment>(&with_typo).expect_err("typo");
        assert_eq!(err.field.as_deref(), Some("coverge"));
        let nested_typo = SPEC_EXAMPLE.replace("\"model_version\": \"v6\"", "\"modelversion\": \"v6\"");
        let err = from_json_str::<Experiment>(&nested_typo).expect_err("typo");
        assert_eq!(err.field.as_deref(), Some("variants[0].modelversion"));
        let free_payload = SPEC_EXAMPLE.replace("{\"m\": \"v6\"}", "{\"anything\": [1, {\"x\": null}]}");
        assert!(from_json_str::<Experiment>(&free_payload).is_ok());
    }

    #[test]
    fn server_owned_fields_may_be_sent_back() {
        let mut experiment = example();
        experiment.status = Status::Running;
        experiment.created_at = Some(Utc::now());
        let text = serde_json::to_string(&experiment).expect("serializes");
        assert_eq!(from_json_str::<Experiment>(&text), Ok(experiment));
    }
}
