//! One module per command.

pub mod power;
pub mod stats;

use std::io::Write;

use crate::Failure;

/// Prints a value as pretty JSON on stdout, followed by a newline.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::input(format!("could not encode the result as JSON: {e}")))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(|e| Failure::input(format!("could not write to stdout: {e}")))
}
