//! Always-valid inference: Waudby-Smith et al.'s asymptotic confidence
//! sequences (arXiv 2103.06476v7, eq. 9, 155 and 161), as gbstats runs them.
//!
//! Peeking is the norm in product experiments: people look every day. A
//! confidence sequence covers the effect at every look simultaneously, so the
//! false-positive rate stays at alpha however often the scorecard refreshes.

use crate::inference::Inference;
use crate::Contrast;

/// The tuning N*: the total sample size at which the sequence is tightest.
pub const DEFAULT_TUNING: f64 = 5000.0;

fn rho(alpha: f64, tuning: f64) -> f64 {
    let l = -2.0 * alpha.ln();
    ((l + (l + 1.0).ln()) / tuning).sqrt()
}

/// The confidence sequence and its anytime-valid p-value at level `alpha`.
pub fn confidence_sequence(contrast: &Contrast, alpha: f64, tuning: f64) -> Inference {
    let n = contrast.total_units();
    let rho = rho(alpha, tuning);
    let nr2 = n * rho * rho;
    let s2 = contrast.variance * n;
    let width =
        s2.sqrt() * (2.0 * (nr2 + 1.0) * ((nr2 + 1.0).sqrt() / alpha).ln() / (n * rho).powi(2)).sqrt();
    let effect = contrast.effect;
    // The e-value in log space: it overflows f64 for large effects.
    let st2 = effect * effect * n / contrast.variance;
    let log_e = rho * rho * st2 / (2.0 * (nr2 + 1.0)) - 0.5 * (nr2 + 1.0).ln();
    let p_value = (-log_e).exp().min(1.0);
    Inference {
        effect,
        ci_low: Some(effect - width),
        ci_high: Some(effect + width),
        p_value: Some(p_value),
        chance_to_win: None,
        risk: None,
    }
}
