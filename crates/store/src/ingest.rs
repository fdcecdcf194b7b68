//! Event ingestion: all-or-nothing, idempotent on `id`, acknowledged only once durable.
//!
//! A batch goes through three steps:
//! 1. validation of every event (domain rules, experiment and variant lookups), without any
//!    lock: one invalid event rejects the batch and nothing is written;
//! 2. under the writer lock, deduplication against the in-memory id set (see `ids`) and
//!    within the batch: the first event with an id is kept, later ones count as duplicates;
//! 3. one transaction ([`EventTransaction`]) appending the kept events as DuckDB data chunks
//!    (prepared before taking the lock, see `rows`), then commit, which syncs DuckDB's
//!    write-ahead log. If anything fails the transaction rolls back and its ids leave the set
//!    again, all under the same lock, so the set always equals the committed ids once the
//!    lock is released: a retry of the batch is neither lost nor double-counted.

use crate::error::{StoreError, StoreResult};
use crate::ids::{Fingerprint, Fingerprinter, IdSet};
use crate::rows::EventRows;
use crate::store::{Store, Writer};
use duckdb::arrow::array::{Array, StringArray};
use duckdb::arrow::compute::cast;
use duckdb::arrow::datatypes::DataType;
use duckdb::Connection;
use rctgate_domain::{Event, EventBatch, EventRecord, ExperimentCatalog, ValidationError};
use serde::Serialize;

/// The schema version that created the event tables.
pub(crate) const EVENTS_SCHEMA_VERSION: u32 = 2;

/// What happened to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct IngestOutcome {
    /// Events stored now.
    pub accepted: u64,
    /// Events whose id was already stored, or repeated earlier in the batch.
    pub duplicates: u64,
}

impl Store {
    /// Validates and stores a batch; returns only after the commit is durable.
    ///
    /// An invalid event fails the whole batch with [`StoreError::Invalid`], whose field names
    /// the event's position (`line 17: ts`); nothing of the batch is stored.
    pub fn ingest(&self, batch: EventBatch) -> StoreResult<IngestOutcome> {
        if batch.is_empty() {
            return Ok(IngestOutcome::default());
        }
        let catalog = self.experiment_catalog()?;
        let EventBatch {
            records,
            positions,
            kind,
        } = batch;
        let locator = EventBatch {
            records: Vec::new(),
            positions,
            kind,
        };
        let events = validate_records(records, &catalog)
            .map_err(|(index, err)| StoreError::Invalid(err.at(&locator.position(index))))?;
        self.insert_events(events)
    }

    /// Experiment keys and their variants, as exposures are validated against them.
    pub(crate) fn experiment_catalog(&self) -> StoreResult<std::collections::HashMap<String, Vec<String>>> {
        crate::experiments::variants_by_experiment(&self.writer().conn)
    }

    /// Dedupes and appends validated events in one transaction.
    pub(crate) fn insert_events(&self, events: Vec<Event>) -> StoreResult<IngestOutcome> {
        let rows = EventRows::from_events(&events, &self.fingerprinter)?;
        drop(events);
        let mut writer = self.writer();
        let mut transaction = EventTransaction::begin(&mut writer)?;
        let outcome = transaction.append(&rows)?;
        transaction.commit()?;
        Ok(outcome)
    }
}

/// An open transaction appending events, holding the writer (so nothing else reads or writes
/// the id set meanwhile). Ids it appends go into the id set at once, which makes repeats
/// within the transaction duplicates too, and are taken out again if the transaction does not
/// commit: after a rollback the set holds exactly the committed ids, as before.
pub(crate) struct EventTransaction<'w> {
    writer: &'w mut Writer,
    /// Fingerprints added to the id set by this transaction, to undo on rollback.
    added: Vec<Fingerprint>,
    open: bool,
}

impl<'w> EventTransaction<'w> {
    pub(crate) fn begin(writer: &'w mut Writer) -> StoreResult<Self> {
        writer.events.execute("BEGIN TRANSACTION")?;
        Ok(EventTransaction {
            writer,
            added: Vec::new(),
            open: true,
        })
    }

    /// Appends the events whose ids are neither stored nor already appended in this
    /// transaction.
    pub(crate) fn append(&mut self, rows: &EventRows) -> StoreResult<IngestOutcome> {
        self.writer.ids.reserve(rows.len());
        let mut keep = Vec::with_capacity(rows.len());
        for fingerprint in rows.fingerprints() {
            let new = self.writer.ids.insert(fingerprint);
            if new {
                self.added.push(fingerprint);
            }
            keep.push(new);
        }
        let accepted = keep.iter().filter(|keep| **keep).count();
        if accepted > 0 {
            let mut exposures = self.writer.events.appender("exposures")?;
            let mut metric_events = self.writer.events.appender("metric_events")?;
            rows.append(&keep, &mut exposures, &mut metric_events)?;
            exposures.flush()?;
            metric_events.flush()?;
        }
        Ok(IngestOutcome {
            accepted: accepted as u64,
            duplicates: (rows.len() - accepted) as u64,
        })
    }

    /// Events appended so far.
    pub(crate) fn len(&self) -> usize {
        self.added.len()
    }

    /// Commits durably; the appended ids stay in the id set only if that succeeds.
    pub(crate) fn commit(mut self) -> StoreResult<()> {
        // On failure `open` stays set: dropping `self` rolls back (DuckDB ends a transaction
        // whose commit failed; the ROLLBACK makes sure) and takes the ids out again.
        self.writer.events.execute("COMMIT")?;
        self.open = false;
        if !self.added.is_empty() {
            self.writer
                .generation
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        Ok(())
    }
}

impl Drop for EventTransaction<'_> {
    fn drop(&mut self) {
        if self.open {
            // Nothing to report to: the error that caused the early drop is on its way up.
            let _ = self.writer.events.execute("ROLLBACK");
            self.writer.ids.remove_all(&self.added);
        }
    }
}

/// Runs every validation; on failure returns the index of the first bad record and its error.
pub(crate) fn validate_records(
    records: Vec<EventRecord>,
    catalog: &impl ExperimentCatalog,
) -> Result<Vec<Event>, (usize, ValidationError)> {
    records
        .into_iter()
        .enumerate()
        .map(|(index, record)| record.validate(catalog).map_err(|err| (index, err)))
        .collect()
}

/// Fills an id set from both event tables, streaming so that memory holds fingerprints only.
pub(crate) fn load_ids(conn: &Connection, fingerprinter: &Fingerprinter) -> StoreResult<IdSet> {
    let count: i64 = conn.query_row(
        "SELECT (SELECT count(*) FROM exposures) + (SELECT count(*) FROM metric_events)",
        [],
        |row| row.get(0),
    )?;
    let mut ids = IdSet::default();
    ids.reserve(usize::try_from(count).unwrap_or(0));
    let mut statement = conn.prepare("SELECT id FROM exposures UNION ALL SELECT id FROM metric_events")?;
    for batch in statement.stream_arrow([])? {
        let batch = batch?;
        let column = cast(batch.column(0), &DataType::Utf8)
            .map_err(|err| StoreError::Corrupt(format!("event ids: {err}")))?;
        let Some(strings) = column.as_any().downcast_ref::<StringArray>() else {
            return Err(StoreError::Corrupt("event ids are not text".into()));
        };
        ids.extend(
            (0..strings.len())
                .filter(|row| strings.is_valid(*row))
                .map(|row| fingerprinter.fingerprint(strings.value(row))),
        );
    }
    Ok(ids)
}
