//! How readers hand rows over: the [`RowSink`] trait, in chunks of [`IMPORT_CHUNK_ROWS`].
//!
//! Readers call [`RowSink::row`] (CSV, Parquet: cells borrowed from the reader's buffer) or
//! [`RowSink::record`] (NDJSON: records parsed in place) once per data row, and [`RowSink::flush`]
//! after every [`IMPORT_CHUNK_ROWS`] rows and at the end. Borrowed cells must be used during
//! the call; that is what lets the import validate and copy them without allocating per row.

use super::columns::{Cell, Columns};
use crate::error::ImportError;
use rctgate_domain::EventRecordRef;

/// Rows read and validated at a time, and handed to the inserting thread.
pub const IMPORT_CHUNK_ROWS: usize = 50_000;

/// Receives the rows of a file.
pub(crate) trait RowSink {
    /// One tabular row; `cell(i)` is its cell in column `i`. `number` is the 1-based data row.
    fn row<'c>(
        &mut self,
        number: u64,
        columns: &Columns,
        cell: &dyn Fn(usize) -> Cell<'c>,
    ) -> Result<(), ImportError>;

    /// One parsed record; `number` is its line (NDJSON) or element (JSON array).
    fn record(&mut self, number: u64, record: &EventRecordRef<'_>) -> Result<(), ImportError>;

    /// Ends a chunk; `bytes_done` is how far a text file has been read. Returns `false` to
    /// stop reading (the import failed elsewhere).
    fn flush(&mut self, bytes_done: Option<u64>) -> bool;
}

/// Counts rows and flushes the sink every [`IMPORT_CHUNK_ROWS`].
pub(crate) struct Chunker {
    in_chunk: usize,
}

impl Chunker {
    pub(crate) fn new() -> Chunker {
        Chunker { in_chunk: 0 }
    }

    /// Call after each row; returns `false` when the sink said stop.
    pub(crate) fn after_row(
        &mut self,
        sink: &mut dyn RowSink,
        bytes_done: impl FnOnce() -> Option<u64>,
    ) -> bool {
        self.in_chunk += 1;
        if self.in_chunk < IMPORT_CHUNK_ROWS {
            return true;
        }
        self.in_chunk = 0;
        sink.flush(bytes_done())
    }

    /// Call at the end of the file.
    pub(crate) fn finish(&mut self, sink: &mut dyn RowSink, bytes_done: Option<u64>) {
        if self.in_chunk > 0 {
            self.in_chunk = 0;
            sink.flush(bytes_done);
        }
    }
}
