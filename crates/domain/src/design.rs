//! Trial designs for when the model's own output decides who is affected (Bernardi et al.,
//! "150 Successful Machine Learning Models", KDD 2019, §7).
//!
//! A better model often changes the experience of fewer users, so its effect hides in the
//! average over everyone. Analysing only the triggered units (those whose experience the
//! model changed) recovers the power, but only when the comparison arm evaluates the same
//! trigger: in a plain A/B test control never calls the model, so it cannot say which of its
//! units the model *would* have affected. The two designs add that arm.
//!
//! - `c_t1_t2`: C never calls the model; T1 calls it and shows the change where the criterion
//!   holds; T2 calls it, evaluates the criterion, and never shows the change. T1 vs T2 on
//!   triggered units is the feature's effect (the verdict); T2 vs C on all units the cost of
//!   calling the model (latency, compute); T1 vs C the total.
//! - `disagreement`: C serves the current model; T1 and T2 compute both models' outputs; T1
//!   serves the candidate, T2 the current. A unit is triggered where the two outputs differ.
//!   T1 vs T2 on triggered units is the candidate's effect where it changes anything (the
//!   verdict), and the disagreement rate is the trigger rate.
//!
//! Arms are read by position: variants[0] is C, [1] T1, [2] T2.

use crate::error::ValidationError;
use serde::{Deserialize, Serialize};

/// How a trial's arms relate, and so which comparisons decide it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Design {
    /// Every treatment against control, on the units the analysis counts.
    #[default]
    Standard,
    /// Booking's C/T1/T2 design.
    #[serde(rename = "c_t1_t2")]
    CT1T2,
    /// Booking's model-disagreement design.
    Disagreement,
}

/// The roles of a design's three arms, as variant indices.
pub const C: usize = 0;
pub const T1: usize = 1;
pub const T2: usize = 2;

impl Design {
    pub fn as_str(self) -> &'static str {
        match self {
            Design::Standard => "standard",
            Design::CT1T2 => "c_t1_t2",
            Design::Disagreement => "disagreement",
        }
    }

    /// Whether the design compares arms other than each treatment with control.
    pub fn is_standard(self) -> bool {
        self == Design::Standard
    }

    /// For serde's `skip_serializing_if`, which passes a reference.
    pub fn is_standard_ref(&self) -> bool {
        self.is_standard()
    }

    /// What each arm must be, in one sentence, for error messages and docs.
    fn roles(self) -> &'static str {
        match self {
            Design::Standard => "",
            Design::CT1T2 => {
                "C (never calls the model), T1 (calls it and shows the change), T2 (calls it, \
                 evaluates the criterion, never shows the change)"
            }
            Design::Disagreement => {
                "C (serves the current model), T1 (computes both, serves the candidate), T2 \
                 (computes both, serves the current model)"
            }
        }
    }

    /// Refuses arms that do not match the design's roles, naming the field: `versions` are the
    /// variants' model versions, in order.
    pub fn validate(self, versions: &[Option<&str>], triggered_only: bool) -> Result<(), ValidationError> {
        if self.is_standard() {
            return Ok(());
        }
        let name = self.as_str();
        if versions.len() != 3 {
            return Err(ValidationError::new(
                "variants",
                format!(
                    "The {name} design needs exactly three variants, in this order: {}; {} given.",
                    self.roles(),
                    versions.len()
                ),
            ));
        }
        if triggered_only {
            return Err(ValidationError::new(
                "analysis.triggered_only",
                format!(
                    "The {name} design already compares T1 with T2 on triggered units and the other \
                     arms on all units; leave triggered_only false."
                ),
            ));
        }
        let version = |i: usize| versions[i];
        match self {
            Design::CT1T2 if version(T1) != version(T2) => Err(ValidationError::new(
                "variants[2].model_version",
                format!(
                    "In the c_t1_t2 design T1 and T2 call the same model, so their model_version must \
                     match ({} and {}).",
                    version(T1).unwrap_or("none"),
                    version(T2).unwrap_or("none")
                ),
            )),
            Design::Disagreement if version(T2) != version(C) => Err(ValidationError::new(
                "variants[2].model_version",
                format!(
                    "In the disagreement design T2 serves the current model, as C does, so their \
                     model_version must match ({} and {}).",
                    version(C).unwrap_or("none"),
                    version(T2).unwrap_or("none")
                ),
            )),
            Design::Disagreement if version(T1).is_some() && version(T1) == version(C) => {
                Err(ValidationError::new(
                    "variants[1].model_version",
                    "In the disagreement design T1 serves the candidate, so its model_version must differ \
                 from C's.",
                ))
            }
            _ => Ok(()),
        }
    }
}
