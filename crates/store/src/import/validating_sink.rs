//! The reader side of an import: validates each row, prepares it for inserting, and sends
//! full chunks on (to deduplication, see `import`).
//!
//! Tabular rows are validated as fields borrowed from the reader's buffer and copied once
//! into [`EventRows`]; parsed records (NDJSON) go through `EventRecord::validate`. Both apply
//! the same domain rules in the same order: fields, attributes, references to experiments.

use super::columns::{Cell, Columns};
use super::sink::RowSink;
use super::ReadChunk;
use crate::error::ImportError;
use crate::ids::Fingerprinter;
use crate::rows::EventRows;
use crate::store::ExperimentVariants;
use rctgate_domain::attributes::{check_attribute, check_attribute_count};
use rctgate_domain::{EventRecord, ValidationError};
use std::path::Path;
use std::sync::mpsc::SyncSender;

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
            rows: EventRows::with_capacity(super::IMPORT_CHUNK_ROWS),
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

impl RowSink for ValidatingSink<'_> {
    fn row<'c>(
        &mut self,
        number: u64,
        columns: &Columns,
        cell: &dyn Fn(usize) -> Cell<'c>,
    ) -> Result<(), ImportError> {
        if columns.has_json_attributes() {
            let record = columns.record(cell).map_err(self.at_row(number))?;
            return self.record(number, record);
        }
        let fields = columns.fields(cell).map_err(self.at_row(number))?;
        let checked = fields.check().map_err(self.at_row(number))?;
        let mut count = 0;
        for (name, value) in columns.attributes(cell) {
            check_attribute(name, value).map_err(self.at_row(number))?;
            count += 1;
        }
        check_attribute_count(count).map_err(self.at_row(number))?;
        fields
            .check_references(self.catalog)
            .map_err(self.at_row(number))?;
        let fingerprint = self.fingerprinter.fingerprint(fields.id);
        self.rows
            .push_fields(fingerprint, &fields, &checked, columns.attributes(cell))
            .map_err(|err| self.prepare_error(err))?;
        self.row_count += 1;
        Ok(())
    }

    fn record(&mut self, number: u64, record: EventRecord) -> Result<(), ImportError> {
        let event = record.validate(self.catalog).map_err(self.at_row(number))?;
        let fingerprint = self.fingerprinter.fingerprint(event.id());
        self.rows
            .push_event(&event, fingerprint)
            .map_err(|err| self.prepare_error(err))?;
        self.row_count += 1;
        Ok(())
    }

    fn flush(&mut self, bytes_done: Option<u64>) -> bool {
        let chunk = ReadChunk {
            rows: std::mem::replace(&mut self.rows, EventRows::with_capacity(super::IMPORT_CHUNK_ROWS)),
            row_count: std::mem::take(&mut self.row_count),
            bytes_done,
        };
        self.sender.send(Ok(chunk)).is_ok()
    }
}
