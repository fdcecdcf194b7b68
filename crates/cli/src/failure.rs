//! How a command fails: one sentence for stderr and the exit code.

/// A failure to report: one sentence, and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl Failure {
    /// Bad input or an unusable environment: exit 2.
    pub fn input(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 2,
        }
    }
}

impl From<rctgate_stats::InputError> for Failure {
    fn from(e: rctgate_stats::InputError) -> Self {
        Failure::input(e.message)
    }
}
