//! NDJSON import (one event object per line, blank lines skipped, errors name the line), and
//! JSON-array files (read whole, errors name the element): the bodies `POST /v1/events` takes.

use super::{RawBatch, Sink, IMPORT_BATCH_ROWS};
use crate::error::ImportError;
use rctgate_domain::{from_json_slice, parse_event_batch, BatchError, EventRecord};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Reads `path` and hands batches to `sink` until the file ends or `sink` says stop.
pub(super) fn read(path: &Path, sink: &mut Sink<'_>) -> Result<(), ImportError> {
    let file = File::open(path)
        .map_err(|err| ImportError::file(path, format!("Cannot read the file: {err}.")))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let starts_with_bracket = {
        let buffer = reader
            .fill_buf()
            .map_err(|err| ImportError::file(path, format!("Cannot read the file: {err}.")))?;
        buffer.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'[')
    };
    if starts_with_bracket {
        read_array(path, reader, sink)
    } else {
        read_lines(path, reader, sink)
    }
}

fn read_lines(
    path: &Path,
    mut reader: BufReader<File>,
    sink: &mut Sink<'_>,
) -> Result<(), ImportError> {
    let mut line = Vec::new();
    let mut line_number = 0u64;
    let mut bytes_done = 0u64;
    let mut batch = new_batch();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|err| ImportError::file(path, format!("Cannot read the file: {err}.")))?;
        let more = read > 0;
        if more {
            line_number += 1;
            bytes_done += read as u64;
            if !line.iter().all(u8::is_ascii_whitespace) {
                let record: EventRecord = from_json_slice(&line)
                    .map_err(|err| ImportError::at_row(path, line_number, err))?;
                batch.records.push(record);
                batch.rows.push(line_number);
            }
        }
        if batch.records.len() == IMPORT_BATCH_ROWS || (!more && !batch.records.is_empty()) {
            batch.bytes_done = Some(bytes_done);
            if !sink(std::mem::replace(&mut batch, new_batch())) {
                return Ok(());
            }
        }
        if !more {
            return Ok(());
        }
    }
}

/// A JSON array is parsed whole (serde cannot stream array elements); NDJSON is the format
/// for large files.
fn read_array(
    path: &Path,
    mut reader: BufReader<File>,
    sink: &mut Sink<'_>,
) -> Result<(), ImportError> {
    let mut body = Vec::new();
    reader
        .read_to_end(&mut body)
        .map_err(|err| ImportError::file(path, format!("Cannot read the file: {err}.")))?;
    let total_bytes = body.len() as u64;
    let parsed = parse_event_batch(&body, usize::MAX).map_err(|err| match err {
        BatchError::Invalid(err) => ImportError {
            file: path.to_path_buf(),
            row: None,
            field: err.field,
            message: err.message,
        },
        BatchError::TooManyEvents { .. } => ImportError::file(path, err.to_string()),
    })?;
    let mut rows = parsed.positions.into_iter();
    let mut records = parsed.records.into_iter().peekable();
    while records.peek().is_some() {
        let batch_records: Vec<EventRecord> = records.by_ref().take(IMPORT_BATCH_ROWS).collect();
        let batch_rows: Vec<u64> = rows.by_ref().take(batch_records.len()).collect();
        let batch = RawBatch {
            records: batch_records,
            rows: batch_rows,
            bytes_done: Some(total_bytes),
        };
        if !sink(batch) {
            break;
        }
    }
    Ok(())
}

fn new_batch() -> RawBatch {
    RawBatch {
        records: Vec::with_capacity(IMPORT_BATCH_ROWS),
        rows: Vec::with_capacity(IMPORT_BATCH_ROWS),
        bytes_done: None,
    }
}
