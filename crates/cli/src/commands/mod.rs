//! One module per command.

pub mod analyze;
pub mod apply;
pub mod backup;
pub mod demo;
pub mod experiment;
pub mod export;
pub mod gate;
pub mod import;
pub mod import_mlflow;
pub mod keys;
pub mod ledger;
pub mod model;
pub mod power;
pub mod serve;
pub mod stats;

use std::io::Write;
use std::path::Path;

use rctgate_store::Store;

use crate::failure::Failure;

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

/// How a listing command prints: aligned columns for people, or the API's JSON for scripts.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// The API's JSON.
    Json,
}

/// Rows of cells as left-aligned columns two spaces apart, each as wide as its widest cell
/// (in characters), so long names never push a column out of line.
pub fn columns<const N: usize>(rows: impl IntoIterator<Item = [String; N]>) -> String {
    let rows: Vec<[String; N]> = rows.into_iter().collect();
    let mut widths = [0usize; N];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            line.push_str(cell);
            if i + 1 < N {
                line.extend(std::iter::repeat_n(' ', width - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::columns;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let text = columns([
            ["id".to_string(), "name".to_string(), "x".to_string()],
            [
                "a-very-long-identifier".to_string(),
                "é".to_string(),
                "Y".to_string(),
            ],
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0].find("name"), Some(24));
        assert_eq!(lines[1].chars().position(|c| c == 'é'), Some(24));
        let third = |line: &str, mark: char| line.chars().position(|c| c == mark);
        assert_eq!(third(lines[0], 'x'), third(lines[1], 'Y'));
        assert_eq!(third(lines[0], 'x'), Some(30));
    }
}
