//! Per-arm sufficient statistics: what leaves the query engine.
//!
//! Only sums travel (n, Σx, Σx², cross-products), never unit-level rows, so
//! the same analysis runs over an embedded DuckDB file or a warehouse.

use crate::moments::Moments;
use crate::quantile::QuantileSums;

/// How the variance of a per-unit quantity is estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// A 0/1 conversion: variance p(1 - p).
    Proportion,
    /// Any real value: the sample variance with n - 1.
    Mean,
}

impl Scale {
    pub fn variance(self, m: &Moments) -> f64 {
        match self {
            Scale::Proportion => {
                let p = m.mean();
                p * (1.0 - p)
            }
            Scale::Mean => m.sample_variance(),
        }
    }
}

/// One arm's sufficient statistics for one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SufficientStats {
    /// A proportion, mean or count metric.
    Plain { scale: Scale, value: Moments },
    /// Σnum / Σden over units, analysed with the delta method.
    Ratio {
        num: Moments,
        den: Moments,
        num_den_sum_product: f64,
    },
    /// A metric with its pre-exposure value as the CUPED covariate.
    Cuped {
        scale: Scale,
        post: Moments,
        pre: Moments,
        post_pre_sum_product: f64,
    },
    /// A quantile with its order-statistic bounds (`crate::quantile`).
    Quantile(QuantileSums),
}

impl SufficientStats {
    /// The sample size of the tests: units, or a quantile's values (events for an
    /// event-level quantile, as gbstats counts them).
    pub fn n(&self) -> f64 {
        match self {
            SufficientStats::Plain { value, .. } => value.n,
            SufficientStats::Ratio { num, .. } => num.n,
            SufficientStats::Cuped { post, .. } => post.n,
            SufficientStats::Quantile(quantile) => quantile.n,
        }
    }

    /// Units in the arm, for the sample ratio check: [`SufficientStats::n`] except for an
    /// event-level quantile, whose values cluster in fewer units.
    pub fn units(&self) -> f64 {
        match self {
            SufficientStats::Quantile(QuantileSums {
                clusters: Some(clusters),
                ..
            }) => clusters.main.n,
            _ => self.n(),
        }
    }

    /// Whether the statistic cannot support a test whatever its variance says: a quantile
    /// with too few values ([`QuantileSums::is_degenerate`]).
    pub fn is_degenerate(&self) -> bool {
        match self {
            SufficientStats::Quantile(quantile) => quantile.is_degenerate(),
            _ => false,
        }
    }

    /// The metric's observed mean, before any variance reduction.
    pub fn unadjusted_mean(&self) -> f64 {
        match self {
            SufficientStats::Plain { value, .. } => value.mean(),
            SufficientStats::Ratio { num, den, .. } => {
                if den.sum == 0.0 {
                    0.0
                } else {
                    num.sum / den.sum
                }
            }
            SufficientStats::Cuped { post, .. } => post.mean(),
            SufficientStats::Quantile(quantile) => quantile.estimate,
        }
    }

    /// The per-unit variance of the unadjusted statistic (delta method for
    /// ratios). CUPED's adjusted variance depends on the arm it is compared
    /// with, so it lives in [`crate::Contrast`].
    pub fn unadjusted_variance(&self) -> f64 {
        match *self {
            SufficientStats::Plain { scale, value } => scale.variance(&value),
            SufficientStats::Ratio {
                num,
                den,
                num_den_sum_product,
            } => ratio_variance(&num, &den, num_den_sum_product),
            SufficientStats::Cuped { scale, post, .. } => scale.variance(&post),
            SufficientStats::Quantile(quantile) => quantile.variance(),
        }
    }
}

/// Delta-method variance of Σnum/Σden per unit.
fn ratio_variance(num: &Moments, den: &Moments, sum_of_products: f64) -> f64 {
    let d = den.mean();
    if d == 0.0 || num.n <= 1.0 {
        return 0.0;
    }
    let m = num.mean();
    let cov = num.covariance(den, sum_of_products);
    num.sample_variance() / (d * d) - 2.0 * cov * m / (d * d * d)
        + m * m * den.sample_variance() / (d * d * d * d)
}

/// CUPED's theta, pooled over the two arms compared, as gbstats computes it;
/// 0 when either pooled period has no variance (then no adjustment is made).
pub(crate) fn pooled_theta(a: &SufficientStats, b: &SufficientStats) -> f64 {
    let (
        SufficientStats::Cuped {
            scale,
            post: post_a,
            pre: pre_a,
            post_pre_sum_product: xy_a,
        },
        SufficientStats::Cuped {
            post: post_b,
            pre: pre_b,
            post_pre_sum_product: xy_b,
            ..
        },
    ) = (a, b)
    else {
        return 0.0;
    };
    let post = post_a.pooled(post_b);
    let pre = pre_a.pooled(pre_b);
    let pre_variance = scale.variance(&pre);
    if pre_variance == 0.0 || scale.variance(&post) == 0.0 {
        return 0.0;
    }
    post.covariance(&pre, xy_a + xy_b) / pre_variance
}

/// The CUPED-adjusted mean and per-unit variance of one arm for a theta.
pub(crate) fn cuped_adjusted(stats: &SufficientStats, theta: f64) -> Option<(f64, f64)> {
    let SufficientStats::Cuped {
        scale,
        post,
        pre,
        post_pre_sum_product,
    } = *stats
    else {
        return None;
    };
    let mean = post.mean() - theta * pre.mean();
    let variance = if post.n <= 1.0 {
        0.0
    } else {
        scale.variance(&post) + theta * theta * scale.variance(&pre)
            - 2.0 * theta * post.covariance(&pre, post_pre_sum_product)
    };
    Some((mean, variance))
}
