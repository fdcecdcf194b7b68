//! The reader side of an import: validates each row, prepares it for inserting, and sends
//! full chunks on (to deduplication, see `import`).
//!
//! Tabular rows are validated as fields borrowed from the reader's buffer ([`TabularRow`]),
//! NDJSON lines as records parsed in place, and both copied once into [`EventRows`]. Both
//! are a [`ReceivedEvent`], so the rules are the domain's, applied in its one order:
//! fields, attributes, references to experiments.

use super::columns::{Cell, Columns};
use super::sink::{RowSink, IMPORT_CHUNK_ROWS};
use crate::catalog::variants::ExperimentVariants;
use crate::error::ImportError;
use crate::events::ids::Fingerprinter;
use crate::events::rows::EventRows;
use rctgate_domain::{AttributeValue, EventFields, EventRecordRef, ReceivedEvent, ValidationError};
use std::path::Path;
use std::sync::mpsc::SyncSender;

/// A validated chunk on its way to deduplication.
pub(super) struct ReadChunk {
    /// The events, prepared for inserting.
    pub(super) rows: EventRows,
    /// Data rows read.
    pub(super) row_count: u64,
    pub(super) bytes_done: Option<u64>,
}

/// Validates rows into chunks and sends them on.
pub(super) struct ValidatingSink<'a> {
    path: &'a Path,
    catalog: &'a ExperimentVariants,
    fingerprinter: &'a Fingerprinter,
    sender: SyncSender<Result<ReadChunk, ImportError>>,
    rows: EventRows,
    row_count: u64,
}

impl<'a> ValidatingSink<'a> {
    pub(super) fn new(
        path: &'a Path,
        catalog: &'a ExperimentVariants,
        fingerprinter: &'a Fingerprinter,
        sender: SyncSender<Result<ReadChunk, ImportError>>,
    ) -> Self {
        ValidatingSink {
            path,
            catalog,
            fingerprinter,
            sender,
            rows: EventRows::with_capacity(IMPORT_CHUNK_ROWS),
            row_count: 0,
        }
    }

    /// Reports how reading ended: an error goes to the writer, which stops the import.
    pub(super) fn finish(self, read: Result<(), ImportError>) {
        if let Err(err) = read {
            // The writer may be gone already (an insert failed); then its error wins.
            let _ = self.sender.send(Err(err));
        }
    }

    fn at_row(&self, number: u64) -> impl Fn(ValidationError) -> ImportError + '_ {
        move |err| ImportError::at_row(self.path, number, err)
    }

    fn prepare_error(&self, err: crate::error::StoreError) -> ImportError {
        ImportError::file(self.path, format!("Cannot prepare rows: {err}."))
    }
}

impl ValidatingSink<'_> {
    /// Validates one event and adds it to the chunk being built.
    fn push(&mut self, number: u64, event: &impl ReceivedEvent) -> Result<(), ImportError> {
        let checked = event.check(self.catalog).map_err(self.at_row(number))?;
        let fingerprint = self.fingerprinter.fingerprint(event.fields().id);
        self.rows
            .push_received(fingerprint, event, &checked)
            .map_err(|err| self.prepare_error(err))?;
        self.row_count += 1;
        Ok(())
    }
}

impl RowSink for ValidatingSink<'_> {
    fn row<'c>(
        &mut self,
        number: u64,
        columns: &Columns,
        cell: &dyn Fn(usize) -> Cell<'c>,
    ) -> Result<(), ImportError> {
        if columns.has_json_attributes() {
            let record = columns.record(cell).map_err(self.at_row(number))?;
            return self.push(number, &record);
        }
        let fields = columns.fields(cell).map_err(self.at_row(number))?;
        self.push(
            number,
            &TabularRow {
                fields,
                columns,
                cell,
            },
        )
    }

    fn record(&mut self, number: u64, record: &EventRecordRef<'_>) -> Result<(), ImportError> {
        self.push(number, record)
    }

    fn flush(&mut self, bytes_done: Option<u64>) -> bool {
        let chunk = ReadChunk {
            rows: std::mem::replace(&mut self.rows, EventRows::with_capacity(IMPORT_CHUNK_ROWS)),
            row_count: std::mem::take(&mut self.row_count),
            bytes_done,
        };
        self.sender.send(Ok(chunk)).is_ok()
    }
}

/// A CSV or Parquet row, its cells borrowed from the reader.
struct TabularRow<'r, 'c> {
    fields: EventFields<'c>,
    columns: &'r Columns,
    cell: &'r dyn Fn(usize) -> Cell<'c>,
}

impl ReceivedEvent for TabularRow<'_, '_> {
    fn fields(&self) -> EventFields<'_> {
        self.fields
    }

    fn attributes(&self) -> impl Iterator<Item = (&str, Option<AttributeValue<'_>>)> {
        self.columns
            .attributes(self.cell)
            .map(|(name, value)| (name, Some(value)))
    }
}
