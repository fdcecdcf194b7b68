//! Quantile metrics (a p95 latency, a median basket): one arm's sample quantile, its
//! confidence bounds from order statistics, and the variance gbstats 0.8.0 derives from them
//! (`QuantileStatistic`, and `QuantileClusteredStatistic` when the values cluster in units).
//!
//! The engine computes the quantile and the two order statistics that bound it; only those,
//! and for clustered values a few per-unit sums, leave it. The variance of the estimate is
//! read off the bounds' width (a normal approximation at 95%, whatever the analysis' alpha,
//! as gbstats does), scaled by `n_star / n` and by `n - 1`. When several values come from one
//! unit (every request of a user), the iid variance is inflated by the ratio of the
//! delta-method variance of "share of a unit's values below the quantile" to its iid value
//! `ν(1 - ν)/n`.

use crate::distribution::normal_quantile;
use crate::moments::Moments;

/// One arm's quantile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantileSums {
    /// Values the quantile was taken over: events, or units for a per-unit quantile.
    pub n: f64,
    /// The sample size the bounds were computed with (gbstats' `n_star`).
    pub n_star: f64,
    /// The quantile level ν, in (0, 1).
    pub level: f64,
    /// The sample quantile.
    pub estimate: f64,
    /// The order statistics bounding it at 95%.
    pub lower: f64,
    pub upper: f64,
    /// Per-unit sums when values cluster in units (event-level quantiles).
    pub clusters: Option<ClusterSums>,
}

/// Per-unit sums of an event-level quantile, over `n_clusters` units: each unit's count of
/// values below the quantile (`main`) and of all its values (`den`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusterSums {
    pub main: Moments,
    pub den: Moments,
    pub main_den_sum_product: f64,
}

/// The two-sided 95% normal quantile gbstats reads the bounds with.
fn z95() -> f64 {
    normal_quantile(0.975)
}

impl QuantileSums {
    /// The variance before gbstats' floor: from the bounds' width, inflated for clusters.
    fn variance_init(&self) -> f64 {
        if self.n <= 1.0 {
            return 0.0;
        }
        let half_width = (self.upper - self.lower) / (2.0 * z95());
        let iid = (self.n_star / self.n) * (self.n - 1.0) * half_width * half_width;
        let Some(clusters) = &self.clusters else {
            return iid;
        };
        if self.level == 0.0 || clusters.main.n <= 1.0 || clusters.den.sum <= 0.0 {
            return 0.0;
        }
        let level_iid = self.level * (1.0 - self.level) / self.n;
        iid * clusters.share_variance() / level_iid
    }

    /// The per-value variance of the estimate: the initial one, floored at 1e-5 from 100
    /// values on (gbstats).
    pub fn variance(&self) -> f64 {
        let initial = self.variance_init();
        if self.n < 100.0 {
            initial
        } else {
            initial.max(1e-5)
        }
    }

    /// Too few values for the bounds to lie inside the sample (the quantile's rank within
    /// 1.96 standard deviations of either end), or no spread in a small sample: gbstats then
    /// reports no effect.
    pub fn is_degenerate(&self) -> bool {
        let z2 = z95() * z95();
        let above_one = self.n <= z2 * self.level / (1.0 - self.level);
        let below_zero = self.n <= z2 * (1.0 - self.level) / self.level;
        above_one || below_zero || (self.variance_init() <= 0.0 && self.n < 1000.0)
    }
}

impl ClusterSums {
    /// The delta-method variance of Σmain / Σden over units.
    fn share_variance(&self) -> f64 {
        let units = self.main.n;
        let mu_s = self.main.sum / units;
        let mu_n = self.den.sum / units;
        let var_s = self.main.sample_variance();
        let var_n = self.den.sample_variance();
        let cov = self.main.covariance(&self.den, self.main_den_sum_product);
        let numerator = var_s - 2.0 * mu_s * cov / mu_n + mu_s * mu_s * var_n / (mu_n * mu_n);
        numerator / (units * mu_n * mu_n)
    }
}
