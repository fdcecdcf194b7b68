//! Value saturation (SPEC §10, issue 23.4): a model's versions over time, each with the lift
//! its trial measured, the lift its holdout still measures, and the offline gain it promised;
//! the lift compounded over the production history; and `value_saturation` when the last k
//! trials bought no significant lift while their offline gains kept rising (Bernardi et al.,
//! KDD 2019, §4.2: successive models buy less and less, whatever offline metrics say).
//!
//! Pure: the store gathers the entries and promotions.

use crate::decision::{Diagnostic, Severity};
use rctgate_domain::Direction;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// How many recent trials `value_saturation` looks at unless asked otherwise.
pub const DEFAULT_SATURATION_TRIALS: usize = 3;

/// The long-term lift of a version, from its holdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LongTermLift {
    /// The holdout experiment.
    pub experiment: String,
    pub effect: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// The last daily look.
    pub date: String,
}

/// One concluded trial of the model, in the order the trials concluded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub experiment: String,
    /// The candidate.
    pub version: String,
    pub control_version: Option<String>,
    /// When the trial stopped (RFC 3339).
    pub concluded_at: String,
    pub verdict: String,
    pub primary_metric: Option<String>,
    pub direction: Direction,
    /// The trial's lift and interval.
    pub lift: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Whether the interval lies on the good side of zero.
    pub significant: bool,
    /// Relative offline gain over control, per offline metric.
    pub offline_gain: BTreeMap<String, f64>,
    /// Its holdout's latest look, once it is production with a holdout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_term: Option<LongTermLift>,
}

impl TimelineEntry {
    /// Whether the trial's interval lies on the good side of zero.
    pub fn is_significant(direction: Direction, ci_low: Option<f64>, ci_high: Option<f64>) -> bool {
        match direction {
            Direction::Increase => ci_low.is_some_and(|low| low > 0.0),
            Direction::Decrease => ci_high.is_some_and(|high| high < 0.0),
        }
    }

    /// Whether the candidate promised an offline gain: it improved on every offline metric
    /// both versions report (and reports at least one).
    fn promised_gain(&self) -> bool {
        !self.offline_gain.is_empty() && self.offline_gain.values().all(|gain| *gain > 0.0)
    }
}

/// One move of the production pointer, as the timeline reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductionStep {
    pub version: String,
    pub previous: Option<String>,
    /// RFC 3339.
    pub at: String,
    /// `trial`, `rollback` or `override`.
    pub basis: String,
    /// The trial's relative lift on trial evidence.
    pub lift: Option<f64>,
    /// The lift of production over the model's first measured baseline, compounded:
    /// (1 + before) * (1 + lift) - 1 on trial evidence; a rollback returns to the figure the
    /// version had; the first version is the baseline (0, or its trial's lift over no model);
    /// a later override (or an absolute lift) leaves it unmeasured (`null`).
    pub cumulative_lift: Option<f64>,
}

/// `GET /v1/models/{name}/monitoring`'s `timeline`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueTimeline {
    /// Concluded trials, oldest first.
    pub trials: Vec<TimelineEntry>,
    /// Production history with the compounded lift.
    pub production: Vec<ProductionStep>,
    /// The compounded lift of the current production version (`null` when unmeasured).
    pub cumulative_lift: Option<f64>,
    /// The trials `value_saturation` looks at.
    pub saturation_window: usize,
    pub diagnostics: Vec<Diagnostic>,
}

/// Builds the timeline: `trials` in conclusion order; `steps` in promotion order, each with
/// `lift` set on trial evidence when the lift is relative (else `None`).
pub fn timeline(
    model: &str,
    trials: Vec<TimelineEntry>,
    steps: Vec<ProductionStep>,
    window: usize,
) -> ValueTimeline {
    let production = compound(steps);
    let cumulative_lift = production.last().and_then(|step| step.cumulative_lift);
    let mut diagnostics = Vec::new();
    if window > 0 && trials.len() >= window {
        let recent = &trials[trials.len() - window..];
        if recent.iter().all(|t| !t.significant && t.promised_gain()) {
            let names: Vec<String> = recent
                .iter()
                .map(|t| format!("{} ({})", t.version, t.experiment))
                .collect();
            diagnostics.push(Diagnostic {
                kind: "value_saturation".into(),
                severity: Severity::Warning,
                message: format!(
                    "The last {window} trials of {model} ({}) brought no significant lift while every one \
                     promised an offline gain: better offline models no longer buy business value here; \
                     look for other levers (new signals, other surfaces, latency) before another model.",
                    names.join(", ")
                ),
            });
        }
    }
    ValueTimeline {
        trials,
        production,
        cumulative_lift,
        saturation_window: window,
        diagnostics,
    }
}

fn compound(mut steps: Vec<ProductionStep>) -> Vec<ProductionStep> {
    let mut reached: HashMap<String, Option<f64>> = HashMap::new();
    for step in &mut steps {
        let before = step
            .previous
            .as_ref()
            .map_or(Some(0.0), |previous| reached.get(previous).copied().flatten());
        step.cumulative_lift = match step.basis.as_str() {
            "trial" => match (before, step.lift) {
                (Some(before), Some(lift)) => Some((1.0 + before) * (1.0 + lift) - 1.0),
                _ => None,
            },
            "rollback" => reached.get(&step.version).copied().flatten(),
            // The first production version is the baseline, however it got there.
            _ if step.previous.is_none() => Some(0.0),
            _ => None,
        };
        reached.insert(step.version.clone(), step.cumulative_lift);
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(version: &str, lift: f64, low: f64, gain: f64) -> TimelineEntry {
        TimelineEntry {
            experiment: format!("t-{version}"),
            version: version.into(),
            control_version: None,
            concluded_at: "2026-11-01T00:00:00Z".into(),
            verdict: "ship".into(),
            primary_metric: Some("bookings".into()),
            direction: Direction::Increase,
            lift: Some(lift),
            ci_low: Some(low),
            ci_high: Some(lift + (lift - low)),
            significant: TimelineEntry::is_significant(
                Direction::Increase,
                Some(low),
                Some(lift + (lift - low)),
            ),
            offline_gain: BTreeMap::from([("auc".to_string(), gain)]),
            long_term: None,
        }
    }

    fn step(version: &str, previous: Option<&str>, basis: &str, lift: Option<f64>) -> ProductionStep {
        ProductionStep {
            version: version.into(),
            previous: previous.map(Into::into),
            at: "2026-11-01T00:00:00Z".into(),
            basis: basis.into(),
            lift,
            cumulative_lift: None,
        }
    }

    #[test]
    fn saturation_needs_k_flat_trials_that_promised_offline_gains() {
        let flat = vec![
            trial("v2", 0.05, 0.02, 0.01),
            trial("v3", 0.01, -0.01, 0.02),
            trial("v4", 0.0, -0.02, 0.03),
            trial("v5", 0.005, -0.01, 0.04),
        ];
        let card = timeline("ranker", flat.clone(), Vec::new(), 3);
        assert_eq!(card.diagnostics.len(), 1);
        assert!(card.diagnostics[0]
            .message
            .contains("v3 (t-v3), v4 (t-v4), v5 (t-v5)"));
        // A significant lift among the last three, or an offline loss: no saturation.
        let mut won = flat.clone();
        won[2] = trial("v4", 0.03, 0.01, 0.03);
        assert!(timeline("ranker", won, Vec::new(), 3).diagnostics.is_empty());
        let mut lost = flat;
        lost[3].offline_gain.insert("auc".into(), -0.01);
        assert!(timeline("ranker", lost, Vec::new(), 3).diagnostics.is_empty());
    }

    #[test]
    fn lifts_compound_over_production_and_rollbacks_return() {
        let steps = vec![
            step("v1", None, "override", None),
            step("v2", Some("v1"), "trial", Some(0.10)),
            step("v3", Some("v2"), "trial", Some(0.05)),
            step("v2", Some("v3"), "rollback", None),
        ];
        let card = timeline("ranker", Vec::new(), steps, 3);
        let figures: Vec<Option<f64>> = card.production.iter().map(|s| s.cumulative_lift).collect();
        assert_eq!(figures[0], Some(0.0), "the first version is the baseline");
        // A later override is an unmeasured change: what follows it is unmeasured too.
        let steps = vec![
            step("v1", None, "override", None),
            step("v0", Some("v1"), "override", None),
            step("v3", Some("v0"), "trial", Some(0.05)),
        ];
        let figures: Vec<Option<f64>> = timeline("ranker", Vec::new(), steps, 3)
            .production
            .iter()
            .map(|s| s.cumulative_lift)
            .collect();
        assert_eq!(figures, vec![Some(0.0), None, None]);
        let steps = vec![
            step("v1", None, "override", None),
            step("v2", Some("v1"), "trial", Some(0.10)),
            step("v3", Some("v2"), "trial", Some(0.05)),
            step("v2", Some("v3"), "rollback", None),
        ];
        let card = timeline("ranker", Vec::new(), steps, 3);
        let figures: Vec<f64> = card.production.iter().filter_map(|s| s.cumulative_lift).collect();
        assert_eq!(figures.len(), 4);
        assert!((figures[1] - 0.10).abs() < 1e-12);
        assert!((figures[2] - 0.155).abs() < 1e-12);
        assert!(
            (figures[3] - 0.10).abs() < 1e-12,
            "a rollback returns to the version's figure"
        );
        assert_eq!(card.cumulative_lift, Some(figures[3]));
    }
}
