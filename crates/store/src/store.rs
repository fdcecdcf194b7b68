//! The [`Store`] handle: one DuckDB file, one writer, caches kept in step with it.

use crate::catalog::key_cache::KeyCache;
use crate::catalog::variants::VariantCache;
use crate::error::{StoreError, StoreResult};
use crate::events::backlog::{BackgroundWriter, Backlog};
use crate::events::id_folding::{fold_now, open_ids};
use crate::events::id_index::IdIndex;
use crate::events::ids::{Fingerprinter, IdHome, IdSet};
use crate::events::ingest_log::IngestLog;
use crate::events::intake::Intake;
use crate::events::rows::EventTable;
use crate::events::tables::{horizon_floor, load_ids, replay, EVENTS_SCHEMA_VERSION};
use crate::schema;
use crate::writer::Writer;
use rctgate_duckdb_native::{ChunkFeed, NativeDatabase, SqlConnection};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

/// The embedded store. Cheap to share behind an `Arc`; every method takes `&self`.
///
/// All writes to the database go through one connection behind a mutex, so they are
/// serialized: DuckDB allows one writer per file anyway. Event batches are accepted under a
/// second lock, the intake (the id set and the ingest log), and reach the tables through the
/// background writer (`backlog`). Work that needs no lock (parsing, validation) happens
/// before taking either.
pub struct Store {
    /// Declared first so that it is dropped first: it drains the backlog into the tables
    /// while everything below still lives.
    background: BackgroundWriter,
    path: Option<PathBuf>,
    writer: Arc<Mutex<Writer>>,
    intake: Arc<Mutex<Intake>>,
    backlog: Arc<Backlog>,
    /// Whether accepted batches go to an ingest log (a file database at the events schema).
    logs_events: bool,
    pub(crate) keys: RwLock<KeyCache>,
    /// Fingerprints event ids; a copy of the keys the id set was built with.
    pub(crate) fingerprinter: Fingerprinter,
    /// Counts accepted event batches and committed metadata changes; see
    /// [`Store::data_generation`].
    pub(crate) generation: AtomicU64,
    /// Every experiment's variants, as events are validated against them (see
    /// [`Store::experiment_catalog`]).
    pub(crate) variants: VariantCache,
    /// How far back from the newest stored event the id set reaches when it is built, in
    /// microseconds (`i64::MAX`: every id); see [`Store::set_id_horizon`].
    id_horizon: AtomicI64,
    /// Held while an analysis writes the unit rows kept for a trial (`trials::unit_state`).
    kept_units: Mutex<()>,
    /// Where analyses read events when not from the file; see [`Store::read_events_with`].
    events_engine: RwLock<Option<EngineFactory>>,
    /// Declared last so that it is dropped after the connections above.
    pub(crate) database: Arc<NativeDatabase>,
}

/// Opens the engine that analyses read events from instead of the file (Spark, say): one
/// per analysis, so that concurrent analyses keep their intermediate results apart. Its
/// error is a sentence.
pub type EngineFactory = Arc<dyn Fn() -> Result<Box<dyn rctgate_analysis::Engine>, String> + Send + Sync>;

/// A connection for reading, which keeps the database open while it lives.
pub type ReadConnection = SqlConnection;

impl Store {
    /// Opens the database at `path`, creating it if needed, and brings its schema up to date.
    /// Event batches that an earlier process acknowledged but had not yet inserted (its
    /// ingest log, see `ingest_log`) are inserted before this returns.
    ///
    /// Durability: an event batch is acknowledged once it is synced (`fdatasync`) in the
    /// ingest log. Everything else is a DuckDB commit, which writes its write-ahead log and
    /// syncs it before returning; row groups a large transaction already wrote into the
    /// database file are synced before the log refers to them. The store sets `fsync_mode`
    /// to `full` so this also holds on macOS (F_FULLFSYNC); on Linux it is the default
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
        let database = open_database(path)?;
        let mut conn = database.connection()?;
        let mut events = database.native_connection()?;
        let feed = ChunkFeed::register(&events, &EventTable::specs())?;
        let reached = schema::migrate(&mut conn, version)?;
        let index_path = path.map(IdHome::path_for);
        if let Some(index_path) = &index_path {
            // DuckDB's lock on the file says no other process is writing an index for it.
            IdIndex::remove_leftovers(index_path);
        }
        // A file's fingerprint keys are its index's, so that the index stays usable.
        let fingerprinter = match index_path.as_deref().and_then(IdIndex::read_keys) {
            Some(keys) => Fingerprinter::with_keys(keys),
            None => Fingerprinter::new(),
        };
        let has_events = reached >= EVENTS_SCHEMA_VERSION;
        // One in memory has no ids to read; a file's set is opened on first need (after a
        // crash left batches in the ingest log, those are deduped against every stored id
        // first, in memory, and inserted).
        let ids = path.is_none().then(IdSet::default);
        let home = index_path.map(|path| IdHome {
            path,
            fingerprinter: fingerprinter.clone(),
            horizon: DEFAULT_ID_HORIZON.num_microseconds().unwrap_or(i64::MAX),
        });
        // Opened after DuckDB's file, whose lock keeps a second process from taking a live
        // log for one left behind.
        let log = match path {
            Some(path) if has_events => {
                let (log, segments) = IngestLog::open(path)?;
                // An empty segment holds no batch: nothing to replay, and no reason to read
                // every stored id into memory for it.
                let mut left = Vec::new();
                for segment in segments {
                    if segment.is_empty() {
                        // Left behind, it is skipped again at the next open.
                        let _ = segment.delete();
                    } else {
                        left.push(segment);
                    }
                }
                if !left.is_empty() {
                    let mut loaded = load_ids(
                        &mut database.query_connection()?,
                        &fingerprinter,
                        i64::MIN..i64::MAX,
                    )?;
                    replay(left, &mut events, &feed, &mut loaded, &fingerprinter)?;
                }
                Some(log)
            }
            _ => None,
        };
        let keys = KeyCache::load(&conn, reached)?;
        let logs_events = log.is_some();
        let writer = Arc::new(Mutex::new(Writer { conn, events, feed }));
        let intake = Arc::new(Mutex::new(Intake {
            ids,
            home,
            floor: i64::MIN,
            log,
        }));
        let backlog = Arc::new(Backlog::default());
        let background = BackgroundWriter::spawn(
            Arc::clone(&backlog),
            Arc::clone(&intake),
            Arc::clone(&writer),
            Arc::clone(&database),
            fingerprinter.clone(),
        )?;
        Ok(Store {
            background,
            path: path.map(Path::to_path_buf),
            writer,
            intake,
            backlog,
            logs_events,
            generation: AtomicU64::new(0),
            variants: VariantCache::default(),
            kept_units: Mutex::new(()),
            events_engine: RwLock::new(None),
            id_horizon: AtomicI64::new(DEFAULT_ID_HORIZON.num_microseconds().unwrap_or(i64::MAX)),
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
    /// that should not hold the writer lock. It sees every committed change and every event
    /// batch acknowledged before the call (it waits for the background writer to insert
    /// them; see `backlog`).
    pub fn read_connection(&self) -> StoreResult<ReadConnection> {
        self.backlog.flush()?;
        Ok(self.database.connection()?)
    }

    /// The lock of the kept unit rows' writers.
    pub(crate) fn kept_units_lock(&self) -> MutexGuard<'_, ()> {
        self.kept_units.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A number that changes whenever events or metadata change (it counts accepted event
    /// batches and commits since the store was opened), so a cache of anything computed from the data (scorecards) can
    /// tell it is stale without reading the data. Lock-free.
    pub fn data_generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Records that a metadata change committed or an event batch was accepted.
    pub(crate) fn touch(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Records that a change to an experiment committed (after the commit, so that a catalog
    /// read before it is never cached as current).
    pub(crate) fn touch_experiments(&self) {
        self.variants.invalidate();
        self.touch();
    }

    /// Number of events stored and acknowledged (distinct ids); builds the id set if needed.
    pub fn event_count(&self) -> StoreResult<usize> {
        let mut intake = self.intake_with_ids()?;
        Ok(intake.ids.get_or_insert_with(IdSet::default).len())
    }

    /// Builds the id set now rather than on the first ingest: `serve` calls it before it
    /// listens, so the first batch does not wait for it.
    pub fn load_event_ids(&self) -> StoreResult<()> {
        self.intake_with_ids().map(drop)
    }

    /// How far back, from the newest stored event, the id set built from the tables reaches
    /// (default [`DEFAULT_ID_HORIZON`]; `None`: every id). Older ids are looked up in the
    /// tables when a batch holds events that old, so idempotency is the same; what the
    /// horizon bounds is the memory and the time to build the set, which then follow the
    /// traffic of the horizon instead of the whole history. Takes effect when the set is next
    /// built (`serve` sets it before it builds the set).
    pub fn set_id_horizon(&self, horizon: Option<chrono::Duration>) {
        let micros = horizon.map_or(i64::MAX, |h| h.num_microseconds().unwrap_or(i64::MAX));
        self.id_horizon.store(micros, Ordering::Release);
    }

    /// Makes every analysis (results, the frozen scorecard of a stop, the distributions, a
    /// launch's watch) read the events through `engine` instead of the file; the experiments,
    /// metrics and everything else stay the file's. `None`: the file again. Unit rows are
    /// kept only for analyses of the file.
    pub fn read_events_with(&self, engine: Option<EngineFactory>) {
        *self.events_engine.write().unwrap_or_else(PoisonError::into_inner) = engine;
    }

    /// The engine analyses read events from, when it is not the file.
    pub(crate) fn events_engine(&self) -> Option<EngineFactory> {
        self.events_engine
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The intake with its id set open (from the index file and the rows since, or built
    /// from the tables within the horizon, when it is not yet).
    pub(crate) fn intake_with_ids(&self) -> StoreResult<MutexGuard<'_, Intake>> {
        let mut intake = self.intake();
        if intake.ids.is_none() {
            let mut conn = self.database.query_connection()?;
            let horizon = self.id_horizon.load(Ordering::Acquire);
            let (ids, floor) = match intake.home.as_mut() {
                Some(home) => {
                    home.horizon = horizon;
                    open_ids(&mut conn, home)?
                }
                None => {
                    let floor = horizon_floor(&mut conn, horizon)?;
                    (load_ids(&mut conn, &self.fingerprinter, floor..i64::MAX)?, floor)
                }
            };
            intake.ids = Some(ids);
            intake.floor = floor;
        }
        Ok(intake)
    }

    /// Writes the ids accepted since the id index was last written into a new index now,
    /// rather than when the background writer next finds them numerous (`id_folding`);
    /// `false` when there was nothing to fold (a store in memory, or an id set not open).
    pub fn fold_event_ids(&self) -> StoreResult<bool> {
        self.flush_events()?;
        fold_now(&self.intake, || self.backlog.is_drained(), &self.database)
    }

    /// Starts a fold on its own thread as the background writer does, from `threshold` ids.
    #[cfg(test)]
    pub(crate) fn start_fold_with(
        &self,
        threshold: usize,
    ) -> StoreResult<Option<std::thread::JoinHandle<()>>> {
        crate::events::id_folding::start_fold(
            &self.intake,
            || self.backlog.is_drained(),
            &self.database,
            threshold,
        )
    }

    /// The intake with every stored id in the set (an import dedupes against the set alone).
    pub(crate) fn intake_with_all_ids(&self) -> StoreResult<MutexGuard<'_, Intake>> {
        let mut intake = self.intake_with_ids()?;
        if intake.floor > i64::MIN {
            let older = load_ids(
                &mut self.database.query_connection()?,
                &self.fingerprinter,
                i64::MIN..intake.floor,
            )?;
            let Intake { ids, floor, .. } = &mut *intake;
            ids.get_or_insert_with(IdSet::default).merge(older);
            *floor = i64::MIN;
        }
        Ok(intake)
    }

    /// The writer. A panic while holding it cannot leave a half-applied change (DuckDB rolls
    /// back an uncommitted transaction when it is dropped; the id set is not under this
    /// lock), so a poisoned lock is safe to reuse.
    pub(crate) fn writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The intake. A panic while holding it leaves at worst ids in the set of a batch that
    /// was not acknowledged; its retry counts them as duplicates. That is the one way a
    /// panic could lose events, and only on a bug: the code under the lock does not panic.
    pub(crate) fn intake(&self) -> MutexGuard<'_, Intake> {
        self.intake.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The backlog of acknowledged batches.
    pub(crate) fn backlog(&self) -> &Backlog {
        &self.backlog
    }

    /// Whether accepted batches are written to an ingest log before they are acknowledged.
    pub(crate) fn logs_events(&self) -> bool {
        self.logs_events
    }
}

impl Drop for Store {
    /// Inserts every acknowledged batch still waiting before the connections close, so a
    /// store closed normally leaves no ingest log behind; saves the keys' last use first.
    fn drop(&mut self) {
        // "Last used" is advisory: a failure to write it must not keep events from the tables.
        let _ = self.save_key_usage();
        self.background.close();
    }
}

/// How far back from the newest stored event the id set reaches by default: retries and
/// redeliveries come within minutes or days; older duplicates are still caught, by a lookup.
pub const DEFAULT_ID_HORIZON: chrono::Duration = chrono::Duration::days(30);

/// DuckDB settings: durable commits everywhere (`full` adds F_FULLFSYNC on macOS; on Linux it
/// is the default fdatasync), no extension downloads, and a memory limit.
///
/// DuckDB's default limit is 80% of the machine's memory. The store caps it at 1.5 GiB so
/// that memory stays bounded whatever the event count: an analysis or import larger than
/// that spills to `<database>.tmp` next to the file (DuckDB's default temp directory) instead
/// of growing. At 2 GiB the analysis of 4M units / 85M events peaked at 2.2 GiB of process
/// memory; at 1.5 GiB its scorecard query took the same time (5.9 s against 6.0 s) and the
/// process peaked at 1.6 GiB; at 1.2 GiB it spilled and took 7.4 s (BENCHMARKS.md). The
/// server's id set (at most 34 MB of the id index's pages, `id_index`, and the ids accepted
/// since it was written) comes on top. [`MEMORY_LIMIT_VARIABLE`] replaces the limit.
///
/// `checkpoint_threshold` is raised from DuckDB's 16 MiB to 256 MiB: under a steady stream of
/// small batches, each checkpoint recompresses the table's last, partly filled row group, and
/// a checkpoint ran inside every ~20th 5,000-event commit (HTTP batch p99 404 ms). At 256 MiB
/// the same stream's p99 is 35 ms and throughput 1.4x (BENCHMARKS.md). Durability is the same
/// (every commit is synced to the write-ahead log); a crash replays a longer log on restart.
const SETTINGS: &[(&str, &str)] = &[
    ("fsync_mode", "full"),
    ("memory_limit", "1536MiB"),
    ("checkpoint_threshold", "256MiB"),
    ("autoload_known_extensions", "false"),
    ("autoinstall_known_extensions", "false"),
];

/// The environment variable that replaces the `memory_limit` of [`SETTINGS`] (a DuckDB size:
/// `512MiB`, `4GiB`): a server on a small machine bounds its memory lower, one with data in
/// gigabytes gives its analyses more before they spill.
pub const MEMORY_LIMIT_VARIABLE: &str = "RCTGATE_MEMORY_LIMIT";

/// Opens DuckDB's file (or memory) with [`SETTINGS`], the memory limit replaced when
/// [`MEMORY_LIMIT_VARIABLE`] is set; DuckDB's refusal of that value names the variable.
fn open_database(path: Option<&Path>) -> StoreResult<Arc<NativeDatabase>> {
    let limit = match std::env::var(MEMORY_LIMIT_VARIABLE) {
        Ok(limit) => Some(limit),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(StoreError::Open(format!(
                "{MEMORY_LIMIT_VARIABLE} is not text; give a size such as 512MiB or 4GiB."
            )));
        }
    };
    if let Some(limit) = &limit {
        // DuckDB accepted `-5` without a word: anything but a positive size is refused here.
        let number: String = limit
            .trim()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        if !number.parse::<f64>().is_ok_and(|n| n > 0.0) {
            return Err(StoreError::Open(format!(
                "{MEMORY_LIMIT_VARIABLE}={limit:?} is not a size; give one such as 512MiB or 4GiB."
            )));
        }
    }
    let settings: Vec<(&str, &str)> = SETTINGS
        .iter()
        .map(|&(name, value)| match (&limit, name) {
            (Some(limit), "memory_limit") => (name, limit.as_str()),
            _ => (name, value),
        })
        .collect();
    NativeDatabase::open(path, &settings).map_err(|err| match &limit {
        Some(limit) => StoreError::Open(format!(
            "{MEMORY_LIMIT_VARIABLE}={limit:?} was refused; give a size such as 512MiB or 4GiB ({err})."
        )),
        None => err.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::StoreError;
    use crate::time::Micros;
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

    #[test]
    fn reading_never_builds_the_id_set_and_ingesting_does() -> StoreResult<()> {
        let dir = std::env::temp_dir().join(format!("rctgate-store-lazy-ids-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("lazy.duckdb");
        let _ = std::fs::remove_file(&path);
        let event = br#"{"type": "metric", "id": "e1", "unit": "u1", "event": "booking", "ts": "2026-11-26T12:00:00Z"}"#;
        let batch = || parse_event_batch(event, 10).map_err(|err| StoreError::Corrupt(err.to_string()));
        let store = Store::open(&path)?;
        assert_eq!(store.ingest(batch()?)?.accepted, 1);
        drop(store);

        let store = Store::open(&path)?;
        store.list_experiments()?;
        store.read_connection()?;
        assert!(store.intake().ids.is_none(), "reads leave the id set unbuilt");
        let again = store.ingest(batch()?)?;
        assert_eq!(
            (again.accepted, again.duplicates),
            (0, 1),
            "the stored id is known after a restart"
        );
        assert_eq!(store.intake().ids.as_ref().map(IdSet::len), Some(1));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    /// The set built at open reaches back one horizon from the newest event; ids older than
    /// that are looked up, so redeliveries are duplicates on both sides of the edge, across
    /// restarts, within one batch, and in an import (which takes every id).
    fn batch(text: &str) -> StoreResult<rctgate_domain::EventBatch<rctgate_domain::EventRecordRef<'_>>> {
        parse_event_batch(text.as_bytes(), 100).map_err(|err| StoreError::Corrupt(err.to_string()))
    }

    #[test]
    fn the_id_set_reaches_back_a_horizon_and_older_ids_are_looked_up() -> StoreResult<()> {
        let dir = std::env::temp_dir().join(format!("rctgate-store-horizon-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("horizon.duckdb");
        let _ = std::fs::remove_file(&path);
        let event = |id: &str, ts: &str| {
            format!(r#"{{"type": "metric", "id": "{id}", "unit": "u1", "event": "booking", "ts": "{ts}"}}"#)
        };
        let stored = [
            event("newest", "2026-11-26T12:00:00Z"),
            event("edge-in", "2026-11-25T12:00:00Z"),
            event("edge-out", "2026-11-25T11:59:59.999999Z"),
            event("old", "2026-08-18T12:00:00Z"),
        ];
        let store = Store::open(&path)?;
        assert_eq!(store.ingest(batch(&stored.join("\n"))?)?.accepted, 4);
        drop(store);

        let store = Store::open(&path)?;
        store.set_id_horizon(Some(chrono::Duration::days(1)));
        store.load_event_ids()?;
        {
            let intake = store.intake();
            assert_eq!(
                intake.ids.as_ref().map(IdSet::len),
                Some(2),
                "newest and edge-in only"
            );
            assert_eq!(
                Some(intake.floor),
                chrono::DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
                    .ok()
                    .map(|t| t.timestamp_micros())
            );
        }
        let mut again = stored.to_vec();
        again.push(event("older-new", "2026-05-01T00:00:00Z"));
        again.push(event("older-new", "2026-05-01T00:00:00Z"));
        let outcome = store.ingest(batch(&again.join("\n"))?)?;
        assert_eq!((outcome.accepted, outcome.duplicates), (1, 5), "{outcome:?}");
        // Accepted since the set was built: known whatever its time.
        let outcome = store.ingest(batch(&event("older-new", "2026-05-01T00:00:00Z"))?)?;
        assert_eq!((outcome.accepted, outcome.duplicates), (0, 1));
        drop(store);

        // An import dedupes against every stored id.
        let store = Store::open(&path)?;
        let file = dir.join("again.ndjson");
        std::fs::write(&file, again.join("\n"))?;
        let imported = store.import_file(&file, &mut |_| {})?;
        assert_eq!((imported.accepted, imported.duplicates), (0, 6), "{imported:?}");
        assert_eq!(store.intake().floor, i64::MIN);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn keys_from_before_key_state_keep_working_after_migration() -> StoreResult<()> {
        let dir = std::env::temp_dir().join(format!("rctgate-store-keys-v3-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("v3.duckdb");
        let _ = std::fs::remove_file(&path);
        // A key as a version 3 binary wrote it: one scope, no name, expiry or revocation.
        let old = Store::open_at_version(&path, 3)?;
        let key = "rctg_0123456789ab_secret";
        let hash = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(key.as_bytes()))
        };
        old.writer().conn.execute(
            "INSERT INTO api_keys VALUES ('0123456789ab', ?, 'read', ?, 'local')",
            duckdb::params![hash, Micros::now()],
        )?;
        drop(old);

        let store = Store::open(&path)?;
        let who = store
            .authenticate(key)
            .map_err(|err| StoreError::Corrupt(err.to_string()))?;
        assert_eq!(who.scopes.to_list(), "read");
        let listed = store.list_keys()?;
        assert_eq!((listed.len(), listed[0].status), (1, "active"));
        assert!(listed[0].last_used_at.is_some(), "the use just made is listed");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
