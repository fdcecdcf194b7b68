//! The [`Store`] handle: one DuckDB file, one writer, caches kept in step with it.

use crate::chunk_feed::ChunkFeed;
use crate::error::StoreResult;
use crate::ids::{Fingerprinter, IdSet};
use crate::keys::KeyCache;
use crate::native::{NativeConnection, NativeDatabase};
use crate::schema;
use duckdb::Connection;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

/// The embedded store. Cheap to share behind an `Arc`; every method takes `&self`.
///
/// All writes go through one connection behind a mutex, so they are serialized: DuckDB allows
/// one writer per file anyway, and the in-memory id set must change in step with the commits.
/// Work that needs no lock (parsing, validation) happens before taking it.
pub struct Store {
    path: Option<PathBuf>,
    /// Boxed to keep `Store` small to move (a connection is a few hundred bytes).
    writer: Box<Mutex<Writer>>,
    pub(crate) keys: RwLock<KeyCache>,
    /// Fingerprints event ids; a copy of the keys the id set was built with.
    pub(crate) fingerprinter: Fingerprinter,
    /// Counts committed changes to events or metadata; see [`Store::data_generation`].
    generation: Arc<AtomicU64>,
    /// Every experiment's variants, as events are validated against them, cached with the
    /// count of experiment changes it was read at (see [`Store::experiment_catalog`]).
    catalog: Mutex<Option<(u64, Arc<ExperimentVariants>)>>,
    /// Counts committed experiment changes.
    experiment_changes: AtomicU64,
    /// Declared last so that it is dropped after the connections above.
    pub(crate) database: Arc<NativeDatabase>,
}

/// Experiment keys and the names of their variants.
pub(crate) type ExperimentVariants = std::collections::HashMap<String, Vec<String>>;

/// What the writer lock protects.
pub(crate) struct Writer {
    /// Metadata reads and writes (duckdb-rs).
    pub conn: Connection,
    /// Event inserts (DuckDB's C API; see `native` and `chunk_feed`).
    pub events: NativeConnection,
    /// The table functions the event inserts read from.
    pub feed: ChunkFeed,
    /// Fingerprints of every stored event id. A batch's ids go in before its commit and
    /// come out again if it fails; an import lends the set out and rebuilds it after a
    /// failure (see `ingest`, `import`).
    pub ids: IdSet,
    /// The store's change counter, bumped by every event commit.
    pub generation: Arc<AtomicU64>,
}

/// A connection for reading, which keeps the database open while it lives. Do not keep a
/// `try_clone` of it beyond its own life: the clone does not keep the database handle open.
pub struct ReadConnection {
    conn: Connection,
    _database: Arc<NativeDatabase>,
}

impl Deref for ReadConnection {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl Store {
    /// Opens the database at `path`, creating it if needed, and brings its schema up to date.
    ///
    /// Durability: DuckDB writes each commit to its write-ahead log and syncs it (`fdatasync`)
    /// before the commit returns; row groups a large transaction already wrote into the
    /// database file are synced before the log refers to them. The store sets `fsync_mode` to
    /// `full` so this also holds on macOS (F_FULLFSYNC); on Linux it is the default
    /// behaviour. Extension autoloading is off: the store never reaches for the network.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Store> {
        Store::open_with(Some(path.as_ref()), schema::latest_version())
    }

    /// A store that lives in memory only (tests, experiments with the API).
    pub fn open_in_memory() -> StoreResult<Store> {
        Store::open_with(None, schema::latest_version())
    }

    /// Opens a file migrated only up to `version` (tests of migrations).
    #[cfg(test)]
    pub(crate) fn open_at_version(path: &Path, version: u32) -> StoreResult<Store> {
        Store::open_with(Some(path), version)
    }

    fn open_with(path: Option<&Path>, version: u32) -> StoreResult<Store> {
        let database = NativeDatabase::open(path, SETTINGS)?;
        let mut conn = database.connection()?;
        let events = database.native_connection()?;
        let feed = ChunkFeed::register(&events)?;
        let path = path.map(Path::to_path_buf);
        let reached = schema::migrate(&mut conn, version)?;
        let fingerprinter = Fingerprinter::new();
        let ids = if reached >= crate::ingest::EVENTS_SCHEMA_VERSION {
            crate::ingest::load_ids(&conn, &fingerprinter)?
        } else {
            IdSet::default()
        };
        let keys = KeyCache::load(&conn)?;
        let generation = Arc::new(AtomicU64::new(0));
        Ok(Store {
            path,
            writer: Box::new(Mutex::new(Writer {
                conn,
                events,
                feed,
                ids,
                generation: Arc::clone(&generation),
            })),
            generation,
            catalog: Mutex::new(None),
            experiment_changes: AtomicU64::new(0),
            keys: RwLock::new(keys),
            fingerprinter,
            database,
        })
    }

    /// The database file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> StoreResult<u32> {
        schema::current_version(&self.writer().conn)
    }

    /// A separate connection to the same database, for long read-only queries (the analysis)
    /// that should not hold the writer lock. It sees every committed change.
    pub fn read_connection(&self) -> StoreResult<ReadConnection> {
        Ok(ReadConnection {
            conn: self.database.connection()?,
            _database: Arc::clone(&self.database),
        })
    }

    /// A number that changes whenever events or metadata change (it counts commits since
    /// the store was opened), so a cache of anything computed from the data (scorecards) can
    /// tell it is stale without reading the data. Lock-free.
    pub fn data_generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Records that a metadata change committed.
    pub(crate) fn touch(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Records that a change to an experiment committed (after the commit, so that a catalog
    /// read before it is never cached as current).
    pub(crate) fn touch_experiments(&self) {
        self.experiment_changes.fetch_add(1, Ordering::AcqRel);
        self.touch();
    }

    /// Experiment keys and their variants, as exposures are validated against them.
    ///
    /// Read once per experiment change rather than once per batch: reading it takes the
    /// writer lock and decodes every experiment, which made each `POST /v1/events` wait for
    /// the other clients' commits before it could even validate.
    pub(crate) fn experiment_catalog(&self) -> StoreResult<Arc<ExperimentVariants>> {
        let changes = self.experiment_changes.load(Ordering::Acquire);
        let mut cached = self.catalog.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, catalog)) = cached.as_ref() {
            if *at == changes {
                return Ok(Arc::clone(catalog));
            }
        }
        let catalog = Arc::new(crate::experiments::variants_by_experiment(&self.writer().conn)?);
        *cached = Some((changes, Arc::clone(&catalog)));
        Ok(catalog)
    }

    /// Number of events stored (distinct ids).
    pub fn event_count(&self) -> usize {
        self.writer().ids.len()
    }

    /// The writer. A panic while holding it cannot leave a half-applied change (DuckDB rolls
    /// back an uncommitted transaction when it is dropped, and the id set is updated only
    /// after commits), so a poisoned lock is safe to reuse.
    pub(crate) fn writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// DuckDB settings: durable commits everywhere (`full` adds F_FULLFSYNC on macOS; on Linux it
/// is the default fdatasync), no extension downloads, and a memory limit.
///
/// DuckDB's default limit is 80% of the machine's memory. The store caps it at 2 GiB so
/// that memory stays bounded whatever the event count: an analysis or import larger than
/// that spills to `<database>.tmp` next to the file (DuckDB's default temp directory) instead
/// of growing. With the id set (16 bytes per stored event) and the server, the process stays
/// under 4 GiB up to about 100M events.
///
/// `checkpoint_threshold` is raised from DuckDB's 16 MiB to 256 MiB: under a steady stream of
/// small batches, each checkpoint recompresses the table's last, partly filled row group, and
/// a checkpoint ran inside every ~20th 5,000-event commit (HTTP batch p99 404 ms). At 256 MiB
/// the same stream's p99 is 35 ms and throughput 1.4x (BENCHMARKS.md). Durability is the same
/// (every commit is synced to the write-ahead log); a crash replays a longer log on restart.
const SETTINGS: &[(&str, &str)] = &[
    ("fsync_mode", "full"),
    ("memory_limit", "2GiB"),
    ("checkpoint_threshold", "256MiB"),
    ("autoload_known_extensions", "false"),
    ("autoinstall_known_extensions", "false"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::StoreError;
    use rctgate_domain::{from_json_str, parse_event_batch, Metric};

    #[test]
    fn a_version_one_file_is_migrated_on_open() -> StoreResult<()> {
        let dir = std::env::temp_dir().join(format!("rctgate-store-migrate-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("v1.duckdb");
        let _ = std::fs::remove_file(&path);

        // What a binary that only knew schema version 1 would have written.
        let old = Store::open_at_version(&path, 1)?;
        assert_eq!(old.schema_version()?, 1);
        let metric: Metric = from_json_str(
            r#"{"name": "bookings", "kind": "proportion", "event": "booking", "direction": "increase"}"#,
        )?;
        old.upsert_metric(&metric, "local")?;
        drop(old);

        let store = Store::open(&path)?;
        assert_eq!(store.schema_version()?, schema::latest_version());
        assert_eq!(store.get_metric("bookings")?, metric);
        let batch = parse_event_batch(
            br#"{"type": "metric", "id": "e1", "unit": "u1", "event": "booking", "ts": "2026-11-26T12:00:00Z"}"#,
            10,
        )
        .map_err(|err| StoreError::Corrupt(err.to_string()))?;
        assert_eq!(store.ingest(batch)?.accepted, 1);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
