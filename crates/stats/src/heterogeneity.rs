//! Do groups differ? Two tests the scorecard runs across arms or segments:
//!
//! - [`rates_homogeneity`]: do arms trigger at the same rate? A trigger computed the same way
//!   in every arm (counterfactually, where the arm does not show the change) cannot depend on
//!   the arm, so differing rates mean the trigger is logged differently per arm, and comparing
//!   triggered units is then biased. Pearson's chi-square test of homogeneity on the k x 2
//!   table of triggered and untriggered units, k - 1 degrees of freedom, no continuity
//!   correction: `scipy.stats.chi2_contingency(table, correction=False)`.
//! - [`cochran`]: do segments' effects differ more than their standard errors allow? Cochran's
//!   Q over inverse-variance weights and I-squared, as statsmodels'
//!   `combine_effects(effects, variances)` reports them (`q`, `i2` untruncated, and
//!   `test_homogeneity()`'s p-value).
//!
//! Both return `None` where the test is undefined (fewer than two groups, no variation, a
//! non-positive or non-finite variance), never NaN.

use crate::distribution::chi_square_sf;

/// The p-value that `rows` of (units, triggered units) share one trigger rate; `None` with
/// fewer than two arms holding units, or when every unit or none is triggered.
pub fn rates_homogeneity(rows: &[(u64, u64)]) -> Option<f64> {
    let rows: Vec<(f64, f64)> = rows
        .iter()
        .filter(|(units, _)| *units > 0)
        .map(|(units, hits)| (*units as f64, (*hits).min(*units) as f64))
        .collect();
    let total: f64 = rows.iter().map(|(units, _)| units).sum();
    let hits: f64 = rows.iter().map(|(_, hits)| hits).sum();
    if rows.len() < 2 || hits <= 0.0 || hits >= total {
        return None;
    }
    let rate = hits / total;
    let statistic: f64 = rows
        .iter()
        .map(|(units, hit)| {
            let (expected_hits, expected_misses) = (units * rate, units * (1.0 - rate));
            let misses = units - hit;
            (hit - expected_hits).powi(2) / expected_hits
                + (misses - expected_misses).powi(2) / expected_misses
        })
        .sum();
    let p = chi_square_sf(statistic, (rows.len() - 1) as f64);
    p.is_finite().then(|| p.clamp(0.0, 1.0))
}

/// Cochran's Q test across groups' effects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Heterogeneity {
    /// Cochran's Q: the inverse-variance weighted squared deviations from the pooled effect.
    pub q: f64,
    /// Degrees of freedom: groups - 1.
    pub df: f64,
    /// P(chi-square(df) >= Q).
    pub p_value: f64,
    /// I-squared as statsmodels reports it, (Q - df) / Q: the share of the variation across
    /// groups that is not sampling error. Negative when the groups vary less than their
    /// standard errors allow (Higgins truncates that at 0; read it as 0); 0 when Q is 0.
    pub i_squared: f64,
    /// The fixed-effect pooled effect, sum(w y) / sum(w).
    pub pooled: f64,
}

/// Cochran's Q and I-squared of `effects` with their `variances`; `None` with fewer than two
/// groups, lengths that differ, or a variance that is not positive and finite.
pub fn cochran(effects: &[f64], variances: &[f64]) -> Option<Heterogeneity> {
    if effects.len() < 2
        || effects.len() != variances.len()
        || effects.iter().any(|e| !e.is_finite())
        || variances.iter().any(|v| !(v.is_finite() && *v > 0.0))
    {
        return None;
    }
    let weights: Vec<f64> = variances.iter().map(|v| 1.0 / v).collect();
    let total: f64 = weights.iter().sum();
    let pooled = weights.iter().zip(effects).map(|(w, e)| w * e).sum::<f64>() / total;
    let q: f64 = weights
        .iter()
        .zip(effects)
        .map(|(w, e)| w * (e - pooled).powi(2))
        .sum();
    let df = (effects.len() - 1) as f64;
    let p_value = chi_square_sf(q, df);
    let i_squared = if q > 0.0 { (q - df) / q } else { 0.0 };
    (q.is_finite() && p_value.is_finite() && pooled.is_finite()).then_some(Heterogeneity {
        q,
        df,
        p_value: p_value.clamp(0.0, 1.0),
        i_squared,
        pooled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_tests_say_none() {
        assert_eq!(rates_homogeneity(&[(100, 10)]), None);
        assert_eq!(rates_homogeneity(&[(100, 0), (100, 0)]), None);
        assert_eq!(rates_homogeneity(&[(100, 100), (50, 50)]), None);
        assert_eq!(rates_homogeneity(&[(0, 0), (100, 10)]), None);
        assert_eq!(cochran(&[0.1], &[0.01]), None);
        assert_eq!(cochran(&[0.1, 0.2], &[0.01, 0.0]), None);
        assert_eq!(cochran(&[0.1, f64::NAN], &[0.01, 0.01]), None);
    }

    #[test]
    fn equal_rates_and_equal_effects_are_homogeneous() {
        assert!((rates_homogeneity(&[(1000, 100), (2000, 200)]).expect("p") - 1.0).abs() < 1e-12);
        let same = cochran(&[0.05, 0.05, 0.05], &[0.01, 0.02, 0.03]).expect("q");
        assert_eq!((same.q, same.i_squared), (0.0, 0.0));
        assert!((same.p_value - 1.0).abs() < 1e-12);
    }
}
