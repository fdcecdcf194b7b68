//! CSV import: a header row naming the columns (see `columns`), then one event per row.

use super::columns::{Cell, Columns};
use super::sink::{Chunker, RowSink};
use crate::error::ImportError;
use rctgate_domain::ValidationError;
use std::path::Path;

/// Reads `path` into `sink` until the file ends or `sink` says stop.
pub(super) fn read(path: &Path, sink: &mut dyn RowSink) -> Result<(), ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .map_err(|err| ImportError::file(path, format!("Cannot read the file: {err}.")))?;
    let header = reader
        .headers()
        .map_err(|err| csv_error(path, &err))?
        .iter()
        .map(|name| name.trim().to_string())
        .collect();
    let columns = Columns::from_names(header).map_err(|message| ImportError::file(path, message))?;
    let mut row = csv::StringRecord::new();
    let mut row_number = 0u64;
    let mut chunker = Chunker::new();
    while reader
        .read_record(&mut row)
        .map_err(|err| csv_error(path, &err))?
    {
        row_number += 1;
        let cell = |index: usize| match row.get(index) {
            None | Some("") => Cell::Null,
            Some(text) => Cell::Text(text),
        };
        sink.row(row_number, &columns, &cell)?;
        if !chunker.after_row(sink, || Some(reader.position().byte())) {
            return Ok(());
        }
    }
    chunker.finish(sink, Some(reader.position().byte()));
    Ok(())
}

/// A malformed CSV row (unbalanced quotes, wrong number of fields, bad UTF-8).
fn csv_error(path: &Path, err: &csv::Error) -> ImportError {
    let message = match err.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("Has {len} fields but the header has {expected_len}."),
        csv::ErrorKind::Utf8 { .. } => "Is not valid UTF-8.".to_string(),
        _ => format!("Is not valid CSV: {err}."),
    };
    // The csv crate counts records from 0 with the header as record 0, which makes its record
    // number the 1-based data row.
    match err.position() {
        Some(position) => ImportError::at_row(path, position.record(), ValidationError::general(message)),
        None => ImportError::file(path, message),
    }
}
