//! rctgate's embedded store: one DuckDB file holding metadata, events and the audit log.
//!
//! Rules about the data come from `rctgate_domain`; this crate applies them against what is
//! stored and makes the results durable. Its API is the [`Store`] handle, whose methods live
//! in the module of their concern:
//! - `catalog`: API keys (stored as SHA-256 hashes), metrics, experiments and their
//!   lifecycle, models and versions, the registry aliases that followed promotions, the
//!   audit log;
//! - `events`: event ingestion (`ingest`), its log, background writer and id set, bulk import
//!   (`import`), the summary of what is stored;
//! - `trials`: the use-cases the server and the CLI's `--db` path share: analyse, stop and
//!   freeze, the gate and promotion, the ledger;
//! - `export`: every table written out for other tools.
//!
//! `store` defines the handle and opens a file (`schema` migrates it); what the handle holds
//! (`writer`, `events::intake`, `catalog::key_cache`, `catalog::variants`, `events::backlog`)
//! lives in modules that never import `store`, so the modules form no cycle (checked by
//! `cargo test --release --workspace --test module_graph`).
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
//!   fingerprints of the ids within a horizon in memory instead, and older ids are looked
//!   up in the tables;
//! - a running experiment's randomization never changes, and a stopped one never changes;
//! - all writes to DuckDB are serialized by one writer lock, which a bulk import holds for
//!   its whole run; event batches are accepted under the intake lock (id set and log);
//!   reads for analysis use [`Store::read_connection`] and take no lock.
//!
//! Events are inserted as DuckDB data chunks through the C API (`rows` builds them with
//! `rctgate_duckdb_native::ChunkWriter`, whose `ChunkFeed` hands them to DuckDB's INSERT),
//! because duckdb-rs inserts row by row, and the Parquet import reads DuckDB's result chunks
//! in place rather than as Arrow. That crate holds all the `unsafe` code; this one has none.
//!
//! Errors are [`StoreError`]s whose [`StoreError::kind`] tells the server which status to
//! answer (400, 404, 409, 500).

mod backup;
mod catalog;
mod error;
mod events;
mod export;
mod schema;
mod store;
mod time;
mod trials;
mod writer;

pub use backup::{Backup, BACKUP_FILE};
pub use catalog::alias_syncs::{AliasOutcome, AliasSync, SERVER_ACTOR};
pub use catalog::audit::{AuditEntry, LOCAL_ACTOR};
pub use catalog::key_cache::{KeyIdentity, KeyRejection};
pub use catalog::keys::{KeyInfo, NewKey};
pub use catalog::metrics::Upserted;
pub use catalog::models::{ModelView, Promotion, WITHOUT_EVIDENCE};
pub use error::{ErrorKind, ImportError, StoreError, StoreResult};
pub use events::ids::IngestOutcome;
pub use events::import::{
    read_event_file, ImportOutcome, ImportProgress, RawEvents, IMPORT_BATCH_ROWS, IMPORT_CHUNK_ROWS,
};
pub use events::ingest::PreparedEvents;
pub use events::summary::EventsSummary;
pub use export::{ExportFormat, ExportedTable};
pub use store::{EngineFactory, ReadConnection, Store, DEFAULT_ID_HORIZON, MEMORY_LIMIT_VARIABLE};
pub use trials::analyze::AnalyzeOptions;
pub use trials::monitoring::{ModelMonitoring, RaisedAlert};
pub use trials::promotion::{GateAnswer, PromotionOutcome};
pub use trials::unit_state::{KeepRows, KeptUnits, RowsKept};
