//! The offline/online ledger (SPEC §10): each concluded trial's offline gain beside its
//! measured business lift, and how well the first predicts the second across trials
//! (Bernardi et al., KDD 2019, Figure 4: r ≈ -0.1 over 23 comparisons at Booking.com).
//!
//! Correlations: Pearson's r with the Fisher z interval (z = atanh r, standard error
//! 1/sqrt(n-3)), as `scipy.stats.pearsonr(...).confidence_interval()` computes it; Spearman's
//! rho (Pearson on average ranks) with the Fieller-Hartley-Pearson standard error
//! sqrt(1.06/(n-3)). An interval needs at least 4 trials; a correlation at least 3 with
//! some spread, else `null` with the reason.

use crate::latency_cost::{self, LatencyCostPoint, LatencyCostPortfolio};
use rctgate_stats::distribution::normal_quantile;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One trial arm in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The trial.
    pub experiment: String,
    /// The model.
    pub model: String,
    /// Control's version (`null`: no model before).
    pub control_version: Option<String>,
    /// The treatment's version.
    pub treatment_version: String,
    /// Relative offline gain of treatment over control, per offline metric both report.
    pub offline_gain: BTreeMap<String, f64>,
    /// The primary metric.
    pub primary_metric: Option<String>,
    /// Its measured lift (relative unless the trial said absolute) and interval.
    pub lift: Option<f64>,
    /// Interval bounds.
    pub ci_low: Option<f64>,
    /// Interval bounds.
    pub ci_high: Option<f64>,
    /// The frozen verdict.
    pub verdict: String,
}

/// A correlation with its interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    /// The coefficient; `null` when undefined.
    pub r: Option<f64>,
    /// Interval bounds at 95%.
    pub ci_low: Option<f64>,
    /// Interval bounds at 95%.
    pub ci_high: Option<f64>,
    /// Trials used.
    pub n: usize,
    /// Why a figure is `null`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Pearson and Spearman for one offline metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricCorrelation {
    /// The offline metric (`auc`).
    pub offline_metric: String,
    /// Linear correlation.
    pub pearson: Correlation,
    /// Rank correlation.
    pub spearman: Correlation,
}

/// `GET /v1/ledger`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// Every trial arm, oldest first.
    pub entries: Vec<LedgerEntry>,
    /// Offline gain against business lift, per offline metric.
    pub correlations: Vec<MetricCorrelation>,
    /// What added latency cost across the concluded latency-cost trials (those with arms whose
    /// payload sets `added_latency_ms`, with or without a model).
    #[serde(default)]
    pub latency_cost: LatencyCostPortfolio,
}

/// Builds the ledger from its entries and the latency-cost trials' arms.
pub fn ledger(entries: Vec<LedgerEntry>, latency_arms: Vec<LatencyCostPoint>) -> Ledger {
    let mut names: Vec<&String> = entries.iter().flat_map(|e| e.offline_gain.keys()).collect();
    names.sort();
    names.dedup();
    let correlations = names
        .into_iter()
        .map(|name| {
            let (x, y): (Vec<f64>, Vec<f64>) = entries
                .iter()
                .filter_map(|e| Some((*e.offline_gain.get(name)?, e.lift?)))
                .unzip();
            MetricCorrelation {
                offline_metric: name.clone(),
                pearson: correlation(&x, &y, 1.0),
                spearman: correlation(&ranks(&x), &ranks(&y), 1.06),
            }
        })
        .collect();
    Ledger {
        entries,
        correlations,
        latency_cost: latency_cost::portfolio(latency_arms),
    }
}

/// Relative gain of `treatment` over `control` for every metric both report (control 0: skipped).
pub fn offline_gain(
    control: &BTreeMap<String, f64>,
    treatment: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    treatment
        .iter()
        .filter_map(|(name, t)| {
            let c = control.get(name)?;
            (*c != 0.0).then(|| (name.clone(), (t - c) / c.abs()))
        })
        .collect()
}

/// Pearson's r of `x` and `y` with the Fisher z interval; `variance_factor` scales the
/// standard error's square (1 for Pearson, 1.06 for Spearman).
fn correlation(x: &[f64], y: &[f64], variance_factor: f64) -> Correlation {
    let n = x.len();
    let undefined = |reason: &str| Correlation {
        r: None,
        ci_low: None,
        ci_high: None,
        n,
        reason: Some(reason.to_string()),
    };
    if n < 3 {
        return undefined("At least 3 concluded trials with offline metrics are needed.");
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (mx, my) = (mean(x), mean(y));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return undefined("Offline gains or lifts do not vary across trials.");
    }
    let r = (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0);
    if n < 4 {
        return Correlation {
            r: Some(r),
            ci_low: None,
            ci_high: None,
            n,
            reason: Some("An interval needs at least 4 trials.".to_string()),
        };
    }
    let z = r.clamp(-1.0 + 1e-15, 1.0 - 1e-15).atanh();
    let half = normal_quantile(0.975) * (variance_factor / (n as f64 - 3.0)).sqrt();
    Correlation {
        r: Some(r),
        ci_low: Some((z - half).tanh()),
        ci_high: Some((z + half).tanh()),
        n,
        reason: None,
    }
}

/// Average ranks (1-based), ties sharing their mean rank.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        for &index in &order[start..end] {
            ranks[index] = rank;
        }
        start = end;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_average_ties() {
        assert_eq!(ranks(&[10.0, 30.0, 20.0, 20.0]), vec![1.0, 4.0, 2.5, 2.5]);
    }

    #[test]
    fn too_few_trials_say_why() {
        let c = correlation(&[1.0, 2.0], &[1.0, 3.0], 1.0);
        assert_eq!(c.r, None);
        assert!(c.reason.is_some());
        let flat = correlation(&[1.0, 1.0, 1.0, 1.0], &[1.0, 2.0, 3.0, 4.0], 1.0);
        assert_eq!(flat.r, None);
    }

    #[test]
    fn gains_are_relative_to_control() {
        let control = BTreeMap::from([("auc".to_string(), 0.80), ("ndcg".to_string(), 0.5)]);
        let treatment = BTreeMap::from([("auc".to_string(), 0.84), ("loss".to_string(), 0.1)]);
        let gain = offline_gain(&control, &treatment);
        assert_eq!(gain.len(), 1);
        assert!((gain["auc"] - 0.05).abs() < 1e-12);
    }
}
