//! Event ingestion: all-or-nothing, idempotent on `id`, acknowledged only once durable.
//!
//! A batch goes through three steps:
//! 1. [`Store::prepare`]: validation of every event (domain rules, experiment and variant
//!    lookups), and building its data chunks (see `rows`), without any lock: one invalid
//!    event rejects the batch and nothing is written. Parts of one batch may be prepared on
//!    several threads (the server does, for large bodies) and inserted together;
//! 2. [`Store::insert_prepared`], under the writer lock: deduplication against the in-memory
//!    id set (see `ids`) and within the batch: the first event with an id is kept, later
//!    ones count as duplicates;
//! 3. one transaction ([`EventTransaction`]) inserting the kept events (see `chunk_feed`),
//!    then commit, which syncs DuckDB's write-ahead log. If anything fails the transaction
//!    rolls back and its ids leave the set again, all under the same lock, so the set always
//!    equals the committed ids once the lock is released: a retry of the batch is neither
//!    lost nor double-counted.

use crate::chunk_feed::{ChunkFeed, TableChunks};
use crate::error::{StoreError, StoreResult};
use crate::ids::{Fingerprint, Fingerprinter, IdSet};
use crate::native::NativeConnection;
use crate::rows::EventRows;
use crate::store::{Store, Writer};
use duckdb::arrow::array::{Array, StringArray};
use duckdb::arrow::compute::cast;
use duckdb::arrow::datatypes::DataType;
use duckdb::Connection;
use rctgate_domain::{EventBatch, ReceivedEvent};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Validates and stores a batch; returns only after the commit is durable.
    ///
    /// An invalid event fails the whole batch with [`StoreError::Invalid`], whose field names
    /// the event's position (`line 17: ts`); nothing of the batch is stored.
    pub fn ingest<R: ReceivedEvent>(&self, batch: EventBatch<R>) -> StoreResult<IngestOutcome> {
        let prepared = self.prepare(&batch)?;
        drop(batch);
        self.insert_prepared(vec![prepared])
    }

    /// Validates a batch (or a part of one) and builds its data chunks, taking no lock.
    /// Errors as for [`Store::ingest`].
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
        Ok(PreparedEvents { rows })
    }

    /// Stores prepared parts, in order, as one batch: deduplicated, in one transaction,
    /// durable on return.
    pub fn insert_prepared(&self, parts: Vec<PreparedEvents>) -> StoreResult<IngestOutcome> {
        if parts.iter().all(PreparedEvents::is_empty) {
            return Ok(IngestOutcome::default());
        }
        let fingerprints: Vec<Fingerprint> = parts.iter().flat_map(|part| part.rows.fingerprints()).collect();
        let mut writer = self.writer();
        let Writer {
            events,
            feed,
            ids,
            generation,
            ..
        } = &mut *writer;
        let admission = ids.admit(fingerprints.into_iter());
        let outcome = admission.outcome();
        let mut chunks = TableChunks::default();
        let mut kept = admission.keep.as_slice();
        for part in parts {
            let (mine, rest) = kept.split_at(part.len().min(kept.len()));
            chunks.extend(part.rows.into_chunks(mine));
            kept = rest;
        }
        let stored = store_chunks(events, feed, generation, chunks);
        if stored.is_err() {
            ids.remove_all(&admission.added);
        }
        stored.map(|()| outcome)
    }
}

/// Inserts `chunks` (already deduplicated) in one transaction and commits it durably; on
/// failure nothing of them is stored. Keeping the id set in step is the caller's part.
pub(crate) fn store_chunks(
    conn: &mut NativeConnection,
    feed: &ChunkFeed,
    generation: &AtomicU64,
    chunks: TableChunks,
) -> StoreResult<()> {
    let mut transaction = EventTransaction::begin(conn, feed, generation)?;
    transaction.insert(chunks)?;
    transaction.commit()
}

/// An open transaction inserting events; dropped without [`EventTransaction::commit`], it
/// rolls back.
struct EventTransaction<'w> {
    conn: &'w mut NativeConnection,
    feed: &'w ChunkFeed,
    generation: &'w AtomicU64,
    inserted: bool,
    open: bool,
}

impl<'w> EventTransaction<'w> {
    fn begin(
        conn: &'w mut NativeConnection,
        feed: &'w ChunkFeed,
        generation: &'w AtomicU64,
    ) -> StoreResult<Self> {
        conn.execute("BEGIN TRANSACTION")?;
        Ok(EventTransaction {
            conn,
            feed,
            generation,
            inserted: false,
            open: true,
        })
    }

    /// Inserts prepared chunks (already deduplicated).
    fn insert(&mut self, chunks: TableChunks) -> StoreResult<()> {
        if chunks.is_empty() {
            return Ok(());
        }
        self.feed.insert(self.conn, chunks)?;
        self.inserted = true;
        Ok(())
    }

    /// Commits durably.
    fn commit(mut self) -> StoreResult<()> {
        // On failure `open` stays set: dropping `self` rolls back (DuckDB ends a transaction
        // whose commit failed; the ROLLBACK makes sure).
        self.conn.execute("COMMIT")?;
        self.open = false;
        if self.inserted {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
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
