//! What the query engine hands back: per-arm sufficient statistics, nothing per unit.

use crate::plan::COLUMNS_PER_METRIC;

/// One metric's sums over one arm's units; see [`COLUMNS_PER_METRIC`] for the order.
/// `None` where the metric has no such quantity (a denominator for a non-ratio metric).
pub type MetricSums = [Option<f64>; COLUMNS_PER_METRIC];

/// Which segment a row of sums belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SegmentKey {
    /// No segmentation asked for.
    All,
    /// Units whose first exposure carried this attribute value (as text).
    Value(String),
    /// Units whose first exposure lacked the attribute.
    Missing,
    /// Units of the less frequent values, pooled.
    Other,
}

impl SegmentKey {
    /// Reads the engine's segment columns: the attribute's raw JSON token (a JSON string is
    /// unquoted; numbers and booleans are kept as written) and the pooled flag.
    pub fn from_token(token: Option<&str>, other: bool) -> SegmentKey {
        if other {
            return SegmentKey::Other;
        }
        match token {
            None => SegmentKey::Missing,
            Some(raw) => match serde_json::from_str::<serde_json::Value>(raw) {
                Ok(serde_json::Value::String(text)) => SegmentKey::Value(text),
                _ => SegmentKey::Value(raw.to_string()),
            },
        }
    }

    /// How the segment is shown.
    pub fn label(&self) -> String {
        match self {
            SegmentKey::All => "(all)".to_string(),
            SegmentKey::Value(value) => value.clone(),
            SegmentKey::Missing => "(none)".to_string(),
            SegmentKey::Other => "(other)".to_string(),
        }
    }
}

/// One row of [`crate::Plan::scorecard_sql`].
#[derive(Debug, Clone, PartialEq)]
pub struct ArmSums {
    /// The variant; `None` for units exposed to more than one variant (excluded).
    pub variant: Option<String>,
    /// The segment the units belong to.
    pub segment: SegmentKey,
    /// Units.
    pub n: u64,
    /// Per metric, in plan order.
    pub metrics: Vec<MetricSums>,
    /// The units' model-confidence decile (1-10; 0: not scored, or a segmented analysis).
    pub bucket: u8,
}

/// One row of [`crate::Plan::daily_sql`]: a day's increments of the primary metric's sums.
#[derive(Debug, Clone, PartialEq)]
pub struct DailySums {
    /// UTC midnight of the day, microseconds since the epoch.
    pub day_micros: i64,
    /// The variant.
    pub variant: String,
    /// Units whose t0 fell on this day.
    pub n: u64,
    /// Increments of the sums that day.
    pub sums: MetricSums,
}

/// One arm of a quantile metric, from [`crate::plan::quantile_counts_sql`],
/// [`crate::plan::quantile_bounds_sql`] and [`crate::plan::quantile_cluster_sql`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantileArm {
    /// Values (events or requests).
    pub n: u64,
    /// The sample quantile and the order statistics bounding it at 95%.
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
    /// Units the values come from.
    pub units: u64,
    /// Σ and Σ² over units of their count of values at or below `estimate`.
    pub below_sum: f64,
    pub below_sum_squares: f64,
    /// Σ and Σ² over units of their count of values.
    pub values_sum: f64,
    pub values_sum_squares: f64,
    /// Σ over units of the product of the two counts.
    pub below_values_sum_product: f64,
}

/// A quantile metric's arms: the metric's index in the plan, then one entry per variant in
/// plan order (`None` for an arm without values).
pub type QuantileArms = (usize, Vec<Option<QuantileArm>>);

/// Adds `other` into `total`, column by column (`None` stays `None`).
pub(crate) fn add_into(total: &mut MetricSums, other: &MetricSums) {
    for (sum, add) in total.iter_mut().zip(other) {
        *sum = match (*sum, add) {
            (Some(a), Some(b)) => Some(a + b),
            (None, Some(b)) => Some(*b),
            (a, None) => a,
        };
    }
}

/// One arm's exposed units and how many of them triggered (`Plan::trigger_counts_sql`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TriggerCounts {
    /// Exposed units of the arm (in no other arm), counted or not.
    pub units: u64,
    /// Those with at least one exposure marked `triggered: true`.
    pub triggered: u64,
    /// Those with at least one exposure that says whether it triggered (true or false).
    pub marked: u64,
}
