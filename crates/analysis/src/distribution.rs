//! Response distribution analysis: what the model's outputs (`model_output` on exposures)
//! look like per arm, label-free. A model's output histogram breaks long before labels
//! arrive to show it in a metric (Bernardi et al., KDD 2019): a spike at one value is a
//! feature defect, one central mode a model that cannot separate, a histogram unlike the one
//! the model had on its validation data a shift.
//!
//! Only bin counts come from the engine. Classifier scores (every output in [0, 1]) get
//! [`UNIT_BINS`] equal bins on [0, 1]; other outputs the deciles of all arms' outputs together
//! ([`QUANTILE_BINS`] bins), on which only the shift between arms is read.
//!
//! The shape diagnosis, on [0, 1] histograms of at least [`MIN_VALUES`] outputs, with these
//! thresholds (the shares are of the arm's outputs):
//! - **spike**: one bin holds at least [`SPIKE_SHARE`] of the outputs and at least
//!   [`SPIKE_RATIO`] times each neighbour's share;
//! - modes are the local maxima of the shares smoothed over three bins that hold at least
//!   [`MODE_SHARE`]; **bimodal** (healthy): two modes with a valley between them at most
//!   [`VALLEY_RATIO`] of the lower one; the valley's bin centre is the label-free threshold;
//! - **central mode**: a single mode away from both ends (not in the outer [`EDGE_BINS`] bins
//!   on either side): the scores pile up in the middle;
//! - **noisy**: the raw shares have at least [`NOISY_PEAKS`] local maxima (not smooth).
//!
//! The shift against a reference histogram (the model version's `reference_distribution`, or
//! control) is read by the Kolmogorov-Smirnov distance of the binned distributions and the
//! population stability index, PSI = Σ (a - e) ln(a / e) over the bins' shares, an empty
//! bin's share taken as [`PSI_FLOOR`]; a PSI above [`PSI_SHIFT`] is reported as a shift (the
//! usual 0.1 / 0.25 reading: above 0.25, the population changed).

pub use rctgate_domain::Histogram;
use serde::{Deserialize, Serialize};

/// Equal bins on [0, 1] for classifier scores.
pub const UNIT_BINS: usize = 20;
/// Bins at the deciles of all outputs, for outputs outside [0, 1].
pub const QUANTILE_BINS: usize = 10;
/// Outputs an arm needs before its shape is diagnosed.
pub const MIN_VALUES: u64 = 200;
/// A spike's least share of all outputs.
pub const SPIKE_SHARE: f64 = 0.2;
/// A spike's least ratio to each neighbouring bin.
pub const SPIKE_RATIO: f64 = 4.0;
/// A mode's least smoothed share.
pub const MODE_SHARE: f64 = 0.02;
/// A clear valley is at most this fraction of the lower mode.
pub const VALLEY_RATIO: f64 = 0.5;
/// Bins at either end where a single mode is not "central".
pub const EDGE_BINS: usize = 4;
/// Local maxima of the raw shares from which a histogram is noisy.
pub const NOISY_PEAKS: usize = 5;
/// The share an empty bin counts as in the PSI.
pub const PSI_FLOOR: f64 = 1e-4;
/// A PSI above this is a shift.
pub const PSI_SHIFT: f64 = 0.25;

/// The Kolmogorov-Smirnov distance between two binned distributions on the same bins: the
/// largest gap between their cumulative shares. `None` when the bins differ or either is empty.
pub fn ks_distance(a: &[u64], b: &[u64]) -> Option<f64> {
    let (total_a, total_b) = (a.iter().sum::<u64>(), b.iter().sum::<u64>());
    if a.len() != b.len() || total_a == 0 || total_b == 0 {
        return None;
    }
    let (mut cumulative_a, mut cumulative_b, mut largest) = (0u64, 0u64, 0.0f64);
    for (count_a, count_b) in a.iter().zip(b) {
        cumulative_a += count_a;
        cumulative_b += count_b;
        let gap = (cumulative_a as f64 / total_a as f64 - cumulative_b as f64 / total_b as f64).abs();
        largest = largest.max(gap);
    }
    Some(largest)
}

/// The population stability index of `actual` against `expected` on the same bins; an empty
/// bin's share counts as [`PSI_FLOOR`]. `None` when the bins differ or either is empty.
pub fn psi(actual: &[u64], expected: &[u64]) -> Option<f64> {
    let (total_a, total_e) = (actual.iter().sum::<u64>(), expected.iter().sum::<u64>());
    if actual.len() != expected.len() || total_a == 0 || total_e == 0 {
        return None;
    }
    let share = |count: u64, total: u64| (count as f64 / total as f64).max(PSI_FLOOR);
    Some(
        actual
            .iter()
            .zip(expected)
            .map(|(a, e)| {
                let (a, e) = (share(*a, total_a), share(*e, total_e));
                (a - e) * (a / e).ln()
            })
            .sum(),
    )
}

/// What one arm's [0, 1] histogram looks like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "shape", rename_all = "snake_case")]
pub enum Shape {
    /// Two modes with a clear valley: a model that separates; `threshold` is the valley's
    /// bin centre, a label-free decision threshold.
    Bimodal { threshold: f64 },
    /// One mode away from both ends: scores pile up in the middle (high bias, noisy labels).
    CentralMode { at: f64 },
    /// One bin holds an outsized share: a constant output, usually a feature defect.
    Spike { at: f64, share: f64 },
    /// Not smooth: many local maxima.
    Noisy { peaks: usize },
    /// None of the above (one mode at an end, as with imbalanced classes; or a plateau).
    Unremarkable,
    /// Fewer than [`MIN_VALUES`] outputs.
    TooFew,
}

impl Shape {
    /// Whether the shape is worth a diagnostic (a warning on the scorecard).
    pub fn is_suspect(&self) -> bool {
        matches!(
            self,
            Shape::CentralMode { .. } | Shape::Spike { .. } | Shape::Noisy { .. }
        )
    }
}

/// The shape of a histogram on the [`UNIT_BINS`] equal bins of [0, 1], by the module's rules.
pub fn shape(histogram: &Histogram) -> Shape {
    if histogram.total() < MIN_VALUES {
        return Shape::TooFew;
    }
    let shares = histogram.shares();
    let bins = shares.len();
    let centre = |i: usize| {
        let (low, high) = (histogram.edges.get(i), histogram.edges.get(i + 1));
        low.zip(high).map_or(0.0, |(low, high)| (low + high) / 2.0)
    };
    let neighbour = |i: usize, step: isize| {
        i.checked_add_signed(step)
            .and_then(|j| shares.get(j))
            .copied()
            .unwrap_or(0.0)
    };
    if let Some((i, share)) = shares
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
    {
        let beside = neighbour(i, -1).max(neighbour(i, 1));
        if share >= SPIKE_SHARE && share >= SPIKE_RATIO * beside {
            return Shape::Spike { at: centre(i), share };
        }
    }
    let raw_peaks = (0..bins)
        .filter(|&i| shares[i] > neighbour(i, -1) && shares[i] > neighbour(i, 1))
        .count();
    if raw_peaks >= NOISY_PEAKS {
        return Shape::Noisy { peaks: raw_peaks };
    }
    let smoothed: Vec<f64> = (0..bins)
        .map(|i| {
            let window: Vec<f64> = [i.checked_sub(1), Some(i), (i + 1 < bins).then_some(i + 1)]
                .into_iter()
                .flatten()
                .map(|j| shares[j])
                .collect();
            window.iter().sum::<f64>() / window.len() as f64
        })
        .collect();
    let at = |i: usize, step: isize| {
        i.checked_add_signed(step)
            .and_then(|j| smoothed.get(j))
            .copied()
            .unwrap_or(f64::NEG_INFINITY)
    };
    let modes: Vec<usize> = (0..bins)
        .filter(|&i| smoothed[i] >= MODE_SHARE && smoothed[i] > at(i, -1) && smoothed[i] >= at(i, 1))
        .collect();
    if modes.len() >= 2 {
        // The two highest modes, in bin order, and the lowest point between them.
        let mut highest = modes.clone();
        highest.sort_by(|a, b| smoothed[*b].total_cmp(&smoothed[*a]));
        let (first, second) = (highest[0].min(highest[1]), highest[0].max(highest[1]));
        let valley = (first..=second).min_by(|a, b| smoothed[*a].total_cmp(&smoothed[*b]));
        if let Some(valley) = valley {
            if smoothed[valley] <= VALLEY_RATIO * smoothed[first].min(smoothed[second]) {
                return Shape::Bimodal {
                    threshold: centre(valley),
                };
            }
        }
    }
    if let [mode] = modes.as_slice() {
        if *mode >= EDGE_BINS && *mode + EDGE_BINS < bins {
            return Shape::CentralMode { at: centre(*mode) };
        }
    }
    Shape::Unremarkable
}

/// How the bins were chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Binning {
    /// [`UNIT_BINS`] equal bins on [0, 1]: every output is a score in [0, 1].
    Unit,
    /// The deciles of all arms' outputs.
    Quantile,
}

/// A distance between two binned distributions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Shift {
    /// The Kolmogorov-Smirnov distance.
    pub ks: f64,
    /// The population stability index.
    pub psi: f64,
}

impl Shift {
    fn between(actual: &[u64], expected: &[u64]) -> Option<Shift> {
        Some(Shift {
            ks: ks_distance(actual, expected)?,
            psi: psi(actual, expected)?,
        })
    }
}

/// One arm's outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmDistribution {
    pub variant: String,
    /// Counts on the response's `edges`.
    pub counts: Vec<u64>,
    /// Its shape (on unit bins only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<Shape>,
    /// Against control's outputs (treatments only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub against_control: Option<Shift>,
    /// Against the reference distribution of the arm's model version, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub against_reference: Option<ReferenceShift>,
}

/// An arm against its model version's reference distribution, on the reference's bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceShift {
    pub model_version: String,
    #[serde(flatten)]
    pub shift: Shift,
}

/// One UTC day's counts per arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayDistribution {
    pub date: String,
    pub arms: Vec<DayArm>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayArm {
    pub variant: String,
    pub counts: Vec<u64>,
}

/// `GET /v1/experiments/{key}/distributions`: the model outputs per arm and per day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distributions {
    pub experiment: String,
    /// `null` when no exposure carries a `model_output`.
    pub binning: Option<Binning>,
    pub edges: Vec<f64>,
    pub arms: Vec<ArmDistribution>,
    pub days: Vec<DayDistribution>,
    pub diagnostics: Vec<crate::Diagnostic>,
}

/// One row of [`crate::Plan::output_histogram_sql`].
#[derive(Debug, Clone, PartialEq)]
pub struct BinCount {
    pub variant: String,
    pub day_micros: i64,
    pub bin: usize,
    pub n: u64,
}

/// An arm's model version and its reference, with the arm's counts on the reference's bins.
pub struct ArmReference<'a> {
    pub variant: &'a str,
    pub model_version: &'a str,
    pub reference: &'a Histogram,
    pub counts: Vec<u64>,
}

/// The bins for outputs whose smallest is `min`, largest `max`, and deciles `deciles`:
/// equal bins on [0, 1] for scores, else the deciles (repeated values merged); `None` without
/// outputs.
pub fn choose_bins(n: u64, min: f64, max: f64, deciles: &[f64]) -> Option<(Binning, Vec<f64>)> {
    if n == 0 || !min.is_finite() || !max.is_finite() {
        return None;
    }
    if min >= 0.0 && max <= 1.0 {
        return Some((Binning::Unit, Histogram::unit_edges(UNIT_BINS)));
    }
    let mut edges = vec![min];
    for edge in deciles.iter().copied().chain([max]) {
        if edge.is_finite() && edges.last().is_some_and(|last| edge > *last) {
            edges.push(edge);
        }
    }
    if edges.len() < 2 {
        // Every output is the same value: one bin around it.
        edges.push(min + 1.0);
    }
    Some((Binning::Quantile, edges))
}

/// The distributions of `variants` (plan order) from the engine's bin counts on `edges`,
/// with each arm's shape, its shift against control and against its reference, and the
/// diagnostics they raise.
pub fn analyse(
    experiment: &str,
    variants: &[String],
    bins: Option<(Binning, Vec<f64>)>,
    rows: &[BinCount],
    references: &[ArmReference<'_>],
) -> Distributions {
    let Some((binning, edges)) = bins else {
        return Distributions {
            experiment: experiment.to_string(),
            binning: None,
            edges: Vec::new(),
            arms: Vec::new(),
            days: Vec::new(),
            diagnostics: Vec::new(),
        };
    };
    let width = edges.len().saturating_sub(1);
    let index = |name: &str| variants.iter().position(|v| v == name);
    let mut totals = vec![vec![0u64; width]; variants.len()];
    let mut days: Vec<DayDistribution> = Vec::new();
    for row in rows {
        let (Some(arm), true) = (index(&row.variant), row.bin < width) else {
            continue;
        };
        totals[arm][row.bin] += row.n;
        let date = chrono::DateTime::<chrono::Utc>::from_timestamp_micros(row.day_micros)
            .map(|day| day.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        if days.last().is_none_or(|day| day.date != date) {
            days.push(DayDistribution {
                date: date.clone(),
                arms: variants
                    .iter()
                    .map(|variant| DayArm {
                        variant: variant.clone(),
                        counts: vec![0; width],
                    })
                    .collect(),
            });
        }
        if let Some(day) = days.last_mut() {
            day.arms[arm].counts[row.bin] += row.n;
        }
    }
    let mut diagnostics = Vec::new();
    let arms: Vec<ArmDistribution> = variants
        .iter()
        .zip(&totals)
        .enumerate()
        .map(|(i, (variant, counts))| {
            let shape = (binning == Binning::Unit).then(|| {
                shape(&Histogram {
                    edges: edges.clone(),
                    counts: counts.clone(),
                })
            });
            if let Some(found) = shape.as_ref().filter(|shape| shape.is_suspect()) {
                diagnostics.push(shape_diagnostic(variant, found));
            }
            let against_reference = references.iter().find(|r| r.variant == variant).and_then(|r| {
                let shift = Shift::between(&r.counts, &r.reference.counts)?;
                if shift.psi > PSI_SHIFT {
                    diagnostics.push(crate::Diagnostic::new(
                        "output_shift",
                        crate::Severity::Warning,
                        format!(
                            "{variant}'s model outputs differ from {}'s reference distribution (PSI {:.2} > {PSI_SHIFT}, KS {:.3}): the population or the features changed since validation.",
                            r.model_version, shift.psi, shift.ks
                        ),
                    ));
                }
                Some(ReferenceShift {
                    model_version: r.model_version.to_string(),
                    shift,
                })
            });
            ArmDistribution {
                variant: variant.clone(),
                counts: counts.clone(),
                shape,
                against_control: (i > 0).then(|| Shift::between(counts, &totals[0])).flatten(),
                against_reference,
            }
        })
        .collect();
    Distributions {
        experiment: experiment.to_string(),
        binning: Some(binning),
        edges,
        arms,
        days,
        diagnostics,
    }
}

fn shape_diagnostic(variant: &str, shape: &Shape) -> crate::Diagnostic {
    let (kind, message) = match shape {
        Shape::Spike { at, share } => (
            "output_spike",
            format!(
                "{:.0}% of {variant}'s model outputs fall in one bin around {at:.3}: a constant output, usually a feature defect.",
                share * 100.0
            ),
        ),
        Shape::CentralMode { at } => (
            "output_central_mode",
            format!(
                "{variant}'s model outputs pile up around {at:.3} instead of separating into two groups: high bias or noisy labels."
            ),
        ),
        Shape::Noisy { peaks } => (
            "output_noisy",
            format!("{variant}'s model output histogram has {peaks} peaks: not smooth, check the model's inputs."),
        ),
        _ => ("output_shape", format!("{variant}'s model outputs: {shape:?}.")),
    };
    crate::Diagnostic::new(kind, crate::Severity::Warning, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(counts: &[u64]) -> Histogram {
        Histogram {
            edges: Histogram::unit_edges(UNIT_BINS),
            counts: counts.to_vec(),
        }
    }

    #[test]
    fn ks_and_psi_of_equal_histograms_are_zero_and_mismatched_bins_are_none() {
        let a = [5, 10, 20, 10, 5];
        assert_eq!(ks_distance(&a, &a), Some(0.0));
        assert_eq!(psi(&a, &a), Some(0.0));
        assert_eq!(ks_distance(&a, &[1, 2]), None);
        assert_eq!(psi(&[0, 0], &[1, 1]), None);
    }

    #[test]
    fn a_histogram_must_have_one_edge_more_than_counts() {
        let mut h = unit(&[1; UNIT_BINS]);
        assert!(h.check("reference_distribution").is_ok());
        h.counts.pop();
        let err = h.check("reference_distribution").expect_err("refused");
        assert_eq!(err.field.as_deref(), Some("reference_distribution.counts"));
        let decreasing = Histogram {
            edges: vec![0.0, 0.5, 0.4],
            counts: vec![1, 1],
        };
        let err = decreasing.check("reference_distribution").expect_err("refused");
        assert_eq!(err.field.as_deref(), Some("reference_distribution.edges"));
    }
}
