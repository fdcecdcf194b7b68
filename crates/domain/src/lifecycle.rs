//! The experiment lifecycle `draft -> running -> stopped` and the refusals it produces.
//!
//! The lifecycle only moves forward. A stopped experiment is a concluded trial whose frozen
//! verdict may justify a promotion, so it can never run again or change; to try again, create a
//! new experiment.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where an experiment is in its life. Owned by the server: whatever a client sends is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being designed; assigns nobody.
    #[default]
    Draft,
    /// Assigning units; its randomization is frozen.
    Running,
    /// Concluded; nothing about it may change.
    Stopped,
}

impl Status {
    /// The lower-case name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<Status> {
        [Status::Draft, Status::Running, Status::Stopped]
            .into_iter()
            .find(|status| status.as_str() == text)
    }

    /// The status after `start`, or why an experiment in this status cannot start.
    pub fn start(self, key: &str) -> Result<Status, Refusal> {
        match self {
            Status::Draft => Ok(Status::Running),
            Status::Running => Err(Refusal::new(format!("Experiment {key} is already running."))),
            Status::Stopped => Err(Refusal::new(format!(
                "Experiment {key} is stopped and cannot run again; create a new experiment instead."
            ))),
        }
    }

    /// The status after `stop`, or why an experiment in this status cannot stop.
    pub fn stop(self, key: &str) -> Result<Status, Refusal> {
        match self {
            Status::Running => Ok(Status::Stopped),
            Status::Draft => Err(Refusal::new(format!(
                "Experiment {key} has not started, so it cannot stop."
            ))),
            Status::Stopped => Err(Refusal::new(format!("Experiment {key} is already stopped."))),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A well-formed request that the rules forbid in the current state; the server answers 409
/// with `reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Refusal {
    /// One sentence saying what is refused and why.
    pub reason: String,
}

impl Refusal {
    /// A refusal with the given reason sentence.
    pub fn new(reason: impl Into<String>) -> Self {
        Refusal {
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_moves_forward_only() {
        assert_eq!(Status::Draft.start("k"), Ok(Status::Running));
        assert_eq!(Status::Running.stop("k"), Ok(Status::Stopped));
        assert!(Status::Running.start("k").is_err());
        assert!(Status::Stopped.start("k").is_err());
        assert!(Status::Draft.stop("k").is_err());
        assert!(Status::Stopped.stop("k").is_err());
    }

    #[test]
    fn refusals_name_the_experiment() {
        let refusal = Status::Stopped.start("ranker-v7").expect_err("stopped");
        assert!(refusal.reason.contains("ranker-v7"));
    }

    #[test]
    fn names_round_trip() {
        for status in [Status::Draft, Status::Running, Status::Stopped] {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("paused"), None);
    }
}
