//! What a stopped trial leaves behind: its final scorecard, frozen, or the reason it could not
//! be computed. The gate, the ledger and the results endpoint read it as this type, once, so a
//! renamed field fails to compile instead of silently blocking every promotion.
//!
//! The JSON is SPEC §9's scorecard, or, for a trial that cannot be analysed, an object with
//! the same `experiment`, `decision` (an `invalid` verdict and its reason) and `diagnostics`
//! plus the `error` sentence.

use crate::decision::{Decision, Diagnostic};
use crate::scorecard::{MetricResult, Scorecard, VariantRow};
use rctgate_domain::{Difference, Verdict};
use serde::{Deserialize, Serialize};

/// A stopped trial's frozen result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FrozenResult {
    /// The final scorecard.
    Scorecard(Box<Scorecard>),
    /// No scorecard could be computed (a metric left the catalog): `invalid`, with the reason.
    Unanalysable(Unanalysable),
}

/// The frozen result of a trial whose scorecard could not be computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unanalysable {
    /// Experiment key.
    pub experiment: String,
    /// Why, in one sentence.
    pub error: String,
    /// Always `invalid`, with the same sentence.
    pub decision: Decision,
    /// Empty.
    pub diagnostics: Vec<Diagnostic>,
}

/// The primary metric's effect for one treatment, as promotions record it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrimaryLift {
    /// The primary metric.
    pub metric: String,
    /// The treatment.
    pub variant: String,
    /// Effect against control, `null` when undefined.
    pub effect: Option<f64>,
    /// Interval.
    pub ci_low: Option<f64>,
    /// Interval.
    pub ci_high: Option<f64>,
    /// p-value (frequentist and sequential methods).
    pub p_value: Option<f64>,
    /// Relative or absolute.
    pub difference: Difference,
}

impl PrimaryLift {
    /// Treatment `variant`'s `row` of metric `primary`.
    fn of(primary: &MetricResult, variant: &str, row: &VariantRow, difference: Difference) -> PrimaryLift {
        let comparison = row.comparison();
        PrimaryLift {
            metric: primary.name.clone(),
            variant: variant.to_string(),
            effect: comparison.and_then(|c| c.effect),
            ci_low: comparison.and_then(|c| c.ci_low),
            ci_high: comparison.and_then(|c| c.ci_high),
            p_value: comparison.and_then(|c| c.p_value),
            difference,
        }
    }
}

impl FrozenResult {
    /// The result of a trial whose scorecard could not be computed, for `reason`.
    pub fn unanalysable(experiment: &str, reason: String) -> FrozenResult {
        FrozenResult::Unanalysable(Unanalysable {
            experiment: experiment.to_string(),
            decision: Decision {
                verdict: Verdict::Invalid,
                variant: None,
                reasons: vec![reason.clone()],
            },
            error: reason,
            diagnostics: Vec::new(),
        })
    }

    /// The verdict with its reasons.
    pub fn decision(&self) -> &Decision {
        match self {
            FrozenResult::Scorecard(card) => &card.decision,
            FrozenResult::Unanalysable(failed) => &failed.decision,
        }
    }

    /// The scorecard, when there is one.
    pub fn scorecard(&self) -> Option<&Scorecard> {
        match self {
            FrozenResult::Scorecard(card) => Some(card),
            FrozenResult::Unanalysable(_) => None,
        }
    }

    /// The primary metric's result, when there is one.
    pub fn primary(&self) -> Option<&MetricResult> {
        self.scorecard().and_then(|card| card.metrics.first())
    }

    /// The primary metric's effect for treatment `variant` (a variant index, 1 or more). In a
    /// design's trial, the deciding contrast's effect for its treatment (T1 against T2 on
    /// triggered units), and `None` for the other arms: they measure costs, not a version.
    pub fn primary_lift_at(&self, variant: usize) -> Option<PrimaryLift> {
        let card = self.scorecard()?;
        let mut primary = card.metrics.first()?;
        let mut row = primary.variants.get(variant)?;
        if let Some(deciding) = card.design.iter().find(|c| c.decides) {
            if deciding.treatment != row.result.name {
                return None;
            }
            primary = deciding.metrics.first()?;
            row = primary.variants.get(1)?;
        }
        Some(PrimaryLift::of(primary, &row.result.name, row, card.difference))
    }

    /// The primary metric's effect for treatment `variant` over all its units: what the
    /// offline/online ledger compares across trials. The same as [`FrozenResult::primary_lift_at`]
    /// for a standard trial; for a design's, the deciding treatment's all-units contrast
    /// against C (`total`), since a lift among triggered units is not comparable with other
    /// trials' lifts (it shows the effect where the model changed anything, not on the
    /// business), and `None` for the other arms.
    pub fn business_lift_at(&self, variant: usize) -> Option<PrimaryLift> {
        let card = self.scorecard()?;
        let Some(deciding) = card.design.iter().find(|c| c.decides) else {
            return self.primary_lift_at(variant);
        };
        let name = &card.metrics.first()?.variants.get(variant)?.result.name;
        let control = &card.metrics.first()?.variants.first()?.result.name;
        if deciding.treatment != *name {
            return None;
        }
        let total = card
            .design
            .iter()
            .find(|c| !c.triggered_only && c.treatment == *name && c.control == *control)?;
        let primary = total.metrics.first()?;
        Some(PrimaryLift::of(
            primary,
            name,
            primary.variants.get(1)?,
            card.difference,
        ))
    }

    /// The primary metric's effect for the shipped treatment (or the first one).
    pub fn primary_lift(&self) -> Option<PrimaryLift> {
        let primary = self.primary()?;
        let shipped = self.decision().variant.as_deref();
        let index = primary
            .variants
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, row)| shipped.is_none_or(|name| row.result.name == name))
            .map(|(index, _)| index)?;
        self.primary_lift_at(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unanalysable_trial_reads_back_as_itself() {
        let frozen = FrozenResult::unanalysable("ranker", "The metric bookings is gone.".into());
        let text = serde_json::to_string(&frozen).expect("JSON");
        let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(value["decision"]["verdict"], "invalid");
        assert_eq!(value["error"], "The metric bookings is gone.");
        let back: FrozenResult = serde_json::from_str(&text).expect("reads back");
        assert!(matches!(back, FrozenResult::Unanalysable(_)));
        assert_eq!(back.decision().verdict, Verdict::Invalid);
        assert!(back.primary_lift().is_none());
        assert!(serde_json::from_str::<FrozenResult>(r#"{"decision": {"verdict": "shipp"}}"#).is_err());
    }
}
