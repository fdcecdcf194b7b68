//! Watching a launch through its holdout (issue 23): the holdout experiment's primary and
//! guardrails as daily cumulative series, and the alerts they raise.
//!
//! The series come from the holdout's own scorecards (one per watched metric, each with that
//! metric as primary), analysed with the always-valid sequential method, so reading them every
//! day keeps the false-alarm rate at alpha however long the holdout runs. An alert is raised
//! at the first daily look where it holds:
//! - `lift_reversed`: the primary's interval lies entirely on the bad side of zero;
//! - `lift_decayed`: it lies entirely on the bad side of the trial's interval (the lift the
//!   trial promised is no longer there, though some may be);
//! - `guardrail_breached`: a guardrail's good-side bound is worse than the margin, as the
//!   trial's own guardrail check reads it.
//!
//! Pure: the store computes the scorecards, the server stores and sends the alerts.

use crate::scorecard::CumulativePoint;
use rctgate_domain::{Difference, Direction, Holdout};
use serde::{Deserialize, Serialize};

/// The interval a trial measured for the promoted version's primary metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrialInterval {
    pub effect: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

/// A metric watched through the holdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchedMetric {
    pub name: String,
    /// `primary` or `guardrail`.
    pub role: String,
    pub direction: Direction,
    /// For a guardrail: the tolerated worsening in the effect's units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<f64>,
    /// The promoted version's effect over the held-out units at the end of each day.
    pub series: Vec<WatchPoint>,
}

/// One daily look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchPoint {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Units in the holdout experiment by then.
    pub units: u64,
    pub effect: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

/// What an alert says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    LiftReversed,
    LiftDecayed,
    GuardrailBreached,
}

impl AlertKind {
    /// The stable name (`lift_reversed`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::LiftReversed => "lift_reversed",
            AlertKind::LiftDecayed => "lift_decayed",
            AlertKind::GuardrailBreached => "guardrail_breached",
        }
    }
}

/// One alert of a holdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: AlertKind,
    /// The holdout experiment.
    pub experiment: String,
    pub model: String,
    /// The promoted version.
    pub version: String,
    pub metric: String,
    /// The first daily look where it held.
    pub date: String,
    /// The look's effect and interval.
    pub effect: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Whether it still holds at the latest look.
    pub active: bool,
    /// One sentence with the numbers.
    pub message: String,
}

/// `GET /v1/models/{name}/monitoring`'s `holdout`: the launch as its holdout shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutWatch {
    /// The holdout experiment.
    pub experiment: String,
    #[serde(flatten)]
    pub holdout: Holdout,
    /// Relative or absolute effects (the trial's choice).
    pub difference: Difference,
    /// The trial's interval for the primary, when it had one.
    pub trial_interval: Option<TrialInterval>,
    /// Primary first, then the guardrails.
    pub metrics: Vec<WatchedMetric>,
    pub alerts: Vec<Alert>,
}

/// The watched metric's points for the holdout's treatment arm.
pub fn watch_points(series: &[CumulativePoint], treatment: &str) -> Vec<WatchPoint> {
    series
        .iter()
        .filter_map(|point| {
            let effect = point.effects.iter().find(|e| e.variant == treatment)?;
            Some(WatchPoint {
                date: point.date.clone(),
                units: point.units,
                effect: effect.effect,
                ci_low: effect.ci_low,
                ci_high: effect.ci_high,
            })
        })
        .collect()
}

impl HoldoutWatch {
    /// The watch of `experiment` over `metrics` (primary first), with its alerts.
    pub fn new(
        experiment: String,
        holdout: Holdout,
        difference: Difference,
        trial_interval: Option<TrialInterval>,
        metrics: Vec<WatchedMetric>,
    ) -> HoldoutWatch {
        let mut watch = HoldoutWatch {
            experiment,
            holdout,
            difference,
            trial_interval,
            metrics,
            alerts: Vec::new(),
        };
        watch.alerts = watch.raise();
        watch
    }

    fn raise(&self) -> Vec<Alert> {
        let mut alerts = Vec::new();
        for metric in &self.metrics {
            // Each alert and the bound the whole interval must lie beyond, on the bad side.
            let mut checks: Vec<(AlertKind, f64)> = Vec::new();
            if metric.role == "primary" {
                checks.push((AlertKind::LiftReversed, 0.0));
                if let Some(trial) = self.trial_interval {
                    // The trial's bound on the bad side: the least lift it promised.
                    let promised = match metric.direction {
                        Direction::Increase => trial.ci_low,
                        Direction::Decrease => trial.ci_high,
                    };
                    checks.push((AlertKind::LiftDecayed, promised));
                }
            } else {
                // The guardrail check of `build`: the good-side bound is worse than the margin.
                let margin = metric.margin.unwrap_or(0.0);
                let bound = match metric.direction {
                    Direction::Increase => -margin,
                    Direction::Decrease => margin,
                };
                checks.push((AlertKind::GuardrailBreached, bound));
            }
            for (kind, bound) in checks {
                let holds = |p: &&WatchPoint| worse_than(metric.direction, p, bound);
                let Some(first) = metric.series.iter().find(holds) else {
                    continue;
                };
                let active = metric.series.last().as_ref().is_some_and(holds);
                alerts.push(Alert {
                    kind,
                    experiment: self.experiment.clone(),
                    model: self.holdout.model.clone(),
                    version: self.holdout.version.clone(),
                    metric: metric.name.clone(),
                    date: first.date.clone(),
                    effect: first.effect,
                    ci_low: first.ci_low,
                    ci_high: first.ci_high,
                    active,
                    message: self.message(kind, metric, first),
                });
            }
        }
        alerts
    }

    fn message(&self, kind: AlertKind, metric: &WatchedMetric, point: &WatchPoint) -> String {
        let shown = |effect: f64, low: Option<f64>, high: Option<f64>| {
            crate::format::effect_with_interval(effect, low, high, self.difference)
        };
        let interval = shown(point.effect, point.ci_low, point.ci_high);
        let (model, version, previous) = (&self.holdout.model, &self.holdout.version, &self.holdout.previous);
        let (name, date) = (&metric.name, &point.date);
        match kind {
            AlertKind::LiftReversed => format!(
                "{model} {version} now does worse than {previous} on {name}: {interval} over the held-out units on {date}; the launch lost its lift."
            ),
            AlertKind::LiftDecayed => {
                let trial = self.trial_interval.map_or(String::new(), |t| {
                    format!(" (trial {}: {})", self.holdout.trial, shown(t.effect, Some(t.ci_low), Some(t.ci_high)))
                });
                format!("{model} {version}'s lift on {name} has decayed below what its trial measured{trial}: {interval} on {date}.")
            }
            AlertKind::GuardrailBreached => format!(
                "Guardrail {name} of {model} {version} is worse than its margin ({}) against {previous}: {interval} on {date}.",
                crate::format::effect(metric.margin.unwrap_or(0.0), self.difference)
            ),
        }
    }
}

/// Whether the whole interval lies on the bad side of `bound`.
fn worse_than(direction: Direction, point: &WatchPoint, bound: f64) -> bool {
    match direction {
        Direction::Increase => point.ci_high.is_some_and(|high| high < bound),
        Direction::Decrease => point.ci_low.is_some_and(|low| low > bound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(date: &str, effect: f64, low: f64, high: f64) -> WatchPoint {
        WatchPoint {
            date: date.into(),
            units: 100,
            effect,
            ci_low: Some(low),
            ci_high: Some(high),
        }
    }

    fn holdout() -> Holdout {
        Holdout {
            model: "ranker".into(),
            version: "v8".into(),
            previous: "v7".into(),
            share: 0.05,
            trial: "ranker-v8".into(),
        }
    }

    #[test]
    fn alerts_are_raised_at_the_first_look_where_they_hold() {
        let primary = WatchedMetric {
            name: "bookings".into(),
            role: "primary".into(),
            direction: Direction::Increase,
            margin: None,
            series: vec![
                point("2026-11-01", 0.04, 0.01, 0.07),
                point("2026-11-02", 0.01, 0.0, 0.019),
                point("2026-11-03", -0.02, -0.03, -0.01),
                point("2026-11-04", -0.01, -0.03, 0.01),
            ],
        };
        let guardrail = WatchedMetric {
            name: "latency".into(),
            role: "guardrail".into(),
            direction: Direction::Decrease,
            margin: Some(0.01),
            series: vec![
                point("2026-11-01", 0.0, -0.01, 0.01),
                point("2026-11-02", 0.05, 0.02, 0.08),
            ],
        };
        let trial = TrialInterval {
            effect: 0.03,
            ci_low: 0.02,
            ci_high: 0.04,
        };
        let watch = HoldoutWatch::new(
            "h".into(),
            holdout(),
            Difference::Relative,
            Some(trial),
            vec![primary, guardrail],
        );
        let found: Vec<(AlertKind, &str, bool)> = watch
            .alerts
            .iter()
            .map(|a| (a.kind, a.date.as_str(), a.active))
            .collect();
        assert_eq!(
            found,
            vec![
                (AlertKind::LiftReversed, "2026-11-03", false),
                (AlertKind::LiftDecayed, "2026-11-02", true),
                (AlertKind::GuardrailBreached, "2026-11-02", true),
            ]
        );
        assert!(
            watch.alerts[1].message.contains("ranker-v8"),
            "{}",
            watch.alerts[1].message
        );
    }
}
