//! Reading an event file without storing it: `rctgate import --server` reads
//! here and sends the rows to a server, which validates and stores them.

use std::path::Path;

use rctgate_domain::{EventRecord, EventRecordRef};

use super::columns::{Cell, Columns};
use super::format::{read_file, Format};
use super::sink::RowSink;
use crate::error::ImportError;

/// A batch of rows as read from a file, not yet validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvents {
    pub records: Vec<EventRecord>,
    /// The file's row (or line) number of each record, for errors.
    pub rows: Vec<u64>,
    /// Bytes read so far (text formats).
    pub bytes_done: Option<u64>,
    /// Rows in the file, when the format says (Parquet).
    pub total_rows: Option<u64>,
}

/// Reads `path` (format by extension) in batches; `on_batch` returns `false`
/// to stop reading.
pub fn read_event_file(path: &Path, on_batch: &mut dyn FnMut(RawEvents) -> bool) -> Result<(), ImportError> {
    let format = Format::of(path)?;
    let metadata = std::fs::metadata(path)
        .map_err(|err| ImportError::file(path, format!("Cannot read the file: {err}.")))?;
    if !metadata.is_file() {
        return Err(ImportError::file(path, "Is not a file."));
    }
    // DuckDB reads Parquet; an in-memory database touches no file but this one.
    let mut reader = match format {
        Format::Parquet => Some(super::parquet_file::reader(path)?),
        _ => None,
    };
    let total_rows = match &mut reader {
        Some(reader) => Some(reader.row_count(path)?),
        None => None,
    };
    let mut sink = RecordSink {
        path,
        batch: RawEvents {
            records: Vec::new(),
            rows: Vec::new(),
            bytes_done: None,
            total_rows,
        },
        on_batch,
    };
    read_file(path, format, reader.as_mut(), &mut sink)
}

/// Collects owned records and hands them over a chunk at a time.
struct RecordSink<'a> {
    path: &'a Path,
    batch: RawEvents,
    on_batch: &'a mut dyn FnMut(RawEvents) -> bool,
}

impl RecordSink<'_> {
    fn push(&mut self, number: u64, record: EventRecord) {
        self.batch.records.push(record);
        self.batch.rows.push(number);
    }
}

impl RowSink for RecordSink<'_> {
    fn row<'c>(
        &mut self,
        number: u64,
        columns: &Columns,
        cell: &dyn Fn(usize) -> Cell<'c>,
    ) -> Result<(), ImportError> {
        let record = columns
            .record(cell)
            .map_err(|err| ImportError::at_row(self.path, number, err))?;
        self.push(number, record);
        Ok(())
    }

    fn record(&mut self, number: u64, record: &EventRecordRef<'_>) -> Result<(), ImportError> {
        self.push(number, record.to_record());
        Ok(())
    }

    fn flush(&mut self, bytes_done: Option<u64>) -> bool {
        let batch = RawEvents {
            records: std::mem::take(&mut self.batch.records),
            rows: std::mem::take(&mut self.batch.rows),
            bytes_done,
            total_rows: self.batch.total_rows,
        };
        (self.on_batch)(batch)
    }
}
