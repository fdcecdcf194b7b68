//! A treatment compared with control: the effect and its sampling variance.

use serde::{Deserialize, Serialize};

use crate::sufficient::{cuped_adjusted, pooled_theta};
use crate::SufficientStats;

/// Whether effects are reported as differences of means or relative to control. The one
/// definition: experiments (`rctgate_domain`) use this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Difference {
    /// (treatment - control) / control, variance by the delta method.
    #[default]
    Relative,
    /// treatment - control.
    Absolute,
}

/// The estimate of one arm within one comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmEstimate {
    pub n: f64,
    /// The mean used for the effect (CUPED-adjusted when CUPED is on).
    pub mean: f64,
    /// The observed mean, the denominator of relative effects.
    pub unadjusted_mean: f64,
    /// The per-unit variance of `mean`.
    pub variance: f64,
}

/// Why a comparison has no effect, interval or p-value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undefined {
    /// Relative effects divide by the control mean.
    ZeroControlMean,
    /// With no variance in an arm there is no sampling distribution to test.
    ZeroVariance,
    /// An arm has no units.
    NoUnits,
    /// The sums are too large to give finite figures.
    NotFinite,
}

impl Undefined {
    /// One sentence for people, carried in results as `reason`.
    pub fn reason(self) -> &'static str {
        match self {
            Undefined::ZeroControlMean => "the control mean is zero, so a relative effect is undefined",
            Undefined::ZeroVariance => "an arm has zero variance, so no interval or test is possible",
            Undefined::NoUnits => "an arm has no units",
            Undefined::NotFinite => "the sums are too large to give finite figures",
        }
    }
}

/// The effect of a treatment over control and its sampling variance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Contrast {
    pub control: ArmEstimate,
    pub treatment: ArmEstimate,
    pub difference: Difference,
    /// The point estimate of the effect.
    pub effect: f64,
    /// The variance of `effect`.
    pub variance: f64,
}

impl Contrast {
    /// Compares `treatment` with `control`. CUPED's theta is pooled over these
    /// two arms, so each treatment gets its own adjustment of control.
    ///
    /// The checks and their order follow gbstats: a zero control mean, then
    /// an empty arm, then a non-positive variance. One deliberate difference:
    /// gbstats refuses an absolute effect over a zero control mean, which is
    /// well defined, so here only relative effects need a non-zero control.
    pub fn new(
        control: &SufficientStats,
        treatment: &SufficientStats,
        difference: Difference,
    ) -> Result<Self, Undefined> {
        let degenerate = control.is_degenerate() || treatment.is_degenerate();
        let theta = pooled_theta(control, treatment);
        let control = estimate(control, theta);
        let treatment = estimate(treatment, theta);
        if difference == Difference::Relative && (control.mean == 0.0 || control.unadjusted_mean == 0.0) {
            return Err(Undefined::ZeroControlMean);
        }
        if control.n == 0.0 || treatment.n == 0.0 {
            return Err(Undefined::NoUnits);
        }
        if control.variance <= 0.0 || treatment.variance <= 0.0 || degenerate {
            return Err(Undefined::ZeroVariance);
        }
        let (a, b) = (&control, &treatment);
        let (effect, variance) = match difference {
            Difference::Relative => {
                let c = a.unadjusted_mean;
                (
                    (b.mean - a.mean) / c,
                    b.variance / (c * c * b.n)
                        + a.variance * b.unadjusted_mean * b.unadjusted_mean / (c.powi(4) * a.n),
                )
            }
            Difference::Absolute => (b.mean - a.mean, b.variance / b.n + a.variance / a.n),
        };
        if !effect.is_finite() || !variance.is_finite() || variance <= 0.0 {
            return Err(if variance == 0.0 {
                Undefined::ZeroVariance
            } else {
                Undefined::NotFinite
            });
        }
        Ok(Self {
            control,
            treatment,
            difference,
            effect,
            variance,
        })
    }

    /// The standard error of the effect.
    pub fn std_error(&self) -> f64 {
        self.variance.sqrt()
    }

    /// The Welch-Satterthwaite degrees of freedom of the two arms.
    pub fn welch_dof(&self) -> f64 {
        let (a, b) = (&self.control, &self.treatment);
        let va = a.variance / a.n;
        let vb = b.variance / b.n;
        (va + vb).powi(2) / (vb * vb / (b.n - 1.0) + va * va / (a.n - 1.0))
    }

    /// Units in both arms: the sample size of sequential tests.
    pub fn total_units(&self) -> f64 {
        self.control.n + self.treatment.n
    }
}

fn estimate(stats: &SufficientStats, theta: f64) -> ArmEstimate {
    let unadjusted_mean = stats.unadjusted_mean();
    let (mean, variance) = if theta == 0.0 {
        (unadjusted_mean, stats.unadjusted_variance())
    } else {
        cuped_adjusted(stats, theta).unwrap_or((unadjusted_mean, stats.unadjusted_variance()))
    };
    ArmEstimate {
        n: stats.n(),
        mean,
        unadjusted_mean,
        variance,
    }
}
