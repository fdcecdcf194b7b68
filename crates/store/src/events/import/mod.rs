//! Bulk import of event files: CSV, NDJSON (or a JSON array) and Parquet, in the SPEC §6
//! schema.
//!
//! A file is read in chunks of [`IMPORT_CHUNK_ROWS`] rows, which go through the same
//! validation and idempotent insert as `POST /v1/events`, in a pipeline:
//! 1. the reader decodes and validates rows ([`ValidatingSink`]);
//! 2. deduplication checks each chunk's ids against the store's id set and builds DuckDB data
//!    chunks of the kept rows ([`dedupe_chunks`]);
//! 3. the writers insert each chunk as it arrives, the calling thread the exposures, a second
//!    thread with its own connection the metric events, each in its own transaction, and
//!    commit every [`IMPORT_BATCH_ROWS`] events.
//!
//! Inserting is mostly DuckDB compressing strings, and one writer thread was busy for the
//! whole import while the other stages waited on it; two writers share that work
//! (measured, BENCHMARKS.md). The import holds the writer lock throughout (concurrent
//! `POST /v1/events` requests wait for it) and lends the id set to the deduplication thread.
//!
//! Failure semantics: an invalid row fails its whole batch (the inserts of its earlier chunks
//! roll back), and nothing of that batch is stored; the batches before it stay committed. If DuckDB itself
//! fails to insert or commit (a full disk), the batch's exposures and metric events, being
//! two transactions, may not fail together. Either way ids make inserts idempotent, so the fix
//! is to correct the cause and import the file again: rows already stored count as
//! duplicates. After a failure the id set, which by then holds ids of rows read but never
//! committed, is rebuilt from the tables.

mod columns;
mod csv_file;
mod format;
mod json_file;
mod parquet_file;
mod raw;
mod sink;
mod validating_sink;

pub use raw::{read_event_file, RawEvents};
pub use sink::IMPORT_CHUNK_ROWS;

use crate::error::{ImportError, StoreError, StoreResult};
use crate::events::ids::IdSet;
use crate::events::ids::IngestOutcome;
use crate::events::rows::TableChunks;
use crate::events::tables::EventTransaction;
use crate::store::Store;
use crate::writer::Writer;
use format::Format;
use rctgate_duckdb_native::{ChunkFeed, NativeConnection};
use serde::Serialize;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use validating_sink::{ReadChunk, ValidatingSink};

/// Chunks that may wait for the writers: a whole batch's worth, so that the reader keeps
/// going while the writers commit.
const IN_FLIGHT_CHUNKS: usize = IMPORT_BATCH_ROWS / IMPORT_CHUNK_ROWS;

/// Accepted events per transaction. A transaction this large lets DuckDB write whole
/// compressed row groups (122,880 rows) straight into the file, as its own bulk
/// `INSERT ... SELECT` does, instead of logging every row to the write-ahead log and
/// compressing it again at the next checkpoint. Measured on 1M events against 50,000-event
/// transactions: the file shrank from 28 MB to 16 MB (the ceiling's is 14 MB) and commits and
/// checkpoints stopped dominating. DuckDB writes full row groups out as they fill, so memory
/// stays bounded.
pub const IMPORT_BATCH_ROWS: usize = 1_000_000;

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

/// A validated, deduplicated chunk on its way to the writer.
pub(crate) struct ValidChunk {
    /// The kept events, as data chunks.
    chunks: TableChunks,
    /// Kept and duplicate events.
    outcome: IngestOutcome,
    /// Data rows read (events, including duplicates).
    row_count: u64,
    bytes_done: Option<u64>,
}

impl Store {
    /// Imports the events of `path` (format by extension), calling `on_progress` as each
    /// chunk reaches the writer (`rows_done` counts rows processed; they are durable once
    /// their batch commits, at the latest when this returns `Ok`). See the module
    /// documentation for what a failure leaves behind.
    pub fn import_file(
        &self,
        path: &Path,
        on_progress: &mut dyn FnMut(ImportProgress),
    ) -> StoreResult<ImportOutcome> {
        let format = Format::of(path).map_err(StoreError::Import)?;
        let metadata = std::fs::metadata(path).map_err(|err| {
            StoreError::Import(ImportError::file(path, format!("Cannot read the file: {err}.")))
        })?;
        if !metadata.is_file() {
            return Err(StoreError::Import(ImportError::file(path, "Is not a file.")));
        }
        let catalog = self.experiment_catalog()?;
        let mut parquet_reader = match format {
            Format::Parquet => Some(parquet_file::reader(path).map_err(StoreError::Import)?),
            _ => None,
        };
        let total_rows = match &mut parquet_reader {
            Some(reader) => Some(reader.row_count(path).map_err(StoreError::Import)?),
            None => None,
        };
        let mut progress = ImportProgress {
            total_rows,
            total_bytes: (format != Format::Parquet).then_some(metadata.len()),
            ..ImportProgress::default()
        };
        let (read_sender, read_receiver) = sync_channel::<Result<ReadChunk, ImportError>>(2);
        let (sender, receiver) = sync_channel::<Result<ValidChunk, ImportError>>(IN_FLIGHT_CHUNKS);
        let fingerprinter = &self.fingerprinter;
        // The import dedupes against the id set directly and may rebuild it from the tables,
        // so nothing may be waiting in the backlog, and nothing may be accepted meanwhile.
        let mut intake = loop {
            self.flush_events()?;
            let intake = self.intake_with_all_ids()?;
            if self.backlog().is_drained() {
                break intake;
            }
        };
        let slot = &mut intake.ids;
        let ids = slot.get_or_insert_with(IdSet::default);
        let mut writer = self.writer();
        let Writer { conn, events, feed } = &mut *writer;
        let threads = SingleThreaded::enter(conn)?;
        let mut second = self.database.native_connection()?;
        // Room for the file's ids up front: growing a set of millions while importing showed
        // as 2.5% of the CPU. Only what the stored ids leave, though, so that importing a file
        // again (all duplicates) does not double the set's memory.
        if let Some(rows) = total_rows.and_then(|rows| usize::try_from(rows).ok()) {
            ids.reserve(rows.saturating_sub(ids.len()));
        }
        let imported = std::thread::scope(|scope| {
            scope.spawn(move || {
                let mut sink = ValidatingSink::new(path, &catalog, fingerprinter, read_sender);
                let read = format::read_file(path, format, parquet_reader.as_mut(), &mut sink);
                sink.finish(read);
            });
            let ids = &mut *ids;
            scope.spawn(move || dedupe_chunks(path, ids, read_receiver, sender));
            insert_batches(
                EventTables {
                    conn: events,
                    second: &mut second,
                    feed,
                    generation: &self.generation,
                },
                receiver,
                &mut progress,
                on_progress,
            )
        });
        let restored = threads.leave(conn);
        if imported.is_err() {
            // The set may hold ids of rows that were never committed: drop it, to be rebuilt
            // from the tables when it is next needed.
            *slot = None;
        }
        restored?;
        imported
    }
}

/// DuckDB's thread count, lowered to one for the length of an import.
///
/// An import keeps two threads busy already: the reader (decoding, validating, building
/// chunks) and the writer (inserting, compressing, writing row groups). With DuckDB's default
/// of one thread per core, the writer's INSERTs and commits hand their work to DuckDB's worker
/// and wait for it by spinning on the task queue, and the worker competes with the reader for
/// the same two cores. Measured on 20M events (BENCHMARKS.md): 28 s and 42 CPU-seconds with
/// the default, 22 s and 35 with one thread. The setting is the database's, so this is only
/// for a process that does nothing else meanwhile (`rctgate import --db`); the server
/// ingests through `Store::ingest`, not here.
struct SingleThreaded {
    before: i64,
}

impl SingleThreaded {
    fn enter(conn: &duckdb::Connection) -> StoreResult<SingleThreaded> {
        let before: i64 = conn.query_row("SELECT current_setting('threads')", [], |row| row.get(0))?;
        conn.execute_batch("SET threads = 1")?;
        Ok(SingleThreaded { before })
    }

    fn leave(self, conn: &duckdb::Connection) -> StoreResult<()> {
        conn.execute_batch(&format!("SET threads = {}", self.before))?;
        Ok(())
    }
}

/// What the writer side of an import inserts with.
struct EventTables<'w> {
    conn: &'w mut NativeConnection,
    /// Inserts metric events while `conn` inserts exposures.
    second: &'w mut NativeConnection,
    feed: &'w ChunkFeed,
    generation: &'w std::sync::atomic::AtomicU64,
}

/// The middle of the pipeline: dedupes each chunk against (and into) the id set and builds the
/// data chunks of its kept rows. Stops when either side hangs up.
fn dedupe_chunks(
    path: &Path,
    ids: &mut IdSet,
    receiver: Receiver<Result<ReadChunk, ImportError>>,
    sender: SyncSender<Result<ValidChunk, ImportError>>,
) {
    for chunk in receiver {
        let valid = chunk.and_then(|chunk| {
            let admission = ids
                .admit(chunk.rows.fingerprints())
                .map_err(|err| ImportError::file(path, format!("Cannot read the stored ids: {err}.")))?;
            Ok(ValidChunk {
                outcome: admission.outcome(),
                chunks: chunk.rows.into_chunks(&admission.keep),
                row_count: chunk.row_count,
                bytes_done: chunk.bytes_done,
            })
        });
        if sender.send(valid).is_err() {
            return;
        }
    }
}

/// Metric events' chunks the exposures' writer hands to the metric events' writer at a time.
const METRIC_QUEUE: usize = 4;

/// What the metric events' writer is told to do.
enum MetricWork {
    /// Insert these chunks in the open transaction.
    Insert(TableChunks),
    /// Commit the open transaction and answer with the result; a new one begins.
    Commit(SyncSender<StoreResult<()>>),
}

/// The writer side: inserts each validated chunk as it arrives, exposures on this thread
/// and metric events on a second thread with its own connection, and commits both every
/// [`IMPORT_BATCH_ROWS`] accepted events and at the end. Inserting as chunks arrive, rather
/// than gathering a whole batch first, keeps the writers busy from the first chunk on.
fn insert_batches(
    tables: EventTables<'_>,
    receiver: Receiver<Result<ValidChunk, ImportError>>,
    progress: &mut ImportProgress,
    on_progress: &mut dyn FnMut(ImportProgress),
) -> StoreResult<ImportOutcome> {
    let EventTables {
        conn,
        second,
        feed,
        generation,
    } = tables;
    std::thread::scope(|scope| {
        let (work, work_receiver) = sync_channel::<MetricWork>(METRIC_QUEUE);
        let metrics = scope.spawn(move || insert_metric_events(second, feed, work_receiver));
        let inserted = insert_exposures(conn, feed, generation, &work, receiver, progress, on_progress);
        // Hanging up ends the metric events' writer; an open transaction rolls back.
        drop(work);
        let metrics = metrics
            .join()
            .unwrap_or_else(|_| Err(StoreError::Append("the metric events' writer panicked".into())));
        match (inserted, metrics) {
            // The metric events' own error says why it stopped taking work.
            (Err(_), Err(err)) => Err(err),
            (inserted, metrics) => metrics.and(inserted),
        }
    })
}

/// The exposures' side of [`insert_batches`]: inserts exposures, hands metric events to
/// `work`, commits both at each batch's end.
fn insert_exposures(
    conn: &mut NativeConnection,
    feed: &ChunkFeed,
    generation: &std::sync::atomic::AtomicU64,
    work: &SyncSender<MetricWork>,
    receiver: Receiver<Result<ValidChunk, ImportError>>,
    progress: &mut ImportProgress,
    on_progress: &mut dyn FnMut(ImportProgress),
) -> StoreResult<ImportOutcome> {
    let mut outcome = ImportOutcome::default();
    let mut chunks = receiver.into_iter();
    // Returning early drops the receiver, so the reader's next send fails and it stops.
    loop {
        let mut exposures = EventTransaction::begin(conn, feed)?;
        let mut accepted = 0;
        let mut ended = true;
        for chunk in chunks.by_ref() {
            let chunk = chunk.map_err(StoreError::Import)?;
            let TableChunks {
                exposures: exposure_chunks,
                metric_events,
            } = chunk.chunks;
            if !metric_events.is_empty() {
                let metric_chunks = TableChunks {
                    exposures: Vec::new(),
                    metric_events,
                };
                work.send(MetricWork::Insert(metric_chunks))
                    .map_err(metric_writer_stopped)?;
            }
            exposures.insert(TableChunks {
                exposures: exposure_chunks,
                metric_events: Vec::new(),
            })?;
            accepted += chunk.outcome.accepted;
            outcome.rows += chunk.row_count;
            outcome.accepted += chunk.outcome.accepted;
            outcome.duplicates += chunk.outcome.duplicates;
            progress.rows_done = outcome.rows;
            progress.bytes_done = chunk.bytes_done;
            on_progress(*progress);
            if accepted >= IMPORT_BATCH_ROWS as u64 {
                ended = false;
                break;
            }
        }
        let (reply, replied) = sync_channel(1);
        work.send(MetricWork::Commit(reply))
            .map_err(metric_writer_stopped)?;
        exposures.commit()?;
        replied.recv().map_err(metric_writer_stopped)??;
        generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        if ended {
            return Ok(outcome);
        }
    }
}

/// The error for a metric events' writer that is gone (its own error, if any, is what
/// [`insert_batches`] returns).
fn metric_writer_stopped<E>(_: E) -> StoreError {
    StoreError::Append("the metric events' writer stopped".into())
}

/// The metric events' side of [`insert_batches`]: one open transaction at a time, chunks
/// inserted as they come, committed when told. Returns when the exposures' side hangs up
/// (rolling back an open transaction) or at the first error.
fn insert_metric_events(
    conn: &mut NativeConnection,
    feed: &ChunkFeed,
    work: Receiver<MetricWork>,
) -> StoreResult<()> {
    loop {
        let mut transaction = EventTransaction::begin(conn, feed)?;
        loop {
            match work.recv() {
                Err(_) => return Ok(()),
                Ok(MetricWork::Insert(chunks)) => transaction.insert(chunks)?,
                Ok(MetricWork::Commit(reply)) => {
                    let committed = transaction.commit();
                    let failed = committed.is_err();
                    // The other side waits for this answer and returns its error; if it is
                    // gone, so is the import.
                    let _ = reply.send(committed);
                    if failed {
                        return Ok(());
                    }
                    break;
                }
            }
        }
    }
}
