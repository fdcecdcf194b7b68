//! rctgate's embedded store: one DuckDB file holding metadata, events and the audit log.
//!
//! This crate owns the schema and its migrations (`schema`), API keys (stored as SHA-256
//! hashes), the metric catalog, experiments and their lifecycle, the audit log, event
//! ingestion (`ingest`) and bulk import (`import`). Rules about the data come from
//! `rctgate_domain`; this crate applies them against what is stored and makes the results
//! durable.
//!
//! Invariants:
//! - every change to keys, metrics and experiments appends an audit entry in the same
//!   transaction; entries name the key id, never the key;
//! - an event batch is validated completely before anything is written; `ingest` returns
//!   once the batch is synced in the ingest log (`ingest_log`); the background writer
//!   (`backlog`) inserts logged batches in large transactions, reads wait for it, and opening
//!   a store inserts what a crash left in the log;
//! - each event id is stored at most once: repeats, within a batch or of anything stored
//!   before (also before a restart), are counted as duplicates and dropped. There is no index
//!   on `id` (it made ingestion 4-5x slower and the file 4x larger); `ids` keeps 128-bit
//!   fingerprints of every stored id in memory instead;
//! - a running experiment's randomization never changes, and a stopped one never changes;
//! - all writes to DuckDB are serialized by one writer lock, which a bulk import holds for
//!   its whole run; event batches are accepted under the intake lock (id set and log);
//!   reads for analysis use [`Store::read_connection`] and take no lock.
//!
//! Events are inserted as DuckDB data chunks through the C API (`rows` builds them,
//! `chunk_feed` hands them to DuckDB's INSERT, `native` opens and connects), because
//! duckdb-rs inserts row by row, and the Parquet import reads DuckDB's result chunks in
//! place (`result_chunks`) rather than as Arrow; this is the crate's only `unsafe` code.
//!
//! Errors are [`StoreError`]s whose [`StoreError::kind`] tells the server which status to
//! answer (400, 404, 409, 500).

mod analysis;
mod audit;
mod backlog;
mod chunk_feed;
mod error;
mod experiments;
mod export;
mod ids;
mod import;
mod ingest;
mod ingest_log;
mod keys;
mod metrics;
mod models;
mod native;
mod result_chunks;
mod rows;
mod schema;
mod store;
mod summary;
mod time;

pub use analysis::AnalyzeOptions;
pub use audit::{AuditEntry, LOCAL_ACTOR};
pub use error::{ErrorKind, ImportError, StoreError, StoreResult};
pub use export::{ExportFormat, ExportedTable};
pub use import::{
    read_event_file, ImportOutcome, ImportProgress, RawEvents, IMPORT_BATCH_ROWS, IMPORT_CHUNK_ROWS,
};
pub use ingest::{IngestOutcome, PreparedEvents};
pub use keys::{KeyIdentity, KeyInfo, KeyRejection, NewKey};
pub use metrics::Upserted;
pub use models::{GateAnswer, ModelView, Promotion, PromotionOutcome, WITHOUT_EVIDENCE};
pub use store::{ReadConnection, Store, DEFAULT_ID_HORIZON};
pub use summary::EventsSummary;
