//! CSV import: a header row naming the columns (see `columns`), then one event per row.

use super::columns::{Cell, Columns};
use super::{RawBatch, Sink, IMPORT_BATCH_ROWS};
use crate::error::ImportError;
use rctgate_domain::ValidationError;
use std::path::Path;

/// Reads `path` and hands batches to `sink` until the file ends or `sink` says stop.
pub(super) fn read(path: &Path, sink: &mut Sink<'_>) -> Result<(), ImportError> {
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
    let columns =
        Columns::from_names(header).map_err(|message| ImportError::file(path, message))?;
    let mut row = csv::StringRecord::new();
    let mut row_number = 0u64;
    let mut batch = new_batch();
    loop {
        let more = reader
            .read_record(&mut row)
            .map_err(|err| csv_error(path, &err))?;
        if more {
            row_number += 1;
            let record = columns
                .record(|index| match row.get(index) {
                    None | Some("") => Cell::Null,
                    Some(text) => Cell::Text(text),
                })
                .map_err(|err| ImportError::at_row(path, row_number, err))?;
            batch.records.push(record);
            batch.rows.push(row_number);
        }
        if batch.records.len() == IMPORT_BATCH_ROWS || (!more && !batch.records.is_empty()) {
            batch.bytes_done = Some(reader.position().byte());
            if !sink(std::mem::replace(&mut batch, new_batch())) {
                return Ok(());
            }
        }
        if !more {
            return Ok(());
        }
    }
}

fn new_batch() -> RawBatch {
    RawBatch {
        records: Vec::with_capacity(IMPORT_BATCH_ROWS),
        rows: Vec::with_capacity(IMPORT_BATCH_ROWS),
        bytes_done: None,
    }
}

/// A malformed CSV row (unbalanced quotes, wrong number of fields, bad UTF-8).
fn csv_error(path: &Path, err: &csv::Error) -> ImportError {
    let message = match err.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("Has {len} fields but the header has {expected_len}.")
        }
        csv::ErrorKind::Utf8 { .. } => "Is not valid UTF-8.".to_string(),
        _ => format!("Is not valid CSV: {err}."),
    };
    // The csv crate counts records from 0 with the header as record 0, which makes its record
    // number the 1-based data row.
    match err.position() {
        Some(position) => {
            ImportError::at_row(path, position.record(), ValidationError::general(message))
        }
        None => ImportError::file(path, message),
    }
}
