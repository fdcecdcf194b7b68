//! What a progressive-delivery controller (Argo Rollouts, Flagger) should do now, from a
//! trial's result: go on (`pass`), roll back (`fail`) or wait.
//!
//! `pass` when the decision is `ship`; `fail` when it is `no_ship` or `invalid`, or when a
//! guardrail is breached, whatever else the scorecard says (a rollout does not wait for the
//! trial's end on a breach); `wait` otherwise.

use crate::decision::Verdict;
use crate::frozen::FrozenResult;
use crate::plan::Role;
use serde::Serialize;

/// What a delivery controller should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The trial says ship: promote.
    Pass,
    /// The trial says no, or cannot be trusted, or a guardrail is breached: roll back.
    Fail,
    /// Not enough evidence yet.
    Wait,
}

/// The answer of `GET /v1/experiments/{key}/rollout-check`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutCheck {
    pub phase: Phase,
    /// The decision's verdict.
    pub verdict: Verdict,
    /// The sample-ratio test's p-value; `null` for a trial that could not be analysed.
    pub srm_p_value: Option<f64>,
    /// The guardrail metrics worse than their margin for some treatment.
    pub guardrails_breached: Vec<String>,
    /// The decision's reasons, and why the phase is `fail` when a guardrail alone made it.
    pub reasons: Vec<String>,
}

impl RolloutCheck {
    /// The check of a trial's result (running: its scorecard; stopped: its frozen one).
    pub fn of(result: &FrozenResult) -> RolloutCheck {
        let decision = result.decision();
        let card = result.scorecard();
        let guardrails_breached: Vec<String> = card
            .into_iter()
            .flat_map(|card| &card.metrics)
            .filter(|metric| metric.role == Role::Guardrail)
            .filter(|metric| metric.guardrail.iter().any(|check| check.breached))
            .map(|metric| metric.name.clone())
            .collect();
        let mut reasons = decision.reasons.clone();
        let phase = match decision.verdict {
            Verdict::NoShip | Verdict::Invalid => Phase::Fail,
            _ if !guardrails_breached.is_empty() => {
                reasons.push(format!(
                    "Guardrails breached: {}; a rollout does not wait for the trial's end on a breach.",
                    guardrails_breached.join(", ")
                ));
                Phase::Fail
            }
            Verdict::Ship => Phase::Pass,
            Verdict::KeepRunning => Phase::Wait,
        };
        RolloutCheck {
            phase,
            verdict: decision.verdict,
            srm_p_value: card.map(|card| card.srm.p_value),
            guardrails_breached,
            reasons,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trial_that_cannot_be_analysed_fails_with_its_reason() {
        let frozen = FrozenResult::unanalysable("ranker", "The metric bookings is gone.".into());
        let check = RolloutCheck::of(&frozen);
        assert_eq!(check.phase, Phase::Fail);
        assert_eq!(check.verdict, Verdict::Invalid);
        assert_eq!(check.srm_p_value, None);
        assert!(check.guardrails_breached.is_empty());
        assert_eq!(check.reasons, ["The metric bookings is gone."]);
        let json = serde_json::to_value(&check).expect("JSON");
        assert_eq!(
            (json["phase"].as_str(), json["verdict"].as_str()),
            (Some("fail"), Some("invalid"))
        );
    }
}
