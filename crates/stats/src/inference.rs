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

/// Which way of a metric is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    #[default]
    Increase,
    Decrease,
}
