//! The few DuckDB C API calls rctgate needs that duckdb-rs does not wrap, behind a safe API.
//!
//! duckdb-rs inserts row by row (one C call per value, several allocations per row), reads
//! results as rows or Arrow batches, and keeps its connection handle private. The event store
//! needs more: data chunks filled on one thread and inserted on another by DuckDB's own
//! parallel `INSERT ... SELECT`, and query results read in DuckDB's own vectors. So:
//!
//! - [`NativeDatabase`] opens a database with settings and hands out both duckdb-rs
//!   connections (metadata, SQL) and [`NativeConnection`]s (the C API's);
//! - [`ChunkWriter`] fills a data chunk column by column and finishes as an [`OwnedChunk`],
//!   which keeps alive the text its strings point into;
//! - [`ChunkFeed`] registers table functions that hand queued chunks to an
//!   `INSERT INTO t SELECT * FROM f()`, by reference, without a copy;
//! - [`ResultStream`] reads a query's result chunk by chunk, values in place.
//!
//! **This is the only crate of the workspace with `unsafe` code** (the workspace lints forbid it
//! everywhere else). Every `unsafe` block carries a SAFETY comment, and no public function is
//! `unsafe`: the types check what the C API would otherwise trust (column types against what a
//! table function declared, the lifetime of the text a string points into, UTF-8 of what is
//! read).

mod chunk;
mod database;
mod error;
mod feed;
mod result_stream;
mod types;

pub use chunk::{ChunkWriter, OwnedChunk};
pub use database::{NativeConnection, NativeDatabase, SqlConnection};
pub use error::{NativeError, NativeResult};
pub use feed::{ChunkFeed, TableSpec};
pub use result_stream::{Column, ResultChunk, ResultStream, Value};
pub use types::ColumnType;

/// Longest string DuckDB keeps inside its 16-byte `string_t` instead of pointing to it.
const INLINE_STRING_BYTES: usize = 12;
