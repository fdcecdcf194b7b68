//! The event pipeline: validating and accepting batches (`ingest`), their ingest log
//! (`ingest_log`) and background insert (`backlog`), the id set that makes them idempotent
//! (`ids`), kept on disk for a database file (`id_index`, `id_folding`), the rows and data chunks they are inserted as (`rows`, `tables`), bulk import
//! (`import`) and the summary of what is stored (`summary`).

pub(crate) mod backlog;
pub(crate) mod checked_pages;
pub(crate) mod id_folding;
pub(crate) mod id_index;
pub(crate) mod ids;
pub(crate) mod import;
pub(crate) mod ingest;
pub(crate) mod ingest_log;
pub(crate) mod intake;
pub(crate) mod rows;
pub(crate) mod summary;
pub(crate) mod tables;
