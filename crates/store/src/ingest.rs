//! Event ingestion: all-or-nothing, idempotent on `id`, acknowledged only once durable.
//!
//! A batch goes through three steps:
//! 1. [`Store::prepare`]: validation of every event (domain rules, experiment and variant
//!    lookups), building its data chunks (see `rows`) and its ingest log record, without any
//!    lock: one invalid event rejects the batch and nothing is written. Parts of one batch
//!    may be prepared on several threads (the server does, for large bodies) and accepted
//!    together;
//! 2. [`Store::insert_prepared`], under the intake lock: deduplication against the in-memory
//!    id set (see `ids`) and within the batch (the first event with an id is kept, later
//!    ones count as duplicates), then one frame in the ingest log, synced (`ingest_log`). If
//!    that fails the batch's ids leave the set again, so a retry is neither lost nor
//!    double-counted. Then the batch is acknowledged;
//! 3. the background writer inserts it, with every other batch waiting, in one transaction
//!    (`backlog`); reads wait for it. Duplicates are not written again, but the log records
//!    are built before deduplication and hold them: reading a log back (`replay`) dedupes
//!    again, against what is stored, in log order, which gives the same answer.
//!
//! A store in memory has no log: its batches are acknowledged once queued.

use crate::chunk_feed::{ChunkFeed, TableChunks};
use crate::error::{StoreError, StoreResult};
use crate::ids::{Fingerprint, Fingerprinter, IdSet};
use crate::ingest_log::Segment;
use crate::native::NativeConnection;
use crate::rows::EventRows;
use crate::store::{Intake, Store};
use duckdb::arrow::array::{Array, StringArray};
use duckdb::arrow::compute::cast;
use duckdb::arrow::datatypes::DataType;
use duckdb::Connection;
use rctgate_domain::{EventBatch, ReceivedEvent};
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

/// Events validated and packed for inserting ([`Store::prepare`]); nothing is stored yet.
pub struct PreparedEvents {
    rows: EventRows,
    /// The rows as an ingest log record; empty for a store without a log.
    record: Vec<u8>,
}

impl PreparedEvents {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Store {
    /// Validates and accepts a batch; returns once it is durable (see [`Store::insert_prepared`]).
    ///
    /// An invalid event fails the whole batch with [`StoreError::Invalid`], whose field names
    /// the event's position (`line 17: ts`); nothing of the batch is stored.
    pub fn ingest<R: ReceivedEvent>(&self, batch: EventBatch<R>) -> StoreResult<IngestOutcome> {
        let prepared = self.prepare(&batch)?;
        drop(batch);
        self.insert_prepared(vec![prepared])
    }

    /// Validates a batch (or a part of one), builds its data chunks and its log record,
    /// taking no lock. Errors as for [`Store::ingest`].
    pub fn prepare<R: ReceivedEvent>(&self, batch: &EventBatch<R>) -> StoreResult<PreparedEvents> {
        let catalog = self.experiment_catalog()?;
        let mut rows = EventRows::with_capacity(batch.len());
        for (index, record) in batch.records.iter().enumerate() {
            let checked = record
                .check(&*catalog)
                .map_err(|err| StoreError::Invalid(err.at(&batch.position(index))))?;
            let fingerprint = self.fingerprinter.fingerprint(record.fields().id);
            rows.push_received(fingerprint, record, &checked)?;
        }
        rows.seal();
        let mut record = Vec::new();
        if self.logs_events() {
            rows.write_record(&mut record)?;
        }
        Ok(PreparedEvents { rows, record })
    }

    /// Accepts prepared parts, in order, as one batch: deduplicated, and durable on return
    /// (synced in the ingest log); the background writer inserts them into the tables, and
    /// reads wait for it. Waits first while the backlog is full (`backlog`).
    pub fn insert_prepared(&self, parts: Vec<PreparedEvents>) -> StoreResult<IngestOutcome> {
        let events: usize = parts.iter().map(PreparedEvents::len).sum();
        if events == 0 {
            return Ok(IngestOutcome::default());
        }
        self.backlog().wait_for_room(events)?;
        let fingerprints: Vec<Fingerprint> = parts.iter().flat_map(|part| part.rows.fingerprints()).collect();
        let mut intake = self.intake();
        self.backlog().usable()?;
        let Intake { ids, log } = &mut *intake;
        let admission = ids.admit(fingerprints.into_iter());
        let outcome = admission.outcome();
        if outcome.accepted == 0 {
            return Ok(outcome);
        }
        if let Some(log) = log {
            let records: Vec<&[u8]> = parts.iter().map(|part| part.record.as_slice()).collect();
            if let Err(err) = log.append(&records) {
                ids.remove_all(&admission.added);
                // A frame may be half-written: nothing may follow it (`backlog`).
                self.backlog().fail(&err);
                return Err(err);
            }
        }
        let mut chunks = TableChunks::default();
        let mut kept = admission.keep.as_slice();
        for part in parts {
            let (mine, rest) = kept.split_at(part.len().min(kept.len()));
            chunks.extend(part.rows.into_chunks(mine));
            kept = rest;
        }
        self.backlog().push(chunks, outcome.accepted as usize);
        drop(intake);
        // Reads wait for the backlog, so the scorecard cache must see the change now.
        self.touch();
        Ok(outcome)
    }

    /// Returns once every batch acknowledged so far is in the tables; an error if the
    /// background writer failed (see `backlog`). Reads do this themselves
    /// ([`Store::read_connection`]); an import does it before it starts.
    pub fn flush_events(&self) -> StoreResult<()> {
        self.backlog().flush()
    }
}

/// Inserts the batches of ingest log segments left by an earlier process, each segment in
/// one transaction, deduplicated against `ids` (which it extends) in log order, then deletes
/// the segments. Returns the number of events inserted.
pub(crate) fn replay(
    segments: Vec<Segment>,
    conn: &mut NativeConnection,
    feed: &ChunkFeed,
    ids: &mut IdSet,
    fingerprinter: &Fingerprinter,
) -> StoreResult<u64> {
    let mut inserted = 0;
    for segment in segments {
        let mut chunks = TableChunks::default();
        for frame in segment.frames()? {
            let mut rest = frame.as_slice();
            while !rest.is_empty() {
                let (rows, after) = EventRows::read_record(rest, fingerprinter)
                    .map_err(|err| StoreError::Corrupt(format!("{}: {err}", segment.path.display())))?;
                rest = after;
                let admission = ids.admit(rows.fingerprints());
                inserted += admission.outcome().accepted;
                chunks.extend(rows.into_chunks(&admission.keep));
            }
        }
        store_chunks(conn, feed, chunks)?;
        segment.delete()?;
    }
    Ok(inserted)
}

/// Inserts `chunks` (already deduplicated) in one transaction and commits it durably; on
/// failure nothing of them is stored. Keeping the id set in step is the caller's part.
pub(crate) fn store_chunks(
    conn: &mut NativeConnection,
    feed: &ChunkFeed,
    chunks: TableChunks,
) -> StoreResult<()> {
    let mut transaction = EventTransaction::begin(conn, feed)?;
    transaction.insert(chunks)?;
    transaction.commit()
}

/// An open transaction inserting events; dropped without [`EventTransaction::commit`], it
/// rolls back.
struct EventTransaction<'w> {
    conn: &'w mut NativeConnection,
    feed: &'w ChunkFeed,
    open: bool,
}

impl<'w> EventTransaction<'w> {
    fn begin(conn: &'w mut NativeConnection, feed: &'w ChunkFeed) -> StoreResult<Self> {
        conn.execute("BEGIN TRANSACTION")?;
        Ok(EventTransaction {
            conn,
            feed,
            open: true,
        })
    }

    /// Inserts prepared chunks (already deduplicated).
    fn insert(&mut self, chunks: TableChunks) -> StoreResult<()> {
        if chunks.is_empty() {
            return Ok(());
        }
        self.feed.insert(self.conn, chunks)
    }

    /// Commits durably.
    fn commit(mut self) -> StoreResult<()> {
        // On failure `open` stays set: dropping `self` rolls back (DuckDB ends a transaction
        // whose commit failed; the ROLLBACK makes sure).
        self.conn.execute("COMMIT")?;
        self.open = false;
        Ok(())
    }
}

impl Drop for EventTransaction<'_> {
    fn drop(&mut self) {
        if self.open {
            // Nothing to report to: the error that caused the early drop is on its way up.
            let _ = self.conn.execute("ROLLBACK");
        }
    }
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
