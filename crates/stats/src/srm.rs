//! Sample ratio mismatch: are units split across arms as designed?
//!
//! A mismatch means the assignment or the logging is broken, and then no
//! effect estimate can be trusted, however significant.

use crate::distribution::chi_square_sf;

/// The p-value below which a split is flagged (SPEC §8).
pub const DEFAULT_SRM_THRESHOLD: f64 = 0.001;

/// Pearson's chi-square test of `counts` against `weights` (normalised here),
/// with k - 1 degrees of freedom, as `scipy.stats.chisquare`. Empty `weights`
/// means equal weights. Arms with a non-positive weight are left out, as
/// gbstats does; no units gives 1.
pub fn srm_p_value(counts: &[f64], weights: &[f64]) -> f64 {
    if weights.is_empty() {
        return srm_p_value(counts, &vec![1.0; counts.len()]);
    }
    let total: f64 = counts.iter().sum();
    let total_weight: f64 = weights.iter().filter(|w| **w > 0.0).sum();
    if total <= 0.0 || total_weight <= 0.0 || counts.len() < 2 {
        return 1.0;
    }
    let statistic: f64 = counts
        .iter()
        .zip(weights)
        .filter(|(_, w)| **w > 0.0)
        .map(|(observed, w)| {
            let expected = w / total_weight * total;
            (observed - expected).powi(2) / expected
        })
        .sum();
    chi_square_sf(statistic, (counts.len() - 1) as f64).clamp(0.0, 1.0)
}
