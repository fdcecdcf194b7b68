//! Sample size and minimum detectable effect for a two-sided test (SPEC §8).
//!
//! Per arm, n = (z(1 - alpha/2) + z(power))² · (var_c + var_t) / delta²,
//! rounded up. For proportions each arm's variance is p(1 - p) at its own
//! rate; for means both arms share the standard deviation. With more than two
//! arms alpha is not split: each treatment is planned as its own comparison
//! with control (apply a correction to `alpha` yourself if you want one).

use serde::{Deserialize, Serialize};

use crate::distribution::normal_quantile;
use crate::InputError;

/// What the metric is and how it varies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Baseline {
    /// A conversion rate in (0, 1).
    Proportion { rate: f64 },
    /// A mean with the per-unit standard deviation.
    Mean { mean: f64, sd: f64 },
}

/// The design choices shared by both questions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Design {
    pub baseline: Baseline,
    pub alpha: f64,
    pub power: f64,
    pub arms: u32,
    /// Units entering the experiment per day, over all arms.
    pub daily_units: Option<u64>,
}

/// How many units a trial needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SampleSize {
    pub per_arm: u64,
    pub total: u64,
    /// Days to reach `total` at `daily_units`; null without daily traffic.
    pub days: Option<u64>,
}

/// The smallest effect a trial of a given size detects with the design power.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DetectableEffect {
    pub per_arm: u64,
    pub total: u64,
    pub days: Option<u64>,
    /// The absolute difference in means.
    pub mde: f64,
    /// `mde` relative to the baseline (null for a zero baseline mean).
    pub mde_relative: Option<f64>,
}

/// How many exposed units a triggered trial needs: only a share of them (the trigger rate)
/// can be affected, and the test runs on those (`rctgate power --trigger-rate`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TriggeredSampleSize {
    pub trigger_rate: f64,
    /// Triggered units per arm the test needs.
    pub triggered_per_arm: u64,
    /// Exposed units per arm that bring them: triggered_per_arm / trigger_rate, rounded up.
    pub per_arm: u64,
    pub total: u64,
    /// Days to expose `total` units at `daily_units`.
    pub days: Option<u64>,
}

/// The smallest effect a triggered trial detects: among the triggered units, and diluted over
/// every exposed unit (untriggered units unaffected), which is what an all-units analysis of
/// the same trial would have to detect.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TriggeredDetectableEffect {
    pub trigger_rate: f64,
    /// Exposed units per arm.
    pub per_arm: u64,
    /// Triggered units per arm: per_arm · trigger_rate, rounded down.
    pub triggered_per_arm: u64,
    pub total: u64,
    pub days: Option<u64>,
    /// The absolute effect among triggered units.
    pub mde: f64,
    pub mde_relative: Option<f64>,
    /// The same effect averaged over every exposed unit: mde · trigger_rate.
    pub diluted_mde: f64,
    pub diluted_mde_relative: Option<f64>,
}

fn check_trigger_rate(rate: f64) -> Result<(), InputError> {
    if rate > 0.0 && rate <= 1.0 {
        Ok(())
    } else {
        Err(InputError::new(
            "trigger_rate",
            "trigger-rate must be the share of exposed units that trigger, in (0, 1].",
        ))
    }
}

impl Design {
    /// [`Design::sample_size`] among triggered units (the baseline is theirs), and the exposed
    /// units that bring them at `trigger_rate`; days count exposed units.
    pub fn triggered_sample_size(
        &self,
        delta: f64,
        trigger_rate: f64,
    ) -> Result<TriggeredSampleSize, InputError> {
        check_trigger_rate(trigger_rate)?;
        let triggered = self.sample_size(delta)?;
        let exposed = (triggered.per_arm as f64 / trigger_rate).ceil();
        if exposed.is_nan() || exposed >= 1e18 {
            return Err(InputError::new(
                "trigger_rate",
                "trigger-rate is too small: the sample size does not fit in 64 bits.",
            ));
        }
        let per_arm = exposed as u64;
        let (total, days) = self.totals(per_arm);
        Ok(TriggeredSampleSize {
            trigger_rate,
            triggered_per_arm: triggered.per_arm,
            per_arm,
            total,
            days,
        })
    }

    /// [`Design::detectable_effect`] of the triggered units among `per_arm` exposed units per
    /// arm at `trigger_rate` (the baseline is the triggered units'), and that effect diluted
    /// over every exposed unit.
    pub fn triggered_detectable_effect(
        &self,
        per_arm: u64,
        trigger_rate: f64,
    ) -> Result<TriggeredDetectableEffect, InputError> {
        check_trigger_rate(trigger_rate)?;
        let triggered_per_arm = (per_arm as f64 * trigger_rate).floor() as u64;
        if triggered_per_arm < 2 {
            return Err(InputError::new(
                "per_arm",
                "per-arm times trigger-rate leaves fewer than 2 triggered units per arm.",
            ));
        }
        let effect = self.detectable_effect(triggered_per_arm)?;
        let (total, days) = self.totals(per_arm);
        Ok(TriggeredDetectableEffect {
            trigger_rate,
            per_arm,
            triggered_per_arm,
            total,
            days,
            mde: effect.mde,
            mde_relative: effect.mde_relative,
            diluted_mde: effect.mde * trigger_rate,
            diluted_mde_relative: effect.mde_relative.map(|r| r * trigger_rate),
        })
    }

    fn validate(&self) -> Result<(), InputError> {
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(InputError::new(
                "alpha",
                "alpha must lie strictly between 0 and 1.",
            ));
        }
        if !(self.power > 0.0 && self.power < 1.0) {
            return Err(InputError::new(
                "power",
                "power must lie strictly between 0 and 1.",
            ));
        }
        if self.arms < 2 {
            return Err(InputError::new(
                "arms",
                "arms must be at least 2 (control and one treatment).",
            ));
        }
        if self.daily_units == Some(0) {
            return Err(InputError::new(
                "daily_units",
                "daily-units must be a positive number of units per day.",
            ));
        }
        match self.baseline {
            Baseline::Proportion { rate } if !(rate > 0.0 && rate < 1.0) => Err(InputError::new(
                "baseline",
                "baseline must be a conversion rate strictly between 0 and 1 for a proportion.",
            )),
            Baseline::Mean { mean, .. } if !mean.is_finite() => {
                Err(InputError::new("baseline", "baseline must be a finite number."))
            }
            Baseline::Mean { sd, .. } if !(sd > 0.0 && sd.is_finite()) => Err(InputError::new(
                "sd",
                "sd must be a positive, finite standard deviation for a mean metric.",
            )),
            _ => Ok(()),
        }
    }

    /// (z(1 - alpha/2) + z(power))².
    fn z_squared(&self) -> f64 {
        (normal_quantile(1.0 - self.alpha / 2.0) + normal_quantile(self.power)).powi(2)
    }

    fn baseline_value(&self) -> f64 {
        match self.baseline {
            Baseline::Proportion { rate } => rate,
            Baseline::Mean { mean, .. } => mean,
        }
    }

    fn totals(&self, per_arm: u64) -> (u64, Option<u64>) {
        let total = per_arm.saturating_mul(u64::from(self.arms));
        (total, self.daily_units.map(|d| total.div_ceil(d)))
    }

    /// Units needed to detect an absolute difference `delta` (> 0).
    pub fn sample_size(&self, delta: f64) -> Result<SampleSize, InputError> {
        self.validate()?;
        if !(delta > 0.0 && delta.is_finite()) {
            return Err(InputError::new("mde", "mde must be a positive, finite effect."));
        }
        let variances = match self.baseline {
            Baseline::Proportion { rate } => {
                let treated = rate + delta;
                if treated >= 1.0 {
                    return Err(InputError::new(
                        "mde",
                        format!("mde moves the rate from {rate} to {treated}, which is not below 1."),
                    ));
                }
                rate * (1.0 - rate) + treated * (1.0 - treated)
            }
            Baseline::Mean { sd, .. } => 2.0 * sd * sd,
        };
        let exact = self.z_squared() * variances / (delta * delta);
        if !(exact.is_finite() && exact < 1e18) {
            return Err(InputError::new(
                "mde",
                "mde is too small: the sample size does not fit in 64 bits.",
            ));
        }
        let per_arm = exact.ceil() as u64;
        let (total, days) = self.totals(per_arm);
        Ok(SampleSize { per_arm, total, days })
    }

    /// The absolute effect detectable with `per_arm` units in every arm.
    pub fn detectable_effect(&self, per_arm: u64) -> Result<DetectableEffect, InputError> {
        self.validate()?;
        if per_arm < 2 {
            return Err(InputError::new("per_arm", "per-arm must be at least 2 units."));
        }
        let n = per_arm as f64;
        let k = self.z_squared();
        let mde = match self.baseline {
            // n·d² = k·(2p(1-p) + d(1-2p) - d²): the positive root.
            Baseline::Proportion { rate: p } => {
                let b = k * (1.0 - 2.0 * p);
                let disc = b * b + 8.0 * k * (n + k) * p * (1.0 - p);
                (b + disc.sqrt()) / (2.0 * (n + k))
            }
            Baseline::Mean { sd, .. } => (k * 2.0 * sd * sd / n).sqrt(),
        };
        let base = self.baseline_value();
        let (total, days) = self.totals(per_arm);
        Ok(DetectableEffect {
            per_arm,
            total,
            days,
            mde,
            mde_relative: (base != 0.0).then(|| mde / base.abs()),
        })
    }

    /// Turns an MDE as given by the user into an absolute difference.
    pub fn absolute_delta(&self, mde: f64, relative: bool) -> f64 {
        if relative {
            mde * self.baseline_value().abs()
        } else {
            mde
        }
    }
}
