//! A trial's verdict (SPEC §9 `decision.verdict`): what the decision policy says and what the
//! gate reads from a frozen scorecard. It lives here, below the analysis that decides it, so
//! the gate's rules compare a typed value rather than a string read from JSON.

use serde::{Deserialize, Serialize};

/// What to do with a trial's treatments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A treatment won; promote it.
    Ship,
    /// Do not promote any treatment.
    NoShip,
    /// Not enough evidence yet.
    KeepRunning,
    /// The data cannot be trusted.
    Invalid,
}

impl Verdict {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ship => "ship",
            Verdict::NoShip => "no_ship",
            Verdict::KeepRunning => "keep_running",
            Verdict::Invalid => "invalid",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_spelling_is_as_str() {
        for verdict in [
            Verdict::Ship,
            Verdict::NoShip,
            Verdict::KeepRunning,
            Verdict::Invalid,
        ] {
            assert_eq!(
                serde_json::to_value(verdict).ok(),
                Some(serde_json::json!(verdict.as_str()))
            );
        }
    }
}
