//! Multiple-comparison adjustment of p-values, as statsmodels'
//! `multipletests` (methods `holm` and `fdr_bh`) computes them.
//!
//! A scorecard tests many metrics and arms at once; without adjustment one of
//! twenty null metrics looks significant at 5% by chance alone.

/// Indices of `p` in ascending order of p-value (stable for ties).
fn ascending(p: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    order
}

/// Holm's step-down adjustment: controls the family-wise error rate.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut adjusted = vec![0.0; m];
    let mut running_max: f64 = 0.0;
    for (rank, &i) in ascending(p).iter().enumerate() {
        let candidate = ((m - rank) as f64 * p[i]).min(1.0);
        running_max = running_max.max(candidate);
        adjusted[i] = running_max;
    }
    adjusted
}

/// Benjamini-Hochberg's step-up adjustment: controls the false discovery rate.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut adjusted = vec![0.0; m];
    let mut running_min: f64 = 1.0;
    for (rank, &i) in ascending(p).iter().enumerate().rev() {
        let candidate = (m as f64 / (rank + 1) as f64 * p[i]).min(1.0);
        running_min = running_min.min(candidate);
        adjusted[i] = running_min;
    }
    adjusted
}
