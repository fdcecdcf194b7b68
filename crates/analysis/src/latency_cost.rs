//! Booking's latency-cost experiment (Bernardi et al., KDD 2019, §5): arms that add latency
//! on purpose (a variant payload's `added_latency_ms`) measure what latency costs the primary
//! metric, so a slower model's expected loss is known before it is tried.
//!
//! Per treatment arm: its relative latency change (mean per request) and its relative primary
//! change against control, each with an interval at the Šidák-corrected level for the number
//! of latency arms, 1 - (1 - alpha)^(1/k), so the intervals hold together. The cost per +10%
//! latency is the least-squares slope through the origin of the primary changes on the latency
//! changes, times 0.1 (no interval: with a few arms it is a reading, not a test). The latency
//! change is the mean per request from the scorecard's latency summary, its interval treating
//! requests as independent (a unit's requests are not clustered here; the latency guardrail
//! metrics are).

use serde::{Deserialize, Serialize};

/// A relative change against control and its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub effect: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

/// One latency arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyCostArm {
    pub variant: String,
    pub added_latency_ms: f64,
    /// The mean latency per request, relative to control.
    pub latency: Change,
    /// The primary metric, relative to control.
    pub primary: Change,
}

/// The scorecard's latency-cost section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyCost {
    /// The Šidák-corrected alpha of each interval.
    pub alpha: f64,
    pub arms: Vec<LatencyCostArm>,
    /// The primary's relative change per +10% latency, fitted over the arms.
    pub cost_per_10_percent_latency: Option<f64>,
}

/// One latency arm of a concluded trial, as the portfolio shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyCostPoint {
    /// The trial.
    pub experiment: String,
    /// Its primary metric, which the arm's primary change is of.
    pub primary_metric: String,
    #[serde(flatten)]
    pub arm: LatencyCostArm,
}

/// What latency cost one primary metric across trials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyCostFit {
    pub primary_metric: String,
    /// Trials and arms the fit is over.
    pub trials: usize,
    pub arms: usize,
    /// The primary's relative change per +10% latency, fitted over every arm of these trials.
    pub cost_per_10_percent_latency: Option<f64>,
}

/// Latency cost across every concluded latency-cost trial (`GET /v1/ledger`, the portfolio
/// page): each arm, and one fit per primary metric (changes of different metrics are not
/// pooled: a conversion and a revenue per user do not move alike).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyCostPortfolio {
    pub points: Vec<LatencyCostPoint>,
    pub fits: Vec<LatencyCostFit>,
}

/// The portfolio of `points`, in their order, with one fit per primary metric (in order of
/// first appearance).
pub fn portfolio(points: Vec<LatencyCostPoint>) -> LatencyCostPortfolio {
    let mut metrics: Vec<&str> = Vec::new();
    for point in &points {
        if !metrics.contains(&point.primary_metric.as_str()) {
            metrics.push(&point.primary_metric);
        }
    }
    let fits = metrics
        .iter()
        .map(|metric| {
            let of_metric: Vec<&LatencyCostPoint> =
                points.iter().filter(|p| p.primary_metric == *metric).collect();
            let mut trials: Vec<&str> = of_metric.iter().map(|p| p.experiment.as_str()).collect();
            trials.dedup();
            let xy: Vec<(f64, f64)> = of_metric
                .iter()
                .map(|p| (p.arm.latency.effect, p.arm.primary.effect))
                .collect();
            LatencyCostFit {
                primary_metric: metric.to_string(),
                trials: trials.len(),
                arms: of_metric.len(),
                cost_per_10_percent_latency: cost_per_10_percent(&xy),
            }
        })
        .collect();
    LatencyCostPortfolio { points, fits }
}

/// The Šidák-corrected alpha for `comparisons` intervals at family level `alpha`.
pub fn sidak(alpha: f64, comparisons: usize) -> f64 {
    1.0 - (1.0 - alpha).powf(1.0 / comparisons.max(1) as f64)
}

/// The slope through the origin of `points` (latency change, primary change), times 0.1;
/// `None` without a latency change to fit on.
pub fn cost_per_10_percent(points: &[(f64, f64)]) -> Option<f64> {
    let xx: f64 = points.iter().map(|(x, _)| x * x).sum();
    let xy: f64 = points.iter().map(|(x, y)| x * y).sum();
    (xx > 0.0 && xy.is_finite()).then(|| 0.1 * xy / xx)
}

/// The `added_latency_ms` a variant's payload asks for, if it is a positive number.
pub fn added_latency(payload: &serde_json::Value) -> Option<f64> {
    payload["added_latency_ms"]
        .as_f64()
        .filter(|ms| ms.is_finite() && *ms > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidak_and_the_fit() {
        assert!((sidak(0.05, 1) - 0.05).abs() < 1e-15);
        assert!((sidak(0.05, 3) - 0.016952427508441503).abs() < 1e-12);
        // Two arms on a line of slope -0.05: -0.5% primary per +10% latency.
        let cost = cost_per_10_percent(&[(0.1, -0.005), (0.3, -0.015)]).expect("a fit");
        assert!((cost + 0.005).abs() < 1e-15);
        assert_eq!(cost_per_10_percent(&[(0.0, 0.01)]), None);
        assert_eq!(
            added_latency(&serde_json::json!({"added_latency_ms": 100})),
            Some(100.0)
        );
        assert_eq!(
            added_latency(&serde_json::json!({"added_latency_ms": "100"})),
            None
        );
    }

    fn point(experiment: &str, metric: &str, latency: f64, primary: f64) -> LatencyCostPoint {
        let change = |effect| Change {
            effect,
            ci_low: None,
            ci_high: None,
        };
        LatencyCostPoint {
            experiment: experiment.into(),
            primary_metric: metric.into(),
            arm: LatencyCostArm {
                variant: format!("plus-{latency}"),
                added_latency_ms: 10.0,
                latency: change(latency),
                primary: change(primary),
            },
        }
    }

    #[test]
    fn the_portfolio_fits_each_primary_metric_across_its_trials() {
        let found = portfolio(vec![
            point("a", "bookings", 0.1, -0.004),
            point("a", "bookings", 0.2, -0.010),
            point("b", "revenue", 0.3, 0.0),
            point("c", "bookings", 0.4, -0.020),
        ]);
        assert_eq!(found.points.len(), 4);
        assert_eq!(found.fits.len(), 2);
        let bookings = &found.fits[0];
        assert_eq!(
            (bookings.primary_metric.as_str(), bookings.trials, bookings.arms),
            ("bookings", 2, 3)
        );
        // Slope through the origin: sum(xy) / sum(xx) = 0.0104 / 0.21, times 0.1.
        let expected = 0.1 * (0.1 * -0.004 + 0.2 * -0.010 + 0.4 * -0.020) / (0.01 + 0.04 + 0.16);
        assert!((bookings.cost_per_10_percent_latency.expect("a fit") - expected).abs() < 1e-15);
        assert_eq!(found.fits[1].cost_per_10_percent_latency, Some(0.0));
        assert_eq!(portfolio(Vec::new()), LatencyCostPortfolio::default());
    }
}
