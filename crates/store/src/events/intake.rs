//! What the store's intake lock protects: where an event batch is deduplicated and made
//! durable before it is acknowledged.

use crate::events::ids::{IdHome, IdSet};
use crate::events::ingest_log::IngestLog;

/// What the intake lock protects: where a batch is deduplicated and made durable.
pub(crate) struct Intake {
    /// Fingerprints of every accepted event id: stored, or acknowledged and waiting in the
    /// backlog. A batch's ids go in before it is logged and come out again if logging fails;
    /// an import that fails drops the set, to be rebuilt (see `ingest`, `import`).
    ///
    /// `None` until something needs it: commands that only read (analyze, list, the gate)
    /// never pay for it. While it is `None` nothing has been accepted since it was dropped,
    /// so the tables hold every id and [`Store::intake_with_ids`] can open it from them and
    /// the index file.
    pub ids: Option<IdSet>,
    /// Where a database file's id index lives; `None` in memory.
    pub home: Option<IdHome>,
    /// Ids of events whose time is before this (microseconds) and that were stored before the
    /// set was built may be missing from `ids`: a batch looks those up in the tables
    /// (`ingest`). `i64::MIN`: the set holds every stored id.
    pub floor: i64,
    /// The ingest log (`ingest_log`); none for a store in memory.
    pub log: Option<IngestLog>,
}
