//! What the store's writer lock protects: the one connection that writes metadata and the one
//! that inserts events. DuckDB allows one writer per file; the lock makes it one per process.

use rctgate_duckdb_native::{ChunkFeed, NativeConnection, SqlConnection};

/// What the writer lock protects.
pub(crate) struct Writer {
    /// Metadata reads and writes (duckdb-rs).
    pub conn: SqlConnection,
    /// Event inserts (DuckDB's C API; see `rctgate_duckdb_native`).
    pub events: NativeConnection,
    /// The table functions the event inserts read from.
    pub feed: ChunkFeed,
}
