//! The event tables as the event pipeline reads and writes them, below the [`Store`](crate::Store):
//! inserting data chunks in a transaction ([`EventTransaction`]), replaying an ingest log
//! left by a crash ([`replay`]), and the id lookups that idempotency rests on ([`load_ids`],
//! [`stored_among`]).

use crate::error::{StoreError, StoreResult};
use crate::events::ids::{Fingerprinter, IdSet};
use crate::events::ingest_log::Segment;
use crate::events::rows::{EventRows, EventTable, TableChunks};
use crate::writer::Writer;
use rctgate_duckdb_native::{ChunkFeed, ColumnType, NativeConnection, Value};

/// The schema version that created the event tables.
pub(crate) const EVENTS_SCHEMA_VERSION: u32 = 2;

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
        inserted += store_segment(segment_rows(&segment, fingerprinter)?, conn, feed, ids)?;
        segment.delete()?;
    }
    Ok(inserted)
}

/// Inserts the batches of a segment whose transaction failed in this process (a full disk,
/// say) in one transaction, once more; the caller deletes the segment once this returns.
/// Its ids are in the process's id set already, so they are deduplicated within the segment
/// only, in log order, as their admission did: a commit that fails stores nothing (DuckDB
/// rolls the transaction back; a failure once its log is written invalidates the database,
/// and the writer then stops retrying).
pub(crate) fn restore_segment(
    segment: &Segment,
    writer: &mut Writer,
    fingerprinter: &Fingerprinter,
) -> StoreResult<u64> {
    let rows = segment_rows(segment, fingerprinter)?;
    store_segment(rows, &mut writer.events, &writer.feed, &mut IdSet::default())
}

/// The event records of a segment's frames, in log order.
fn segment_rows(segment: &Segment, fingerprinter: &Fingerprinter) -> StoreResult<Vec<EventRows>> {
    let mut records = Vec::new();
    for frame in segment.frames()? {
        let mut rest = frame.as_slice();
        while !rest.is_empty() {
            let (rows, after) = EventRows::read_record(rest, fingerprinter)
                .map_err(|err| StoreError::Corrupt(format!("{}: {err}", segment.path.display())))?;
            rest = after;
            records.push(rows);
        }
    }
    Ok(records)
}

/// Inserts a segment's records in one transaction, deduplicated against `ids` (which it
/// extends) in order; the number of events inserted.
fn store_segment(
    records: Vec<EventRows>,
    conn: &mut NativeConnection,
    feed: &ChunkFeed,
    ids: &mut IdSet,
) -> StoreResult<u64> {
    let mut inserted = 0;
    let mut chunks = TableChunks::default();
    for rows in records {
        let admission = ids.admit(rows.fingerprints())?;
        inserted += admission.outcome().accepted;
        chunks.extend(rows.into_chunks(&admission.keep));
    }
    store_chunks(conn, feed, chunks)?;
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
pub(crate) struct EventTransaction<'w> {
    conn: &'w mut NativeConnection,
    feed: &'w ChunkFeed,
    open: bool,
}

impl<'w> EventTransaction<'w> {
    pub(crate) fn begin(conn: &'w mut NativeConnection, feed: &'w ChunkFeed) -> StoreResult<Self> {
        conn.execute("BEGIN TRANSACTION")?;
        Ok(EventTransaction {
            conn,
            feed,
            open: true,
        })
    }

    /// Inserts prepared chunks (already deduplicated).
    pub(crate) fn insert(&mut self, chunks: TableChunks) -> StoreResult<()> {
        let TableChunks {
            exposures,
            metric_events,
        } = chunks;
        self.feed
            .insert(self.conn, EventTable::Exposures.spec().table, exposures)?;
        self.feed
            .insert(self.conn, EventTable::MetricEvents.spec().table, metric_events)?;
        Ok(())
    }

    /// Commits durably.
    pub(crate) fn commit(mut self) -> StoreResult<()> {
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

/// Fills an id set from both event tables with the ids of events whose time (microseconds)
/// is in `times`, streaming so that memory holds fingerprints only. `conn` is a connection of
/// its own (the writer's runs without DuckDB's optimizer, which narrows the scan to `id`);
/// the ids are read as DuckDB's own chunks (`rctgate_duckdb_native::ResultStream`). The bounds are timestamp
/// constants, so DuckDB skips row groups whose `ts` range lies outside them.
pub(crate) fn load_ids(
    conn: &mut NativeConnection,
    fingerprinter: &Fingerprinter,
    times: std::ops::Range<i64>,
) -> StoreResult<IdSet> {
    let mut ids = IdSet::default();
    let within = if times == (i64::MIN..i64::MAX) {
        "true".to_string()
    } else {
        format!(
            "ts >= make_timestamp({}::BIGINT) AND ts < make_timestamp({}::BIGINT)",
            times.start.max(MIN_TIMESTAMP_MICROS),
            times.end.min(MAX_TIMESTAMP_MICROS)
        )
    };
    let count_sql = format!(
        "SELECT ((SELECT count(*) FROM exposures WHERE {within}) + \
         (SELECT count(*) FROM metric_events WHERE {within}))::BIGINT"
    );
    // Only sizes the set up front; without a count it grows as it fills.
    if let Some(count) = conn.query_bigint(&count_sql)? {
        ids.reserve(usize::try_from(count).unwrap_or(0));
    }
    let mut stream = conn.stream(&format!(
        "SELECT id FROM exposures WHERE {within} UNION ALL SELECT id FROM metric_events WHERE {within}"
    ))?;
    while let Some(chunk) = stream.next_chunk()? {
        let column = chunk.column(0, ColumnType::Varchar)?;
        ids.extend((0..chunk.len()).filter_map(|row| match column.value(row) {
            Value::Varchar(id) => Some(fingerprinter.fingerprint(id)),
            _ => None,
        }));
    }
    Ok(ids)
}

/// Bounds of `make_timestamp(micros)` that every event time lies within (years 1 and 9999),
/// so an open end of a range never overflows DuckDB's timestamps.
pub(crate) const MIN_TIMESTAMP_MICROS: i64 = -62_135_596_800_000_000;
const MAX_TIMESTAMP_MICROS: i64 = 253_402_300_799_000_000;

/// The time of the newest stored event, in microseconds; `None` without events.
fn newest_event_micros(conn: &mut NativeConnection) -> StoreResult<Option<i64>> {
    Ok(conn.query_bigint(
        "SELECT epoch_us(max(ts)) FROM (SELECT max(ts) AS ts FROM exposures \
         UNION ALL SELECT max(ts) FROM metric_events)",
    )?)
}

/// A query of the rowid of `table`'s last row (`-1` when it is empty). The event tables are
/// append-only and an insert rolled back gives its rowids back, so their rowids are
/// `0..count`: the count comes from the table's metadata, where `max(rowid)` read every
/// row (a third of a server's start at 85M events).
pub(crate) fn last_rowid_sql(table: &str) -> String {
    format!("SELECT count(*) - 1 FROM {table}")
}

/// Where an id set reaching `horizon` microseconds back from the newest stored event starts
/// (`i64::MIN`: every id, for no horizon or no events).
pub(crate) fn horizon_floor(conn: &mut NativeConnection, horizon: i64) -> StoreResult<i64> {
    Ok(match newest_event_micros(conn)? {
        Some(newest) if horizon < i64::MAX => newest.saturating_sub(horizon),
        _ => i64::MIN,
    })
}

/// Which of `events` (id, time in microseconds) are stored in either table: the lookup for
/// events older than the id set's floor. Queried in slices of a few thousand ids, each
/// bounded by its events' times so that DuckDB reads only the row groups of those times.
pub(crate) fn stored_among(conn: &duckdb::Connection, events: &[(&str, i64)]) -> StoreResult<Vec<String>> {
    let mut stored = Vec::new();
    for slice in events.chunks(LOOKUP_IDS) {
        let low = slice.iter().map(|(_, ts)| *ts).min().unwrap_or(0);
        let high = slice.iter().map(|(_, ts)| *ts).max().unwrap_or(0);
        let ids = slice
            .iter()
            .map(|(id, _)| format!("'{}'", id.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(", ");
        let within = format!(
            "ts >= make_timestamp({low}::BIGINT) AND ts <= make_timestamp({high}::BIGINT) AND id IN ({ids})"
        );
        let mut statement = conn.prepare(&format!(
            "SELECT id FROM exposures WHERE {within} UNION ALL SELECT id FROM metric_events WHERE {within}"
        ))?;
        let found = statement.query_map([], |row| row.get::<_, String>(0))?;
        for id in found {
            stored.push(id?);
        }
    }
    Ok(stored)
}

/// Ids per lookup query.
const LOOKUP_IDS: usize = 2000;
