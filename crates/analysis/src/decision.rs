//! What the policy decides and notices: the [`Decision`] (a verdict with its reasons) and the
//! [`Diagnostic`]s a scorecard carries.

use serde::{Deserialize, Serialize};

pub use rctgate_domain::Verdict;

/// The verdict with its reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// What to do.
    pub verdict: Verdict,
    /// The treatment to ship (for `ship`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Sentences naming metrics and numbers.
    pub reasons: Vec<String>,
}

impl Decision {
    /// A placeholder before the policy ran.
    pub(crate) fn pending() -> Decision {
        Decision {
            verdict: Verdict::KeepRunning,
            variant: None,
            reasons: Vec::new(),
        }
    }

    pub(crate) fn new(verdict: Verdict, variant: Option<String>, reasons: Vec<String>) -> Decision {
        Decision {
            verdict,
            variant,
            reasons,
        }
    }
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Read before deciding.
    Warning,
    /// The results are not trustworthy or a rule is broken.
    Error,
}

/// Something noticed about the data or the results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// A stable name: `srm`, `multiple_variants`, `proxy_over_optimization`,
    /// `guardrail_breached`, `guardrail_worse`, `metric_error`, `no_metric_events`.
    pub kind: String,
    /// How bad.
    pub severity: Severity,
    /// One or two sentences with the numbers.
    pub message: String,
}

impl Diagnostic {
    pub(crate) fn new(kind: &str, severity: Severity, message: String) -> Diagnostic {
        Diagnostic {
            kind: kind.to_string(),
            severity,
            message,
        }
    }
}
