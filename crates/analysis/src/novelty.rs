//! Novelty and primacy (issue 23.3): the primary's effect by days since each unit's first
//! exposure, and whether the first days' effect differs from the later days'.
//!
//! A trial's average effect mixes how units react at first with how they react once used to
//! the change. A novelty effect (curiosity about anything new) makes the first days look
//! better than the change will be; a primacy effect (users attached to the old way) makes
//! them look worse. Both mean the trial's average is not the long-run effect.
//!
//! Units count when they were observed for the whole horizon of K days (at most
//! [`NOVELTY_DAYS`], fewer in a shorter trial or when the metric counts events for fewer days
//! after first exposure, at least [`MIN_NOVELTY_DAYS`]), so every day's
//! effect is on the same units. Day k's per-unit value is the metric over
//! `[t0 + k days, t0 + k + 1 days)`: whether it converted that day (proportion), its events
//! (count) or its values' sum (mean). The test is on each unit's own difference
//! `d = mean over days [0, E) - mean over days [E, K)`, with E = max(1, K / 4): Welch's test
//! of d between the first treatment and control asks whether the effect in the first days
//! differs from the effect later, and, as d is within unit, the days' correlation within a
//! unit does not bias it. Ratio and quantile metrics are not split by day.
//!
//! Pure: `Plan::novelty_sql` gives the rows, the store attaches the result.

use crate::decision::{Diagnostic, Severity};
use crate::plan::{ExposureWindow, Plan};
use crate::scorecard::BucketEffect;
use rctgate_domain::{Difference, Direction, Experiment, Method};
use rctgate_stats::request::{self, StatsRequest, VariantInput};
use rctgate_stats::Alternative;

/// The longest horizon of days since first exposure.
pub const NOVELTY_DAYS: i64 = 14;
/// The shortest: with fewer days, early and late cannot both be read.
pub const MIN_NOVELTY_DAYS: i64 = 4;

/// The diagnostics this module raises.
pub const DIAGNOSTICS: [&str; 2] = ["novelty_effect", "primacy_effect"];

pub use crate::plan::{NOVELTY_EARLY_MINUS_LATE as EARLY_MINUS_LATE, NOVELTY_UNITS as UNITS};
pub use crate::scorecard::{Novelty, NoveltyDay};

/// One row of `Plan::novelty_sql`: a variant's sums for one day since first exposure, or
/// (by [`EARLY_MINUS_LATE`] and [`UNITS`]) of the early-minus-late difference and its units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoveltyRow {
    pub variant: usize,
    pub day: i64,
    pub sum: f64,
    pub sum_squares: f64,
}

/// The days `plan`'s primary is split into: (K, E), or `None` when the exposure window or
/// the metric's own window (events count only that long after first exposure) is too short,
/// or the window is open.
pub fn horizon(plan: &Plan) -> Option<(i64, i64)> {
    let window: &ExposureWindow = &plan.window;
    let metric_days = plan.metrics.first()?.metric.window_hours / 24.0;
    let days = (window.end - window.start?)
        .num_days()
        .min(NOVELTY_DAYS)
        .min(metric_days.floor() as i64);
    (days >= MIN_NOVELTY_DAYS).then_some((days, (days / 4).max(1)))
}

/// The novelty split of `plan`'s primary for its first treatment from `rows`, and the
/// diagnostic it raises (`novelty_effect` or `primacy_effect`, a warning), if any.
pub fn analyse(
    experiment: &Experiment,
    plan: &Plan,
    rows: &[NoveltyRow],
    (days, early): (i64, i64),
) -> (Option<Novelty>, Option<Diagnostic>) {
    let (Some(primary), Some(treatment)) = (plan.metrics.first(), plan.variants.get(1)) else {
        return (None, None);
    };
    let units = |arm: usize| {
        rows.iter()
            .find(|r| r.variant == arm && r.day == UNITS)
            .map_or(0, |r| r.sum.max(0.0) as u64)
    };
    let n = [units(0), units(1)];
    if n.iter().any(|n| *n < 2) {
        return (None, None);
    }
    let analysis = &experiment.analysis;
    let compare = |day: i64, difference: Difference| -> Option<(BucketEffect, Option<f64>)> {
        let arm = |i: usize| {
            let row = rows.iter().find(|r| r.variant == i && r.day == day);
            VariantInput {
                name: plan.variants[i].clone(),
                n: n[i],
                sum: Some(row.map_or(0.0, |r| r.sum)),
                sum_squares: Some(row.map_or(0.0, |r| r.sum_squares)),
                ..VariantInput::default()
            }
        };
        let response = StatsRequest {
            metric: request::MetricSpec {
                kind: request::Kind::Mean,
                quantile: None,
                cuped: false,
                direction: primary.metric.direction,
            },
            method: Method::Frequentist,
            difference,
            alternative: Alternative::TwoSided,
            alpha: analysis.alpha,
            sequential_tuning: analysis.sequential_tuning,
            expected_weights: None,
            variants: vec![arm(0), arm(1)],
        }
        .analyse()
        .ok()?;
        let c = response.variants.get(1)?.comparison.as_ref()?;
        Some((
            BucketEffect {
                effect: c.effect?,
                ci_low: c.ci_low?,
                ci_high: c.ci_high?,
            },
            c.p_value,
        ))
    };
    let split = (0..days)
        .map(|day| NoveltyDay {
            day,
            effect: compare(day, analysis.difference).map(|(effect, _)| effect),
        })
        .collect();
    let contrast = compare(EARLY_MINUS_LATE, Difference::Absolute);
    let novelty = Novelty {
        metric: primary.metric.name.clone(),
        variant: treatment.clone(),
        days_observed: days,
        early_days: early,
        units: n,
        days: split,
        early_minus_late: contrast.map(|(effect, _)| effect),
        p_value: contrast.and_then(|(_, p)| p),
    };
    let diagnostic = match (novelty.early_minus_late, novelty.p_value) {
        (Some(effect), Some(p)) if p < analysis.alpha => {
            // Early better than late, in the metric's good direction: novelty.
            let early_better = match primary.metric.direction {
                Direction::Increase => effect.effect > 0.0,
                Direction::Decrease => effect.effect < 0.0,
            };
            let (kind, reading) = if early_better {
                (
                    "novelty_effect",
                    "larger in the first days than later: the trial's average overstates the long-run effect",
                )
            } else {
                (
                    "primacy_effect",
                    "smaller in the first days than later: units are still getting used to it, and the long-run effect may be larger",
                )
            };
            Some(Diagnostic {
                kind: kind.into(),
                severity: Severity::Warning,
                message: format!(
                    "The effect of {treatment} on {} is {reading} (days 0-{} against days {}-{} since first exposure: \
                     {:+.4} per unit and day, p = {p:.2e}, over {} units observed {days} days). Watch it after the \
                     launch with a holdout.",
                    primary.metric.name,
                    early - 1,
                    early,
                    days - 1,
                    effect.effect,
                    n[0] + n[1],
                ),
            })
        }
        _ => None,
    };
    (Some(novelty), diagnostic)
}
