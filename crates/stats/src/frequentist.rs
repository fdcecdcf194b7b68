//! Welch's t-test on the effect, as gbstats and
//! `scipy.stats.ttest_ind_from_stats(equal_var=False)` compute it.

use crate::distribution::{t_quantile, t_sf};
use crate::inference::{Alternative, Inference};
use crate::Contrast;

/// A fixed-horizon test at level `alpha`, two-sided or one-sided.
///
/// One-sided intervals are bounded on one side only. gbstats 0.8.0 writes the
/// upper bound of the `less` test as `effect - width`; the bound that covers
/// the effect with probability 1 - alpha is `effect + width`, used here.
pub fn welch_test(contrast: &Contrast, alpha: f64, alternative: Alternative) -> Inference {
    let se = contrast.std_error();
    let dof = contrast.welch_dof();
    let t = contrast.effect / se;
    let effect = contrast.effect;
    let (p_value, ci_low, ci_high) = match alternative {
        Alternative::TwoSided => {
            let width = t_quantile(1.0 - alpha / 2.0, dof) * se;
            (
                2.0 * t_sf(t.abs(), dof),
                Some(effect - width),
                Some(effect + width),
            )
        }
        Alternative::Greater => {
            let width = t_quantile(1.0 - alpha, dof) * se;
            (t_sf(t, dof), Some(effect - width), None)
        }
        Alternative::Less => {
            let width = t_quantile(1.0 - alpha, dof) * se;
            (t_sf(-t, dof), None, Some(effect + width))
        }
    };
    Inference {
        effect,
        ci_low,
        ci_high,
        p_value: Some(p_value.min(1.0)),
        chance_to_win: None,
        risk: None,
    }
}
