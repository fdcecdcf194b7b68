//! Bayesian inference on the effect with a flat (improper) prior: the
//! posterior is normal around the estimate with its standard error, as in
//! gbstats' `EffectBayesianABTest`.

use crate::distribution::{normal_cdf, normal_pdf, normal_quantile, normal_sf};
use crate::inference::{Direction, Inference};
use crate::Contrast;

/// Chance to win, the (1 - alpha) credible interval and the risk of shipping.
///
/// Risk is the expected loss of choosing the treatment: E[max(0, -effect)]
/// for a metric that should increase, E[max(0, effect)] for one that should
/// decrease.
pub fn posterior(contrast: &Contrast, alpha: f64, direction: Direction) -> Inference {
    let mu = contrast.effect;
    let sd = contrast.std_error();
    let z = normal_quantile(1.0 - alpha / 2.0);
    let beta = -mu / sd;
    let up = normal_sf(beta); // P(effect > 0)
                              // E[max(0, -X)] and E[max(0, X)] for X ~ N(mu, sd).
    let loss_if_worse = sd * normal_pdf(beta) - mu * normal_cdf(beta);
    let gain_if_better = sd * normal_pdf(beta) + mu * up;
    let (chance_to_win, risk) = match direction {
        Direction::Increase => (up, loss_if_worse),
        Direction::Decrease => (1.0 - up, gain_if_better),
    };
    Inference {
        effect: mu,
        ci_low: Some(mu - z * sd),
        ci_high: Some(mu + z * sd),
        p_value: None,
        chance_to_win: Some(chance_to_win),
        risk: Some(risk.max(0.0)),
    }
}
