//! How prepared events reach the tables: DuckDB's own `INSERT ... SELECT`, reading the data
//! chunks we built from a table function.
//!
//! The store registers two table functions on its database, `rctgate_exposure_chunks()` and
//! `rctgate_metric_event_chunks()`. Each returns the chunks queued in its [`ChunkQueue`], and
//! its output vectors *reference* the queued chunks' memory (`duckdb_vector_reference_vector`)
//! instead of copying it. The writer queues a batch's chunks and runs
//! `INSERT INTO exposures SELECT * FROM rctgate_exposure_chunks()` inside its transaction.
//!
//! Why not DuckDB's appender, which this replaced: the appender copies every chunk into a
//! buffer of its own and flushes that buffer with an INSERT it runs itself, one thread, while
//! the calling thread spins on DuckDB's task queue waiting for the workers that compress row
//! groups. Through a table function the INSERT is the same parallel one DuckDB runs for
//! `INSERT INTO t SELECT * FROM read_parquet(...)` (each thread fills, compresses and writes
//! its own row groups; `preserve_insertion_order` is off, see `store::SETTINGS`), with no
//! intermediate copy. Measured on 20M events: see BENCHMARKS.md, "Event store".
//!
//! Only the writer (under the store's writer lock) queues chunks and runs these INSERTs, so a
//! queue holds one statement's chunks at a time; the table functions are not for other SQL.
#![allow(unsafe_code)] // DuckDB's C API; see the module doc and the workspace lints.

use crate::error::{StoreError, StoreResult};
use crate::native::{c_string, NativeConnection, SendChunk};
use crate::rows::EventTable;
use duckdb::ffi;
use std::collections::VecDeque;
use std::ffi::{c_void, CString};
use std::sync::{Arc, Mutex, PoisonError};

/// Data chunks ready to insert, per table, and the text their longer strings point into.
#[derive(Default)]
pub(crate) struct TableChunks {
    pub(crate) exposures: Vec<SendChunk>,
    pub(crate) metric_events: Vec<SendChunk>,
    /// The buffers the chunks' strings of more than 12 bytes point into (see
    /// `Slots::set_str` in `rows`); kept here so that they outlive every INSERT of these chunks.
    pub(crate) text: Vec<Arc<String>>,
}

impl TableChunks {
    /// Adds `other`'s chunks after these.
    pub(crate) fn extend(&mut self, other: TableChunks) {
        self.exposures.extend(other.exposures);
        self.metric_events.extend(other.metric_events);
        self.text.extend(other.text);
    }

    pub(crate) fn push(&mut self, table: EventTable, chunk: SendChunk) {
        match table {
            EventTable::Exposures => self.exposures.push(chunk),
            EventTable::MetricEvents => self.metric_events.push(chunk),
        }
    }

    /// Whether there is nothing to insert.
    pub(crate) fn is_empty(&self) -> bool {
        self.exposures.is_empty() && self.metric_events.is_empty()
    }
}

/// The chunks one table function hands out, and what it needs to describe them.
struct ChunkQueue {
    table: EventTable,
    /// Column names as C strings, in table order, for the bind callback.
    column_names: Vec<CString>,
    chunks: Mutex<VecDeque<SendChunk>>,
}

impl ChunkQueue {
    fn new(table: EventTable) -> StoreResult<ChunkQueue> {
        let column_names = table
            .columns()
            .iter()
            .map(|(name, _)| c_string(name))
            .collect::<StoreResult<_>>()?;
        Ok(ChunkQueue {
            table,
            column_names,
            chunks: Mutex::new(VecDeque::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<SendChunk>> {
        self.chunks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn function_name(&self) -> &'static str {
        match self.table {
            EventTable::Exposures => "rctgate_exposure_chunks",
            EventTable::MetricEvents => "rctgate_metric_event_chunks",
        }
    }
}

/// The two queues, registered as table functions on one database.
pub(crate) struct ChunkFeed {
    exposures: Arc<ChunkQueue>,
    metric_events: Arc<ChunkQueue>,
}

impl ChunkFeed {
    /// Registers the table functions on `conn`'s database.
    pub(crate) fn register(conn: &NativeConnection) -> StoreResult<ChunkFeed> {
        let feed = ChunkFeed {
            exposures: Arc::new(ChunkQueue::new(EventTable::Exposures)?),
            metric_events: Arc::new(ChunkQueue::new(EventTable::MetricEvents)?),
        };
        for queue in [&feed.exposures, &feed.metric_events] {
            register_function(conn, queue)?;
        }
        Ok(feed)
    }

    /// Inserts `chunks` in `conn`'s current transaction, one INSERT per table.
    pub(crate) fn insert(&self, conn: &mut NativeConnection, chunks: TableChunks) -> StoreResult<()> {
        // Bound to a name, not `_`, so the text stays alive until both INSERTs are done and
        // their queues cleared: DuckDB copies the strings into the table while it inserts.
        let TableChunks {
            exposures,
            metric_events,
            text: _text,
        } = chunks;
        for (queue, chunks) in [(&self.exposures, exposures), (&self.metric_events, metric_events)] {
            if chunks.is_empty() {
                continue;
            }
            queue.lock().extend(chunks);
            let result = conn.execute(&format!(
                "INSERT INTO {} SELECT * FROM {}()",
                queue.table.name(),
                queue.function_name()
            ));
            // A failed statement may leave chunks behind; they belong to no one now.
            queue.lock().clear();
            result?;
        }
        Ok(())
    }
}

/// Creates the table function serving `queue` and registers it.
fn register_function(conn: &NativeConnection, queue: &Arc<ChunkQueue>) -> StoreResult<()> {
    let name = c_string(queue.function_name())?;
    let extra = Box::into_raw(Box::new(Arc::clone(queue)));
    // SAFETY: the function object is created, configured and destroyed here; DuckDB copies it
    // on registration and owns `extra` from `set_extra_info` on, freeing it with
    // `drop_queue` when the database closes (or with the function object if registration
    // fails).
    unsafe {
        let mut function = ffi::duckdb_create_table_function();
        ffi::duckdb_table_function_set_name(function, name.as_ptr());
        ffi::duckdb_table_function_set_extra_info(function, extra.cast::<c_void>(), Some(drop_queue));
        ffi::duckdb_table_function_set_bind(function, Some(bind));
        ffi::duckdb_table_function_set_init(function, Some(init));
        ffi::duckdb_table_function_set_function(function, Some(produce));
        let state = ffi::duckdb_register_table_function(conn.raw(), function);
        ffi::duckdb_destroy_table_function(&mut function);
        if state != ffi::DuckDBSuccess {
            return Err(StoreError::Open(format!(
                "cannot register the table function {}",
                queue.function_name()
            )));
        }
    }
    Ok(())
}

/// The queue behind a callback's extra info.
///
/// # Safety
/// `extra` must be the pointer [`register_function`] set, which DuckDB keeps alive for as
/// long as the function can be called.
unsafe fn queue_of<'a>(extra: *mut c_void) -> Option<&'a ChunkQueue> {
    // SAFETY: guaranteed by the caller; null is handled.
    unsafe { extra.cast::<Arc<ChunkQueue>>().as_ref() }.map(|queue| &**queue)
}

unsafe extern "C" fn drop_queue(extra: *mut c_void) {
    if !extra.is_null() {
        // SAFETY: `extra` came from `Box::into_raw` in `register_function`; DuckDB calls this
        // once.
        drop(unsafe { Box::from_raw(extra.cast::<Arc<ChunkQueue>>()) });
    }
}

/// Declares the table's columns.
unsafe extern "C" fn bind(info: ffi::duckdb_bind_info) {
    // SAFETY: DuckDB passes the extra info registered with the function.
    let Some(queue) = (unsafe { queue_of(ffi::duckdb_bind_get_extra_info(info)) }) else {
        return;
    };
    for (name, (_, type_id)) in queue.column_names.iter().zip(queue.table.columns()) {
        // SAFETY: a plain type id; the logical type is copied by DuckDB and destroyed here.
        unsafe {
            let mut logical = ffi::duckdb_create_logical_type(*type_id as ffi::duckdb_type);
            ffi::duckdb_bind_add_result_column(info, name.as_ptr(), logical);
            ffi::duckdb_destroy_logical_type(&mut logical);
        }
    }
}

/// Lets every DuckDB thread take chunks: the queue is shared and each chunk independent.
unsafe extern "C" fn init(info: ffi::duckdb_init_info) {
    // SAFETY: `info` is valid for the call; DuckDB caps this at its own thread count.
    unsafe { ffi::duckdb_init_set_max_threads(info, 64) };
}

/// Emits the next queued chunk, by reference; an empty chunk ends the scan.
unsafe extern "C" fn produce(info: ffi::duckdb_function_info, output: ffi::duckdb_data_chunk) {
    // SAFETY: DuckDB passes the extra info registered with the function.
    let next = unsafe { queue_of(ffi::duckdb_function_get_extra_info(info)) }
        .and_then(|queue| queue.lock().pop_front().map(|chunk| (queue, chunk)));
    let Some((queue, SendChunk(chunk))) = next else {
        // SAFETY: `output` is the chunk DuckDB asked us to fill.
        unsafe { ffi::duckdb_data_chunk_set_size(output, 0) };
        return;
    };
    let columns = queue.table.columns().len();
    // SAFETY: `chunk` was built with this table's column types (see `rows`), the same the
    // bind callback declared, so column i of both has the same type. Referencing shares the
    // chunk's buffers (reference-counted), so dropping `chunk` afterwards is safe.
    unsafe {
        let source = chunk.get_ptr();
        for column in 0..columns as u64 {
            ffi::duckdb_vector_reference_vector(
                ffi::duckdb_data_chunk_get_vector(output, column),
                ffi::duckdb_data_chunk_get_vector(source, column),
            );
        }
        ffi::duckdb_data_chunk_set_size(output, ffi::duckdb_data_chunk_get_size(source));
    }
}
