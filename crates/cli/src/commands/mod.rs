//! One module per command.

pub mod analyze;
pub mod apply;
pub mod demo;
pub mod experiment;
pub mod gate;
pub mod import;
pub mod keys;
pub mod ledger;
pub mod model;
pub mod power;
pub mod serve;
pub mod stats;

use std::io::Write;
use std::path::Path;

use rctgate_store::Store;

use crate::Failure;

/// Prints a value as pretty JSON on stdout, followed by a newline.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::input(format!("could not encode the result as JSON: {e}")))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(|e| Failure::input(format!("could not write to stdout: {e}")))
}

/// Opens (or creates) a database file, explaining the usual failure: DuckDB
/// lets one process write a file at a time.
pub fn open_store(path: &Path) -> Result<Store, Failure> {
    Store::open(path).map_err(|e| {
        let text = e.to_string();
        if text.contains("lock") {
            Failure::input(format!(
                "{} is in use by another process (is `rctgate serve` running on it? then use --server): {text}",
                path.display()
            ))
        } else {
            Failure::input(format!("cannot open {}: {text}", path.display()))
        }
    })
}
