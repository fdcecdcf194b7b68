//! NDJSON import (one event object per line, blank lines skipped, errors name the line), and
//! JSON-array files (read whole, errors name the element): the bodies `POST /v1/events` takes.

use super::sink::{Chunker, RowSink};
use crate::error::ImportError;
use rctgate_domain::{from_json_slice, parse_event_batch, BatchError, EventRecordRef};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Reads `path` into `sink` until the file ends or `sink` says stop.
pub(super) fn read(path: &Path, sink: &mut dyn RowSink) -> Result<(), ImportError> {
    let file = File::open(path).map_err(|err| cannot_read(path, &err))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let starts_with_bracket = {
        let buffer = reader.fill_buf().map_err(|err| cannot_read(path, &err))?;
        buffer.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'[')
    };
    if starts_with_bracket {
        read_array(path, reader, sink)
    } else {
        read_lines(path, reader, sink)
    }
}

fn cannot_read(path: &Path, err: &std::io::Error) -> ImportError {
    ImportError::file(path, format!("Cannot read the file: {err}."))
}

fn read_lines(path: &Path, mut reader: BufReader<File>, sink: &mut dyn RowSink) -> Result<(), ImportError> {
    let mut line = Vec::new();
    let mut line_number = 0u64;
    let mut bytes_done = 0u64;
    let mut chunker = Chunker::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|err| cannot_read(path, &err))?;
        if read == 0 {
            chunker.finish(sink, Some(bytes_done));
            return Ok(());
        }
        line_number += 1;
        bytes_done += read as u64;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record: EventRecordRef =
            from_json_slice(&line).map_err(|err| ImportError::at_row(path, line_number, err))?;
        sink.record(line_number, &record)?;
        if !chunker.after_row(sink, || Some(bytes_done)) {
            return Ok(());
        }
    }
}

/// A JSON array is parsed whole (serde cannot stream array elements); NDJSON is the format
/// for large files.
fn read_array(path: &Path, mut reader: BufReader<File>, sink: &mut dyn RowSink) -> Result<(), ImportError> {
    let mut body = Vec::new();
    reader
        .read_to_end(&mut body)
        .map_err(|err| cannot_read(path, &err))?;
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
    let mut chunker = Chunker::new();
    for (record, number) in parsed.records.iter().zip(parsed.positions) {
        sink.record(number, record)?;
        if !chunker.after_row(sink, || Some(total_bytes)) {
            return Ok(());
        }
    }
    chunker.finish(sink, Some(total_bytes));
    Ok(())
}
