//! How filled chunks reach a table: DuckDB's own `INSERT ... SELECT`, reading the chunks
//! from a table function.
//!
//! [`ChunkFeed::register`] registers one table function per [`TableSpec`] on a database.
//! Each returns the chunks queued for it, and its output vectors *reference* the queued
//! chunks' memory (`duckdb_vector_reference_vector`) instead of copying it.
//! [`ChunkFeed::insert`] queues chunks and runs `INSERT INTO t SELECT * FROM f()` in the
//! connection's current transaction.
//!
//! Why not DuckDB's appender, which this replaced: the appender copies every chunk into a
//! buffer of its own and flushes that buffer with an INSERT it runs itself, one thread, while
//! the calling thread spins on DuckDB's task queue waiting for the workers that compress row
//! groups. Through a table function the INSERT is the same parallel one DuckDB runs for
//! `INSERT INTO t SELECT * FROM read_parquet(...)` (each thread fills, compresses and writes
//! its own row groups), with no intermediate copy.
//!
//! A queue holds one statement's chunks at a time: `insert` takes `&mut` of the connection,
//! and the feed is meant for one writer. The table functions are not for other SQL.

use crate::chunk::{OwnedChunk, TextKeeper};
use crate::database::{c_string, NativeConnection};
use crate::error::{NativeError, NativeResult};
use crate::types::ColumnType;
use duckdb::core::DataChunkHandle;
use duckdb::ffi;
use std::collections::VecDeque;
use std::ffi::{c_void, CString};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A table that chunks are inserted into, and the table function that feeds it.
#[derive(Debug, Clone, Copy)]
pub struct TableSpec {
    /// The table's name in SQL.
    pub table: &'static str,
    /// The table function's name; unique per database.
    pub function: &'static str,
    /// Every column of the table, in order, with its type: the layout of the chunks inserted.
    pub columns: &'static [(&'static str, ColumnType)],
}

impl TableSpec {
    /// The column types, in order.
    pub fn types(&self) -> Vec<ColumnType> {
        self.columns.iter().map(|(_, column)| *column).collect()
    }
}

/// A queued chunk; moves to whichever DuckDB thread asks for it.
struct QueuedChunk(DataChunkHandle);

// SAFETY: a data chunk is memory owned by its handle, tied to no connection or thread; it is
// moved, never shared.
unsafe impl Send for QueuedChunk {}

/// The chunks one table function hands out, and what it needs to describe them.
struct ChunkQueue {
    spec: TableSpec,
    /// Column names as C strings, in table order, for the bind callback.
    column_names: Vec<CString>,
    chunks: Mutex<VecDeque<QueuedChunk>>,
}

impl ChunkQueue {
    fn new(spec: TableSpec) -> NativeResult<ChunkQueue> {
        let column_names = spec
            .columns
            .iter()
            .map(|(name, _)| c_string(name))
            .collect::<NativeResult<_>>()?;
        Ok(ChunkQueue {
            spec,
            column_names,
            chunks: Mutex::new(VecDeque::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<QueuedChunk>> {
        self.chunks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Table functions registered on one database, one per table.
pub struct ChunkFeed {
    queues: Vec<Arc<ChunkQueue>>,
}

impl ChunkFeed {
    /// Registers a table function for each of `tables` on `conn`'s database.
    pub fn register(conn: &NativeConnection, tables: &[TableSpec]) -> NativeResult<ChunkFeed> {
        let queues = tables
            .iter()
            .map(|spec| ChunkQueue::new(*spec).map(Arc::new))
            .collect::<NativeResult<Vec<_>>>()?;
        for queue in &queues {
            register_function(conn, queue)?;
        }
        Ok(ChunkFeed { queues })
    }

    /// Inserts `chunks` into `table` with one INSERT in `conn`'s current transaction. Every
    /// chunk must have the table's column types; otherwise nothing is inserted and the error
    /// says which.
    pub fn insert(
        &self,
        conn: &mut NativeConnection,
        table: &str,
        chunks: Vec<OwnedChunk>,
    ) -> NativeResult<()> {
        if chunks.is_empty() {
            return Ok(());
        }
        let queue = self
            .queues
            .iter()
            .find(|queue| queue.spec.table == table)
            .ok_or_else(|| NativeError::Statement(format!("no table function feeds {table}")))?;
        let types = queue.spec.types();
        if let Some(chunk) = chunks.iter().find(|chunk| chunk.types() != types) {
            return Err(NativeError::Statement(format!(
                "a chunk of columns {:?} cannot be inserted into {table}, whose columns are {types:?}",
                chunk.types()
            )));
        }
        // Kept until the INSERT is done and the queue cleared: DuckDB copies the strings into
        // the table while it inserts, reading them where the chunks point.
        let mut text: Vec<TextKeeper> = Vec::with_capacity(chunks.len());
        {
            let mut queued = queue.lock();
            for chunk in chunks {
                let (chunk, keeper) = chunk.into_parts();
                queued.push_back(QueuedChunk(chunk));
                text.push(keeper);
            }
        }
        let result = conn.execute(&format!(
            "INSERT INTO {} SELECT * FROM {}()",
            queue.spec.table, queue.spec.function
        ));
        // A failed statement may leave chunks behind; they belong to no one now.
        queue.lock().clear();
        drop(text);
        result
    }
}

/// Creates the table function serving `queue` and registers it.
fn register_function(conn: &NativeConnection, queue: &Arc<ChunkQueue>) -> NativeResult<()> {
    let name = c_string(queue.spec.function)?;
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
            return Err(NativeError::Open(format!(
                "cannot register the table function {}",
                queue.spec.function
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
    for (name, (_, column)) in queue.column_names.iter().zip(queue.spec.columns) {
        // SAFETY: a plain type id; the logical type is copied by DuckDB and destroyed here.
        unsafe {
            let mut logical = ffi::duckdb_create_logical_type(column.id() as ffi::duckdb_type);
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
    let Some((queue, QueuedChunk(chunk))) = next else {
        // SAFETY: `output` is the chunk DuckDB asked us to fill.
        unsafe { ffi::duckdb_data_chunk_set_size(output, 0) };
        return;
    };
    let columns = queue.spec.columns.len();
    // SAFETY: `ChunkFeed::insert` queues only chunks of the table's column types, the same
    // the bind callback declared, so column i of both has the same type. Referencing shares
    // the chunk's buffers (reference-counted), so dropping `chunk` afterwards is safe; the
    // text its strings point into lives until the INSERT returns (`ChunkFeed::insert`).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChunkWriter, NativeDatabase, Value};

    const NOTES: TableSpec = TableSpec {
        table: "notes",
        function: "test_note_chunks",
        columns: &[
            ("body", ColumnType::Varchar),
            ("seen", ColumnType::Timestamp),
            ("score", ColumnType::Double),
            ("flag", ColumnType::Boolean),
        ],
    };

    #[test]
    fn chunks_insert_with_their_strings_and_nulls_and_a_wrong_layout_is_refused() {
        let database = NativeDatabase::open(None, &[("threads", "2")]).expect("in-memory database");
        let sql = database.connection().expect("connection");
        sql.execute_batch("CREATE TABLE notes (body VARCHAR, seen TIMESTAMP, score DOUBLE, flag BOOLEAN)")
            .expect("table");
        let mut conn = database.native_connection().expect("native connection");
        let feed = ChunkFeed::register(&conn, &[NOTES]).expect("registers");
        let text = Arc::new(
            (0..3000)
                .map(|i| format!("note number {i:05};"))
                .collect::<String>(),
        );
        let note = |i: usize| &text[i * 18..(i + 1) * 18];
        let mut chunks = Vec::new();
        for start in (0..3000).step_by(2048) {
            let mut writer = ChunkWriter::new(&NOTES.types());
            writer.keep(&text);
            let rows = (3000 - start).min(writer.capacity());
            for row in 0..rows {
                let i = start + row;
                writer.set_str(0, row, (i % 10 != 0).then(|| note(i)));
                writer.set_timestamp(1, row, Some(i as i64 * 1_000_000));
                writer.set_f64(2, row, (i % 7 != 0).then_some(i as f64 / 2.0));
                writer.set_bool(3, row, Some(i % 2 == 0));
            }
            chunks.push(writer.finish(rows));
        }
        conn.execute("BEGIN").expect("begin");
        feed.insert(&mut conn, "notes", chunks).expect("inserts");
        conn.execute("COMMIT").expect("commit");
        drop(text);
        let (count, bodies, scores, sum): (i64, i64, i64, f64) = sql
            .query_row(
                "SELECT count(*), count(body), count(score), sum(score) FROM notes",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .expect("counts");
        assert_eq!((count, bodies, scores), (3000, 2700, 3000 - 429));
        let expected: f64 = (0..3000).filter(|i| i % 7 != 0).map(|i| i as f64 / 2.0).sum();
        assert!((sum - expected).abs() < 1e-6);
        let mut reader = database.query_connection().expect("reader");
        {
            let mut stream = reader
                .stream("SELECT body, seen FROM notes WHERE body IS NOT NULL ORDER BY seen LIMIT 1 OFFSET 1")
                .expect("query");
            let chunk = stream.next_chunk().expect("chunk").expect("a row");
            assert_eq!(
                chunk.column(0, ColumnType::Varchar).expect("body").value(0),
                Value::Varchar("note number 00002;")
            );
            assert_eq!(
                chunk.column(1, ColumnType::Timestamp).expect("seen").value(0),
                Value::BigInt(2_000_000)
            );
        }

        let wrong = ChunkWriter::new(&[ColumnType::Varchar]).finish(0);
        let err = feed.insert(&mut conn, "notes", vec![wrong]).expect_err("refused");
        assert!(err.to_string().contains("cannot be inserted into notes"), "{err}");
    }
}
