//! What a test concludes about one contrast.

/// Effect, interval and evidence of one treatment against control. An
/// interval bound is `None` when it is unbounded (one-sided tests).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Inference {
    pub effect: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Frequentist and sequential tests.
    pub p_value: Option<f64>,
    /// Bayesian: the posterior probability that the treatment is better.
    pub chance_to_win: Option<f64>,
    /// Bayesian: the expected loss of shipping the treatment, in effect units.
    pub risk: Option<f64>,
}

/// Which alternative hypothesis a frequentist test weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Alternative {
    #[default]
    TwoSided,
    /// The treatment's effect is above zero (a one-sided test).
    Greater,
    /// The treatment's effect is below zero (a one-sided test).
    Less,
}

/// Which way a metric moving is good. The one definition: metrics (`rctgate_domain`) use
/// this type. The default (`increase`) is `rctgate stats`'s; a metric of the catalog must
/// name its direction, since guessing "increase" for a cancellations guardrail would make a
/// harmful change look good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Higher is better (bookings).
    #[default]
    Increase,
    /// Lower is better (cancellations, latency).
    Decrease,
}
