//! The JSON contract of `rctgate stats` (SPEC §8): one metric's sufficient
//! statistics per arm in, every treatment against control out.
//!
//! Defaults, documented rather than silent: `difference` relative,
//! `alternative` two-sided, `alpha` 0.05, `sequential_tuning` 5000,
//! `expected_weights` equal, `metric.cuped` false, `metric.direction`
//! increase. `method` and `metric.kind` are required. Unknown fields are
//! errors, so a typo is never ignored.

use serde::{Deserialize, Serialize};

use crate::inference::{Alternative, Direction, Inference};
use crate::sufficient::Scale;
use crate::{bayesian, frequentist, sequential, srm};
use crate::{
    ClusterSums, Contrast, Difference, InputError, Moments, QuantileSums, SufficientStats, Undefined,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Proportion,
    Mean,
    Ratio,
    /// A quantile (`metric.quantile`) with its order-statistic bounds; see `crate::quantile`.
    Quantile,
}

/// How effects and their uncertainty are computed. The one definition: experiments
/// (`rctgate_domain`) and `rctgate stats` requests use this type.
///
/// The default, for experiments, is `sequential`: results are on a dashboard that people look
/// at every day, and fixed-horizon p-values read repeatedly inflate false positives, while
/// sequential confidence sequences stay valid at every look. (`rctgate stats` requires the
/// field.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Fixed-horizon tests (Welch); valid when read once, at the planned sample.
    Frequentist,
    /// Always-valid confidence sequences.
    #[default]
    Sequential,
    /// Flat prior, normal posterior; reports chance to win.
    Bayesian,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    pub kind: Kind,
    /// The quantile level of a `quantile` metric, in (0, 1).
    pub quantile: Option<f64>,
    #[serde(default)]
    pub cuped: bool,
    #[serde(default)]
    pub direction: Direction,
}

/// One arm's sums as the user sends them. A quantile metric's arm carries gbstats' own
/// fields instead of `sum`: `n` values (events), `n_star`, `quantile_hat`, `quantile_lower`,
/// `quantile_upper`, and for values clustered in units `main_sum`, `main_sum_squares`,
/// `denominator_sum`, `denominator_sum_squares`, `main_denominator_sum_product` and
/// `n_clusters` (units).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantInput {
    pub name: String,
    pub n: u64,
    pub sum: Option<f64>,
    pub sum_squares: Option<f64>,
    pub den_sum: Option<f64>,
    pub den_sum_squares: Option<f64>,
    pub num_den_sum_product: Option<f64>,
    pub pre_sum: Option<f64>,
    pub pre_sum_squares: Option<f64>,
    pub post_pre_sum_product: Option<f64>,
    pub n_star: Option<u64>,
    pub quantile_hat: Option<f64>,
    pub quantile_lower: Option<f64>,
    pub quantile_upper: Option<f64>,
    pub main_sum: Option<f64>,
    pub main_sum_squares: Option<f64>,
    pub denominator_sum: Option<f64>,
    pub denominator_sum_squares: Option<f64>,
    pub main_denominator_sum_product: Option<f64>,
    pub n_clusters: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsRequest {
    pub metric: MetricSpec,
    pub method: Method,
    #[serde(default)]
    pub difference: Difference,
    #[serde(default)]
    pub alternative: Alternative,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default = "default_tuning")]
    pub sequential_tuning: f64,
    pub expected_weights: Option<Vec<f64>>,
    pub variants: Vec<VariantInput>,
}

fn default_alpha() -> f64 {
    0.05
}

fn default_tuning() -> f64 {
    sequential::DEFAULT_TUNING
}

/// One row of the answer. Control's row has only the first four fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantResult {
    pub name: String,
    pub n: u64,
    pub mean: f64,
    pub variance: f64,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<ComparisonResult>,
}

/// A treatment against control. `null` figures come with a `reason`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonResult {
    pub effect: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub p_value: Option<f64>,
    pub chance_to_win: Option<f64>,
    pub risk: Option<f64>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsResponse {
    pub srm_p_value: f64,
    pub variants: Vec<VariantResult>,
}

/// Parses a request, naming the offending field on failure.
pub fn parse(json: &str) -> Result<StatsRequest, InputError> {
    // The plain parser is several times faster; the path-tracking one runs
    // only to explain a failure.
    serde_json::from_str(json).map_err(|_| explain_parse_error(json))
}

fn explain_parse_error(json: &str) -> InputError {
    let de = &mut serde_json::Deserializer::from_str(json);
    let parsed: Result<StatsRequest, _> = serde_path_to_error::deserialize(&mut *de);
    let error = match parsed {
        Ok(_) => match de.end() {
            Err(trailing) => trailing,
            Ok(()) => return InputError::new("", "The request could not be parsed."),
        },
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if !(inner.is_syntax() || inner.is_eof() || path == ".") {
                return InputError::new(path.clone(), format!("Field `{path}` is invalid: {inner}."));
            }
            inner
        }
    };
    if error.is_data() {
        InputError::new("", format!("The request is malformed: {error}."))
    } else {
        InputError::new("", format!("The input is not valid JSON: {error}."))
    }
}

/// Parses and analyses a request: the whole of `rctgate stats`.
pub fn run(json: &str) -> Result<StatsResponse, InputError> {
    parse(json)?.analyse()
}

impl StatsRequest {
    /// Validates the request and compares every treatment with control.
    pub fn analyse(&self) -> Result<StatsResponse, InputError> {
        let arms = self.arm_stats()?;
        let weights = self.weights()?;
        let counts: Vec<f64> = arms.iter().map(SufficientStats::units).collect();
        let srm_p_value = srm::srm_p_value(&counts, weights.unwrap_or(&[]));
        if !srm_p_value.is_finite() {
            return Err(too_large("variants"));
        }
        let mut variants = Vec::with_capacity(arms.len());
        for (i, (input, stats)) in self.variants.iter().zip(&arms).enumerate() {
            let (mean, variance) = (stats.unadjusted_mean(), stats.unadjusted_variance());
            if !(mean.is_finite() && variance.is_finite()) {
                return Err(too_large(&format!("variants[{i}]")));
            }
            variants.push(VariantResult {
                name: input.name.clone(),
                n: input.n,
                mean,
                variance,
                comparison: (i > 0).then(|| self.compare(&arms[0], stats)),
            });
        }
        Ok(StatsResponse {
            srm_p_value,
            variants,
        })
    }

    fn compare(&self, control: &SufficientStats, treatment: &SufficientStats) -> ComparisonResult {
        let inference = Contrast::new(control, treatment, self.difference).map(|c| match self.method {
            Method::Frequentist => frequentist::welch_test(&c, self.alpha, self.alternative),
            Method::Sequential => sequential::confidence_sequence(&c, self.alpha, self.sequential_tuning),
            Method::Bayesian => bayesian::posterior(&c, self.alpha, self.metric.direction),
        });
        match inference.and_then(all_finite) {
            Ok(i) => ComparisonResult {
                effect: Some(i.effect),
                ci_low: i.ci_low,
                ci_high: i.ci_high,
                p_value: i.p_value,
                chance_to_win: i.chance_to_win,
                risk: i.risk,
                reason: None,
            },
            Err(why) => ComparisonResult {
                effect: None,
                ci_low: None,
                ci_high: None,
                p_value: None,
                chance_to_win: None,
                risk: None,
                reason: Some(why.reason().to_string()),
            },
        }
    }

    /// The checked expected weights; `None` means equal weights.
    fn weights(&self) -> Result<Option<&[f64]>, InputError> {
        let k = self.variants.len();
        let Some(weights) = &self.expected_weights else {
            return Ok(None);
        };
        if weights.len() != k {
            return Err(InputError::new(
                "expected_weights",
                format!(
                    "expected_weights has {} entries but there are {k} variants; give one weight per variant.",
                    weights.len()
                ),
            ));
        }
        if let Some(i) = weights.iter().position(|w| !(w.is_finite() && *w > 0.0)) {
            return Err(InputError::new(
                format!("expected_weights[{i}]"),
                format!("expected_weights[{i}] must be a positive number."),
            ));
        }
        Ok(Some(weights))
    }

    /// Checks the request as a whole and builds each arm's statistics.
    fn arm_stats(&self) -> Result<Vec<SufficientStats>, InputError> {
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(InputError::new(
                "alpha",
                "alpha must lie strictly between 0 and 1.",
            ));
        }
        if !(self.sequential_tuning.is_finite() && self.sequential_tuning > 0.0) {
            return Err(InputError::new(
                "sequential_tuning",
                "sequential_tuning must be a positive number of units.",
            ));
        }
        if self.alternative != Alternative::TwoSided && self.method != Method::Frequentist {
            return Err(InputError::new(
                "alternative",
                "alternative: one-sided tests are available with method frequentist only.",
            ));
        }
        if self.metric.cuped && matches!(self.metric.kind, Kind::Ratio | Kind::Quantile) {
            return Err(InputError::new(
                "metric.cuped",
                "metric.cuped is not supported for ratio and quantile metrics; use a mean or proportion metric.",
            ));
        }
        match (self.metric.kind, self.metric.quantile) {
            (Kind::Quantile, None) => {
                return Err(InputError::new(
                    "metric.quantile",
                    "metric.quantile is required for a quantile metric: the level, e.g. 0.95 for p95.",
                ))
            }
            (Kind::Quantile, Some(level)) if !(level > 0.0 && level < 1.0) => {
                return Err(InputError::new(
                    "metric.quantile",
                    "metric.quantile must lie strictly between 0 and 1 (0.95 for p95).",
                ))
            }
            (Kind::Proportion | Kind::Mean | Kind::Ratio, Some(_)) => {
                return Err(InputError::new(
                    "metric.quantile",
                    "metric.quantile is only for metrics of kind quantile.",
                ))
            }
            _ => {}
        }
        if self.variants.len() < 2 {
            return Err(InputError::new(
                "variants",
                "variants must list at least two arms: control first, then each treatment.",
            ));
        }
        for (i, v) in self.variants.iter().enumerate() {
            let field = || format!("variants[{i}].name");
            if v.name.trim().is_empty() {
                return Err(InputError::new(
                    field(),
                    format!("{} must not be empty.", field()),
                ));
            }
            if self.variants[..i].iter().any(|earlier| earlier.name == v.name) {
                return Err(InputError::new(
                    field(),
                    format!(
                        "{} `{}` is used by an earlier variant; names must be unique.",
                        field(),
                        v.name
                    ),
                ));
            }
        }
        self.variants
            .iter()
            .enumerate()
            .map(|(i, v)| {
                ArmReader {
                    i,
                    v,
                    metric: &self.metric,
                }
                .stats()
            })
            .collect()
    }
}

/// Reads one arm's fields with errors that name them.
struct ArmReader<'a> {
    i: usize,
    v: &'a VariantInput,
    metric: &'a MetricSpec,
}

impl ArmReader<'_> {
    /// An error about one of this arm's fields; the name is built only here,
    /// off the happy path.
    fn error(&self, name: &str, says: impl FnOnce(&str) -> String) -> InputError {
        let field = format!("variants[{}].{name}", self.i);
        let message = says(&field);
        InputError::new(field, message)
    }

    fn required(&self, name: &str, value: Option<f64>, why: &str) -> Result<f64, InputError> {
        let value = value.ok_or_else(|| self.error(name, |f| format!("{f} is required {why}.")))?;
        self.finite(name, value)
    }

    fn finite(&self, name: &str, value: f64) -> Result<f64, InputError> {
        if value.is_finite() && value.abs() < 1e150 {
            Ok(value)
        } else {
            Err(self.error(name, |f| {
                format!("{f} must be a finite number below 1e150 in size.")
            }))
        }
    }

    fn non_negative(&self, name: &str, value: f64) -> Result<f64, InputError> {
        if value < 0.0 {
            return Err(self.error(name, |f| format!("{f} must not be negative.")));
        }
        Ok(value)
    }

    /// Σx² >= (Σx)²/n holds for any real data; a violation means the sums
    /// were not computed from the same units.
    fn consistent(&self, name: &str, m: Moments) -> Result<Moments, InputError> {
        if m.sum_squares < m.sum * m.sum / m.n * (1.0 - 1e-9) {
            return Err(self.error(name, |f| {
                format!(
                    "{f} is smaller than sum²/n, which no set of values can produce; \
                     check that the sums come from the same units."
                )
            }));
        }
        Ok(m)
    }

    /// Cauchy-Schwarz: a covariance is at most the product of the standard
    /// deviations, whatever the data.
    fn consistent_product(
        &self,
        name: &str,
        x: &Moments,
        y: &Moments,
        sum_of_products: f64,
    ) -> Result<f64, InputError> {
        let centred = |m: &Moments| (m.sum_squares - m.sum * m.sum / m.n).max(0.0);
        let cross = sum_of_products - x.sum * y.sum / x.n;
        let bound = (centred(x) * centred(y)).sqrt();
        let slack = 1e-9 * (sum_of_products.abs() + (x.sum * y.sum / x.n).abs());
        if cross.abs() > bound + slack {
            return Err(self.error(name, |f| {
                format!(
                    "{f} implies a covariance larger than the two variances allow; \
                     check that the sums come from the same units."
                )
            }));
        }
        Ok(sum_of_products)
    }

    fn proportion(&self, name: &str, sum: f64, n: f64) -> Result<Moments, InputError> {
        let sum = self.non_negative(name, sum)?;
        if sum > n || sum.fract() != 0.0 {
            return Err(self.error(name, |f| {
                format!("{f} counts converted units, so it must be a whole number no larger than n.")
            }));
        }
        Ok(Moments::binary(n, sum))
    }

    /// Σx and Σx² of one quantity; `names` are their two field names.
    fn moments(
        &self,
        names: (&str, &str),
        sum: f64,
        squares: Option<f64>,
        n: f64,
        why: &str,
    ) -> Result<Moments, InputError> {
        let sum = self.finite(names.0, sum)?;
        let sum_squares = self.required(names.1, squares, why)?;
        let sum_squares = self.non_negative(names.1, sum_squares)?;
        self.consistent(names.1, Moments { n, sum, sum_squares })
    }

    fn stats(&self) -> Result<SufficientStats, InputError> {
        let v = self.v;
        if v.n < 2 {
            return Err(self.error("n", |f| format!("{f} must be at least 2 units (got {}).", v.n)));
        }
        let n = v.n as f64;
        if self.metric.kind == Kind::Quantile {
            return self.quantile(n).map(SufficientStats::Quantile);
        }
        let why = match self.metric.kind {
            Kind::Proportion => "for a proportion metric",
            Kind::Mean => "for a mean metric",
            _ => "for a ratio metric",
        };
        let sum = self.required("sum", v.sum, why)?;
        let (scale, value) = match self.metric.kind {
            Kind::Proportion => (Scale::Proportion, self.proportion("sum", sum, n)?),
            Kind::Mean => (
                Scale::Mean,
                self.moments(("sum", "sum_squares"), sum, v.sum_squares, n, why)?,
            ),
            Kind::Quantile | Kind::Ratio => {
                let num = self.moments(("sum", "sum_squares"), sum, v.sum_squares, n, why)?;
                let den_sum = self.required("den_sum", v.den_sum, why)?;
                let den = self.moments(("den_sum", "den_sum_squares"), den_sum, v.den_sum_squares, n, why)?;
                let product = self.required("num_den_sum_product", v.num_den_sum_product, why)?;
                let num_den_sum_product =
                    self.consistent_product("num_den_sum_product", &num, &den, product)?;
                return Ok(SufficientStats::Ratio {
                    num,
                    den,
                    num_den_sum_product,
                });
            }
        };
        if !self.metric.cuped {
            return Ok(SufficientStats::Plain { scale, value });
        }
        let why = "with metric.cuped";
        let pre_sum = self.required("pre_sum", v.pre_sum, why)?;
        let pre = match scale {
            Scale::Proportion => self.proportion("pre_sum", pre_sum, n)?,
            Scale::Mean => {
                self.moments(("pre_sum", "pre_sum_squares"), pre_sum, v.pre_sum_squares, n, why)?
            }
        };
        let product = self.required("post_pre_sum_product", v.post_pre_sum_product, why)?;
        let post_pre_sum_product = self.consistent_product("post_pre_sum_product", &value, &pre, product)?;
        Ok(SufficientStats::Cuped {
            scale,
            post: value,
            pre,
            post_pre_sum_product,
        })
    }
}

impl ArmReader<'_> {
    /// A quantile arm: the estimate between its bounds, and the per-unit sums when any of
    /// them is given (then all are required).
    fn quantile(&self, n: f64) -> Result<QuantileSums, InputError> {
        let v = self.v;
        let why = "for a quantile metric";
        let n_star = v
            .n_star
            .ok_or_else(|| self.error("n_star", |f| format!("{f} is required {why}.")))?;
        let estimate = self.required("quantile_hat", v.quantile_hat, why)?;
        let lower = self.required("quantile_lower", v.quantile_lower, why)?;
        let upper = self.required("quantile_upper", v.quantile_upper, why)?;
        if lower > estimate {
            return Err(self.error("quantile_lower", |f| {
                format!("{f} must not be above quantile_hat: the bounds enclose the estimate.")
            }));
        }
        if upper < estimate {
            return Err(self.error("quantile_upper", |f| {
                format!("{f} must not be below quantile_hat: the bounds enclose the estimate.")
            }));
        }
        let clustered = [
            v.main_sum,
            v.main_sum_squares,
            v.denominator_sum,
            v.denominator_sum_squares,
            v.main_denominator_sum_product,
        ]
        .iter()
        .any(Option::is_some)
            || v.n_clusters.is_some();
        let clusters = if clustered { Some(self.clusters(n)?) } else { None };
        Ok(QuantileSums {
            n,
            n_star: n_star as f64,
            level: self.metric.quantile.unwrap_or(0.5),
            estimate,
            lower,
            upper,
            clusters,
        })
    }

    fn clusters(&self, n: f64) -> Result<ClusterSums, InputError> {
        let v = self.v;
        let why = "for a quantile over clustered values (all six per-unit fields together)";
        let units = v
            .n_clusters
            .ok_or_else(|| self.error("n_clusters", |f| format!("{f} is required {why}.")))?;
        if units == 0 || units as f64 > n {
            return Err(self.error("n_clusters", |f| {
                format!("{f} counts the units the n values come from, so it must be between 1 and n.")
            }));
        }
        let units = units as f64;
        let main_sum = self.required("main_sum", v.main_sum, why)?;
        let main = self.moments(
            ("main_sum", "main_sum_squares"),
            main_sum,
            v.main_sum_squares,
            units,
            why,
        )?;
        let den_sum = self.required("denominator_sum", v.denominator_sum, why)?;
        let den = self.moments(
            ("denominator_sum", "denominator_sum_squares"),
            den_sum,
            v.denominator_sum_squares,
            units,
            why,
        )?;
        let product = self.required(
            "main_denominator_sum_product",
            v.main_denominator_sum_product,
            why,
        )?;
        let main_den_sum_product =
            self.consistent_product("main_denominator_sum_product", &main, &den, product)?;
        Ok(ClusterSums {
            main,
            den,
            main_den_sum_product,
        })
    }
}

fn too_large(field: &str) -> InputError {
    InputError::new(
        field,
        format!("{field}: the sums are too large to give finite figures."),
    )
}

fn all_finite(i: Inference) -> Result<Inference, Undefined> {
    let optional = [i.ci_low, i.ci_high, i.p_value, i.chance_to_win, i.risk];
    if i.effect.is_finite() && optional.iter().flatten().all(|x| x.is_finite()) {
        Ok(i)
    } else {
        Err(Undefined::NotFinite)
    }
}
