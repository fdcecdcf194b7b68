//! The scorecard (SPEC §9): per-arm sums → every metric's effects, Holm-adjusted p-values,
//! SRM, guardrail bounds, segments and the primary metric's cumulative series.
//!
//! Each metric goes through `rctgate_stats::request::StatsRequest`, the same code path as
//! `rctgate stats`, so a scorecard row equals what `rctgate stats` answers for the same sums.

use crate::plan::Role;
use rctgate_domain::{Difference, Direction, Method, MetricKind};
use rctgate_stats::request::{ComparisonResult, VariantResult};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// SRM is flagged below this p-value (SPEC §8).
pub const SRM_THRESHOLD: f64 = 0.001;

/// The whole scorecard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scorecard {
    /// Experiment key.
    pub experiment: String,
    /// What the trial was meant to show.
    #[serde(default)]
    pub hypothesis: String,
    /// When the figures were computed (RFC 3339).
    pub as_of: String,
    /// The experiment's status when computed.
    pub status: String,
    /// The method used for every metric.
    pub method: Method,
    /// Relative or absolute effects.
    pub difference: Difference,
    /// Significance level.
    pub alpha: f64,
    /// The exposure window that counted.
    pub window: WindowView,
    /// Units per variant, in variant order (units in several variants excluded).
    pub units: UnitCounts,
    /// Units exposed to more than one variant, left out of every figure.
    pub excluded_units: u64,
    /// Sample ratio mismatch test against the weights.
    pub srm: Srm,
    /// Every metric, primary first.
    pub metrics: Vec<MetricResult>,
    /// The policy's verdict.
    pub decision: crate::decision::Decision,
    /// What went wrong or looks suspicious.
    pub diagnostics: Vec<crate::decision::Diagnostic>,
    /// The primary metric's effect as of the end of each day.
    pub cumulative: Vec<CumulativePoint>,
    /// The same metrics per segment, when a segment was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<Segments>,
    /// Each arm's model latency per request, when the exposures carry `latency_ms`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latency: Vec<LatencySummary>,
    /// What latency costs the primary, when arms add latency on purpose (`added_latency_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_cost: Option<crate::latency_cost::LatencyCost>,
    /// Each arm's trigger rate, when exposures say whether they triggered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggers: Option<Triggers>,
    /// The primary's effect by model-confidence decile, when exposures carry model outputs
    /// (Booking's uncanny valley: the most confident changes can help least).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
    /// The primary's effect by days since first exposure (novelty and primacy), computed with
    /// the daily series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub novelty: Option<Novelty>,
    /// The design's comparisons (`c_t1_t2`, `disagreement`), the deciding one first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub design: Vec<Contrast>,
}

/// One arm's model latency over the exposures in the window that carry `latency_ms`, in
/// milliseconds per request (`rctgate_analysis::plan::Plan::model_exposures_sql`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// The variant.
    pub variant: String,
    /// Requests (exposures) with a latency.
    pub requests: u64,
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    /// The sample standard deviation over requests.
    #[serde(default)]
    pub std_dev: f64,
}

/// The exposure window, as text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowView {
    /// First exposure time counted; `null`: from the first exposure.
    pub start: Option<String>,
    /// Exposures from this time on are not counted.
    pub end: String,
}

/// Units per variant, serialized as a JSON object in variant order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UnitCounts(pub Vec<(String, u64)>);

impl UnitCounts {
    /// Units of every variant together.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|(_, n)| n).sum()
    }
}

impl<'de> Deserialize<'de> for UnitCounts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = UnitCounts;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of units per variant")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UnitCounts, A::Error> {
                let mut counts = Vec::new();
                while let Some(entry) = map.next_entry::<String, u64>()? {
                    counts.push(entry);
                }
                Ok(UnitCounts(counts))
            }
        }
        deserializer.deserialize_map(InOrder)
    }
}

impl Serialize for UnitCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, n) in &self.0 {
            map.serialize_entry(name, n)?;
        }
        map.end()
    }
}

/// The SRM check.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Srm {
    /// Pearson chi-square p-value of units per variant against the weights.
    pub p_value: f64,
    /// `p_value >= threshold`.
    pub ok: bool,
    /// The threshold used.
    pub threshold: f64,
}

/// How often each arm's units triggered (exposures marked `triggered`), and whether the arms
/// that mark triggers trigger at one rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Triggers {
    /// Every arm, in variant order.
    pub variants: Vec<TriggerRate>,
    /// The chi-square test that the arms marking triggers share one rate (no continuity
    /// correction); `null` with fewer than two such arms, or when all or none triggered.
    pub p_value: Option<f64>,
    /// False when `p_value` is below the SRM threshold: the trigger then depends on the arm.
    pub ok: bool,
}

/// One arm's trigger rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerRate {
    pub variant: String,
    /// Exposed units (in this arm only), counted or not.
    pub units: u64,
    /// Units with a triggered exposure.
    pub triggered: u64,
    /// `triggered / units`; `null` without units.
    pub rate: Option<f64>,
    /// Whether any exposure of the arm says whether it triggered; an arm that never does
    /// (it cannot evaluate the criterion) is left out of the test.
    pub marks_triggers: bool,
}

/// One metric's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricResult {
    /// Metric name.
    pub name: String,
    /// Its role in this experiment.
    pub role: Role,
    /// How units' values are aggregated.
    pub kind: MetricKind,
    /// Which way is good.
    pub direction: Direction,
    /// Whether CUPED adjusted the estimates.
    pub cuped: bool,
    /// Control first, then each treatment against control (SPEC §8 rows plus
    /// `p_value_adjusted`).
    pub variants: Vec<VariantRow>,
    /// Guardrails only: the one-sided check against the margin, per treatment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guardrail: Vec<GuardrailCheck>,
    /// Why the metric could not be analysed, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether a treatment's metric moved, judged by its interval and the metric's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    /// The interval excludes zero on the good side.
    Better,
    /// The interval excludes zero on the bad side.
    Worse,
    /// The interval contains zero.
    Inconclusive,
    /// No interval (the comparison is undefined).
    Unknown,
}

impl MetricResult {
    /// How treatment `treatment` (a variant index, 1 or more) moved against control.
    pub fn movement(&self, treatment: usize) -> Movement {
        let Some(comparison) = self.variants.get(treatment).and_then(|row| row.comparison()) else {
            return Movement::Unknown;
        };
        let (Some(low), Some(high)) = (comparison.ci_low, comparison.ci_high) else {
            return Movement::Unknown;
        };
        let (up, down) = (low > 0.0, high < 0.0);
        match (self.direction, up, down) {
            (Direction::Increase, true, _) | (Direction::Decrease, _, true) => Movement::Better,
            (Direction::Increase, _, true) | (Direction::Decrease, true, _) => Movement::Worse,
            _ => Movement::Inconclusive,
        }
    }
}

/// A SPEC §8 variant row plus the Holm-adjusted p-value (treatments only; `null` for
/// guardrails and proxies, which are not part of the adjusted family, and for Bayesian
/// results, which have no p-value).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VariantRow {
    /// The §8 row.
    #[serde(flatten)]
    pub result: VariantResult,
    /// Holm-adjusted p-value.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub p_value_adjusted: Option<Option<f64>>,
}

/// A field that is present (even as `null`) reads as `Some`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<f64>>, D::Error> {
    Option::<f64>::deserialize(deserializer).map(Some)
}

impl VariantRow {
    /// The comparison with control (treatments only).
    pub fn comparison(&self) -> Option<&ComparisonResult> {
        self.result.comparison.as_ref()
    }
}

/// Whether a guardrail is worse than its margin for one treatment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuardrailCheck {
    /// The treatment.
    pub variant: String,
    /// The tolerated worsening, in the effect's units (relative, or absolute).
    pub margin: f64,
    /// The interval's bound on the good side: the best the treatment plausibly is
    /// (one-sided at alpha for the frequentist method, the two-sided interval otherwise).
    pub bound: Option<f64>,
    /// The bound is worse than the margin: the guardrail is breached.
    pub breached: bool,
}

/// The primary metric as of the end of one day.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CumulativePoint {
    /// The day (UTC), `YYYY-MM-DD`.
    pub date: String,
    /// Units exposed by then.
    pub units: u64,
    /// Each treatment's effect and interval as of then.
    pub effects: Vec<CumulativeEffect>,
}

/// One treatment at one point of the series.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CumulativeEffect {
    /// The treatment.
    pub variant: String,
    /// Effect against control.
    pub effect: f64,
    /// Interval bounds.
    pub ci_low: Option<f64>,
    /// Interval bounds.
    pub ci_high: Option<f64>,
}

/// The scorecard split by an exposure attribute.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Segments {
    /// The attribute.
    pub attribute: String,
    /// Segments by units, largest first; "(other)" pools values past the top 20.
    pub values: Vec<SegmentResult>,
    /// Whether each metric's effect differs across the segments, per treatment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heterogeneity: Vec<SegmentHeterogeneity>,
}

/// Cochran's Q test of one metric's effect of one treatment across the segments
/// (statsmodels' `combine_effects` conventions; `rctgate_stats::heterogeneity`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentHeterogeneity {
    pub metric: String,
    pub role: Role,
    pub variant: String,
    /// Segments with an estimate, over which the test ran.
    pub segments: usize,
    pub q: f64,
    pub df: f64,
    pub p_value: f64,
    /// The share of the variation across segments beyond sampling error, (Q - df) / Q,
    /// truncated at 0.
    pub i_squared: f64,
}

/// One segment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentResult {
    /// The attribute value, "(none)" or "(other)".
    pub value: String,
    /// Units per variant in the segment.
    pub units: UnitCounts,
    /// Every metric in the segment; `p_value_adjusted` is Holm across all segments.
    pub metrics: Vec<MetricResult>,
    /// The segment's trigger rates (its exposed units by their first exposure's attribute),
    /// when exposures say whether they triggered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggers: Option<Triggers>,
}

/// One comparison of a design's trial (`crate::contrasts`) on the scorecard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Contrast {
    pub name: String,
    pub means: String,
    pub control: String,
    pub treatment: String,
    pub triggered_only: bool,
    /// Whether its decision is the trial's verdict.
    pub decides: bool,
    /// Units counted per arm (triggered units only, for a triggered contrast).
    pub units: UnitCounts,
    pub srm: Srm,
    pub metrics: Vec<MetricResult>,
    pub decision: crate::decision::Decision,
    pub diagnostics: Vec<crate::decision::Diagnostic>,
    /// For a triggered contrast: the effect its trigger rate leaves detectable at the planned
    /// sample (`analysis.planned_units` exposed units over the trial's arms), as
    /// `rctgate power --trigger-rate` computes it; `null` without a plan or a rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<rctgate_stats::power::TriggeredDetectableEffect>,
}

/// The primary metric's effect of the first treatment by decile of the model's output among
/// the scored units (triggered ones when triggers are marked), and whether the most confident
/// decile does significantly worse than the middle ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confidence {
    pub metric: String,
    pub variant: String,
    pub buckets: Vec<ConfidenceBucket>,
    /// Deciles 3 to 8 pooled.
    pub middle: Option<BucketEffect>,
    /// One-sided p-value that the top decile's effect is worse than the middle's (a z-test on
    /// the two frequentist effects); `null` without both.
    pub top_vs_middle_p_value: Option<f64>,
}

/// One decile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceBucket {
    /// 1 (least confident) to 10.
    pub bucket: u8,
    /// The model outputs the decile spans.
    pub output_low: Option<f64>,
    pub output_high: Option<f64>,
    /// Units per arm compared (control, treatment).
    pub units: [u64; 2],
    pub effect: Option<BucketEffect>,
}

/// A frequentist effect at the analysis' alpha.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BucketEffect {
    pub effect: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

/// The primary's effect by days since first exposure (computed by the novelty module).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Novelty {
    pub metric: String,
    /// The treatment compared with control.
    pub variant: String,
    /// K: days since first exposure, each unit observed through all of them.
    pub days_observed: i64,
    /// E: the first days, against the rest.
    pub early_days: i64,
    /// Units compared (control, treatment).
    pub units: [u64; 2],
    /// The effect on each day since first exposure (frequentist, the trial's difference).
    pub days: Vec<NoveltyDay>,
    /// The first days' effect minus the later days' (absolute, per day and unit).
    pub early_minus_late: Option<BucketEffect>,
    /// Two-sided p-value of `early_minus_late`.
    pub p_value: Option<f64>,
}

/// One day since first exposure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NoveltyDay {
    /// 0: the day of the first exposure.
    pub day: i64,
    pub effect: Option<BucketEffect>,
}
