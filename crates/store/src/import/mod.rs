//! Bulk import of event files: CSV, NDJSON (or a JSON array) and Parquet, in the SPEC §6
//! schema.
//!
//! A file is read in batches of [`IMPORT_BATCH_ROWS`] rows. Each batch goes through the same
//! validation and idempotent insert as `POST /v1/events` and is committed as one transaction.
//! Reading and validating run on a second thread while the previous batch is being inserted,
//! so parsing and DuckDB's appending overlap on two cores.
//!
//! Failure semantics: an invalid row fails its whole batch, and nothing of that batch is
//! stored; the batches before it stay committed. Since ids make inserts idempotent, the fix is
//! to correct the file and import it again: rows already stored count as duplicates.

mod columns;
mod csv_file;
mod json_file;
mod parquet_file;

use crate::error::{ImportError, StoreError, StoreResult};
use crate::ingest::{validate_records, IngestOutcome};
use crate::store::Store;
use rctgate_domain::{Event, EventRecord};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Rows per transaction. Large enough that commit overhead vanishes, small enough that a
/// failed batch is cheap to redo and memory stays bounded.
pub const IMPORT_BATCH_ROWS: usize = 50_000;

/// Where an import is, reported after each committed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportProgress {
    /// Rows read and committed so far.
    pub rows_done: u64,
    /// Rows in the file, when the format says (Parquet).
    pub total_rows: Option<u64>,
    /// Bytes read so far (text formats).
    pub bytes_done: Option<u64>,
    /// Size of the file in bytes (text formats).
    pub total_bytes: Option<u64>,
}

/// The result of an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ImportOutcome {
    /// Data rows read.
    pub rows: u64,
    /// Events stored now.
    pub accepted: u64,
    /// Rows whose id was already stored (or repeated in the file).
    pub duplicates: u64,
}

/// The formats, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
    Parquet,
}

impl Format {
    fn of(path: &Path) -> Result<Format, ImportError> {
        let extension = path
            .extension()
            .and_then(|extension| extension.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("csv") => Ok(Format::Csv),
            Some("ndjson" | "jsonl" | "json") => Ok(Format::Json),
            Some("parquet" | "pq") => Ok(Format::Parquet),
            _ => Err(ImportError::file(
                path,
                "Unknown file type; name it .csv, .ndjson (or .jsonl, .json) or .parquet.",
            )),
        }
    }
}

/// A batch of rows as read from the file, before validation.
pub(crate) struct RawBatch {
    pub records: Vec<EventRecord>,
    /// The row (or line) number of each record, for errors.
    pub rows: Vec<u64>,
    pub bytes_done: Option<u64>,
}

/// Receives batches from a reader; returns `false` when the import has stopped (an insert
/// failed), telling the reader to stop too.
pub(crate) type Sink<'a> = dyn FnMut(RawBatch) -> bool + 'a;

/// A validated batch on its way to the inserting thread.
struct ValidBatch {
    events: Vec<Event>,
    rows: u64,
    bytes_done: Option<u64>,
}

impl Store {
    /// Imports the events of `path` (format by extension), calling `on_progress` after each
    /// committed batch. See the module documentation for what a failure leaves behind.
    pub fn import_file(
        &self,
        path: &Path,
        on_progress: &mut dyn FnMut(ImportProgress),
    ) -> StoreResult<ImportOutcome> {
        let format = Format::of(path).map_err(StoreError::Import)?;
        let metadata = std::fs::metadata(path).map_err(|err| {
            StoreError::Import(ImportError::file(
                path,
                format!("Cannot read the file: {err}."),
            ))
        })?;
        if !metadata.is_file() {
            return Err(StoreError::Import(ImportError::file(
                path,
                "Is not a file.",
            )));
        }
        let catalog = self.experiment_catalog()?;
        let reader_conn = match format {
            Format::Parquet => Some(self.read_connection()?),
            _ => None,
        };
        let total_rows = match &reader_conn {
            Some(conn) => Some(parquet_file::row_count(conn, path).map_err(StoreError::Import)?),
            None => None,
        };
        let mut progress = ImportProgress {
            total_rows,
            total_bytes: (format != Format::Parquet).then_some(metadata.len()),
            ..ImportProgress::default()
        };
        let (sender, receiver) = sync_channel::<Result<ValidBatch, ImportError>>(1);
        std::thread::scope(|scope| {
            scope.spawn(move || read_and_validate(path, format, reader_conn, &catalog, sender));
            self.insert_batches(receiver, &mut progress, on_progress)
        })
    }

    fn insert_batches(
        &self,
        receiver: Receiver<Result<ValidBatch, ImportError>>,
        progress: &mut ImportProgress,
        on_progress: &mut dyn FnMut(ImportProgress),
    ) -> StoreResult<ImportOutcome> {
        let mut outcome = ImportOutcome::default();
        // Dropping the receiver on an early return makes the reader's next send fail, which
        // stops it.
        for batch in receiver {
            let batch = batch.map_err(StoreError::Import)?;
            let inserted: IngestOutcome = self.insert_events(batch.events)?;
            outcome.rows += batch.rows;
            outcome.accepted += inserted.accepted;
            outcome.duplicates += inserted.duplicates;
            progress.rows_done = outcome.rows;
            progress.bytes_done = batch.bytes_done;
            on_progress(*progress);
        }
        Ok(outcome)
    }
}

/// The reader thread: reads the file in batches, validates them and sends them on.
fn read_and_validate(
    path: &Path,
    format: Format,
    reader_conn: Option<duckdb::Connection>,
    catalog: &HashMap<String, Vec<String>>,
    sender: SyncSender<Result<ValidBatch, ImportError>>,
) {
    let mut sink = |raw: RawBatch| -> bool {
        let rows = raw.rows.len() as u64;
        let validated = match validate_records(raw.records, catalog) {
            Ok(events) => Ok(ValidBatch {
                events,
                rows,
                bytes_done: raw.bytes_done,
            }),
            Err((index, err)) => {
                let row = raw.rows.get(index).copied().unwrap_or(index as u64 + 1);
                Err(ImportError::at_row(path, row, err))
            }
        };
        let failed = validated.is_err();
        sender.send(validated).is_ok() && !failed
    };
    let result = match (format, reader_conn) {
        (Format::Csv, _) => csv_file::read(path, &mut sink),
        (Format::Json, _) => json_file::read(path, &mut sink),
        (Format::Parquet, Some(conn)) => parquet_file::read(&conn, path, &mut sink),
        (Format::Parquet, None) => Err(ImportError::file(
            path,
            "No connection to read Parquet with.",
        )),
    };
    if let Err(err) = result {
        // The receiver may be gone already (an insert failed); then its error wins.
        let _ = sender.send(Err(err));
    }
}
