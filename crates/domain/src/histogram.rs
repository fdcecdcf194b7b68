//! A histogram as users register it (a model version's `reference_distribution`, the output
//! distribution on its validation data) and as the analysis reads model outputs.

use crate::error::ValidationError;
use serde::{Deserialize, Serialize};

/// Counts of values per bin; `edges` has one more entry than `counts` (bin i is
/// `[edges[i], edges[i + 1])`, the last bin closed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Histogram {
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

impl Histogram {
    /// Values counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Each bin's share of the values (all 0 for an empty histogram).
    pub fn shares(&self) -> Vec<f64> {
        let total = self.total();
        self.counts
            .iter()
            .map(|count| {
                if total == 0 {
                    0.0
                } else {
                    *count as f64 / total as f64
                }
            })
            .collect()
    }

    /// `bins` equal bins on [0, 1].
    pub fn unit_edges(bins: usize) -> Vec<f64> {
        (0..=bins).map(|i| i as f64 / bins as f64).collect()
    }

    /// Checks that it is a histogram: increasing finite edges, one more than the counts.
    /// The error is a sentence naming `field`'s part.
    pub fn check(&self, field: &str) -> Result<(), ValidationError> {
        if self.counts.is_empty() || self.edges.len() != self.counts.len() + 1 {
            return Err(ValidationError::new(
                format!("{field}.counts"),
                format!(
                    "{field} has {} edges and {} counts; give one edge more than counts (bin i is edges[i] to edges[i+1]).",
                    self.edges.len(),
                    self.counts.len()
                ),
            ));
        }
        if self.edges.iter().any(|edge| !edge.is_finite())
            || self.edges.windows(2).any(|pair| pair[0] >= pair[1])
        {
            return Err(ValidationError::new(
                format!("{field}.edges"),
                format!("{field}.edges must be finite and strictly increasing."),
            ));
        }
        if self.total() == 0 {
            return Err(ValidationError::new(
                format!("{field}.counts"),
                format!("{field}.counts must count at least one value."),
            ));
        }
        Ok(())
    }
}
