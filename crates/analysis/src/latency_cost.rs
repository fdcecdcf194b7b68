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
}
