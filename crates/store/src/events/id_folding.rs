//! A database file's id set against its tables: opened from the index file and caught up
//! with the rows written since, rebuilt when the index is missing or not this database's,
//! and folded into a new index by the background writer.
//!
//! Invariant: an index holds the ids of exactly the rows up to its watermark (from its
//! floor's day on), and only rows already committed. The index is written only from rows
//! read back from the tables, never from acknowledged batches still in the backlog or the
//! ingest log: replaying the log at open dedupes against what is stored, and an index ahead
//! of the tables would make it drop acknowledged events.

use crate::error::StoreResult;
use crate::events::id_index::{day_of, sort_unique, Entry, IdIndex, IndexBuilder, IndexHeader, Watermark};
use crate::events::ids::{FingerprintSet, Fingerprinter, IdHome, IdSet, FOLD_AT};
use crate::events::intake::Intake;
use crate::events::tables::{horizon_floor, last_rowid_sql, MIN_TIMESTAMP_MICROS};
use rctgate_duckdb_native::{ColumnType, NativeConnection, NativeDatabase, Value};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// The id set of the database, from its index when that is this database's, caught up with
/// the rows after the index's watermark; otherwise from a new index built from the tables.
/// Returns the set and its floor (see `Intake::floor`): the later of the index's and the
/// horizon's. Called with nothing in the backlog.
///
/// When more than [`FOLD_AT`] rows came after the index (an import, or a file written by an
/// older rctgate), it is rebuilt instead: memory stays bounded, at the cost of one build.
pub(crate) fn open_ids(conn: &mut NativeConnection, home: &IdHome) -> StoreResult<(IdSet, i64)> {
    let floor = horizon_floor(conn, home.horizon)?;
    let now = watermark(conn, &home.fingerprinter)?;
    match IdIndex::open(&home.path) {
        Ok(Some(index)) if rows_since(&index, &now) > FOLD_AT as i64 => tracing::info!(
            rows = rows_since(&index, &now),
            "many rows came after the id index was written; rebuilding it from the tables"
        ),
        Ok(Some(index)) if belongs(conn, home, &index)? => {
            let header = *index.header();
            let floor = floor.max(header.floor);
            let mut recent = FingerprintSet::default();
            rows_after(
                conn,
                &home.fingerprinter,
                &header.watermark,
                None,
                floor,
                |fingerprint, _| {
                    recent.insert(fingerprint);
                },
            )?;
            return Ok((IdSet::with_index(index, recent), floor));
        }
        Ok(Some(_)) => tracing::warn!(
            index = %home.path.display(),
            "the id index belongs to another state of the database; rebuilding it from the tables"
        ),
        Ok(None) => {}
        Err(reason) => tracing::warn!("{reason}; rebuilding it from the tables"),
    }
    let header = IndexHeader {
        keys: home.fingerprinter.keys(),
        watermark: now,
        floor,
    };
    let mut builder = IndexBuilder::new(header, &home.path);
    let mut pushed = Ok(());
    let none = Watermark {
        exposures: -1,
        metric_events: -1,
        ..Watermark::default()
    };
    rows_after(
        conn,
        &home.fingerprinter,
        &none,
        Some(&header.watermark),
        floor,
        |fingerprint, ts| {
            if pushed.is_ok() {
                pushed = builder.push(Entry {
                    fingerprint,
                    day: day_of(ts),
                });
            }
        },
    )?;
    pushed?;
    Ok((
        IdSet::with_index(builder.finish()?, FingerprintSet::default()),
        floor,
    ))
}

/// Rows of the tables after `index`'s watermark, given their last rows `now` (the tables are
/// append-only).
fn rows_since(index: &IdIndex, now: &Watermark) -> i64 {
    let mark = &index.header().watermark;
    (now.exposures - mark.exposures).max(0) + (now.metric_events - mark.metric_events).max(0)
}

/// Whether `index` was written from this database's rows with this store's keys: the rows
/// at its watermark exist and hold the ids it recorded. A copy of the database restored
/// from before the index, or another database's index, fails this.
fn belongs(conn: &mut NativeConnection, home: &IdHome, index: &IdIndex) -> StoreResult<bool> {
    let header = index.header();
    if header.keys != home.fingerprinter.keys() {
        return Ok(false);
    }
    let marks = [
        (
            "exposures",
            header.watermark.exposures,
            header.watermark.exposure_id,
        ),
        (
            "metric_events",
            header.watermark.metric_events,
            header.watermark.metric_event_id,
        ),
    ];
    for (table, rowid, id) in marks {
        if rowid >= 0 && id_at(conn, &home.fingerprinter, table, rowid)? != Some(id) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The fingerprint of the id in `table`'s row `rowid`.
fn id_at(
    conn: &mut NativeConnection,
    fingerprinter: &Fingerprinter,
    table: &str,
    rowid: i64,
) -> StoreResult<Option<u128>> {
    let mut stream = conn.stream(&format!("SELECT id FROM {table} WHERE rowid = {rowid}"))?;
    while let Some(chunk) = stream.next_chunk()? {
        if !chunk.is_empty() {
            if let Value::Varchar(id) = chunk.column(0, ColumnType::Varchar)?.value(0) {
                return Ok(Some(fingerprinter.fingerprint(id)));
            }
        }
    }
    Ok(None)
}

/// The last row of each table and its id.
fn watermark(conn: &mut NativeConnection, fingerprinter: &Fingerprinter) -> StoreResult<Watermark> {
    let mut last = |table: &str| -> StoreResult<(i64, u128)> {
        let rowid = conn.query_bigint(&last_rowid_sql(table))?.unwrap_or(-1);
        let id = match rowid {
            -1 => 0,
            _ => id_at(conn, fingerprinter, table, rowid)?.unwrap_or(0),
        };
        Ok((rowid, id))
    };
    let (exposures, exposure_id) = last("exposures")?;
    let (metric_events, metric_event_id) = last("metric_events")?;
    Ok(Watermark {
        exposures,
        metric_events,
        exposure_id,
        metric_event_id,
    })
}

/// Calls `each` with the fingerprint and time (microseconds) of every row after `after`'s
/// rowids, up to `through`'s if given, whose event is at or after `floor`, streaming.
fn rows_after(
    conn: &mut NativeConnection,
    fingerprinter: &Fingerprinter,
    after: &Watermark,
    through: Option<&Watermark>,
    floor: i64,
    mut each: impl FnMut(u128, i64),
) -> StoreResult<()> {
    let within = |table: &str, after: i64, through: Option<i64>| {
        let upper = through.map_or(String::new(), |through| format!(" AND rowid <= {through}"));
        // A time constant, so DuckDB skips row groups whose `ts` lies before it.
        let since = if floor > MIN_TIMESTAMP_MICROS {
            format!(" AND ts >= make_timestamp({floor}::BIGINT)")
        } else {
            String::new()
        };
        format!("SELECT id, epoch_us(ts) FROM {table} WHERE rowid > {after}{upper}{since}")
    };
    let sql = format!(
        "{} UNION ALL {}",
        within("exposures", after.exposures, through.map(|mark| mark.exposures)),
        within(
            "metric_events",
            after.metric_events,
            through.map(|mark| mark.metric_events)
        ),
    );
    let mut stream = conn.stream(&sql)?;
    while let Some(chunk) = stream.next_chunk()? {
        let ids = chunk.column(0, ColumnType::Varchar)?;
        let times = chunk.column(1, ColumnType::BigInt)?;
        for row in 0..chunk.len() {
            if let (Value::Varchar(id), Value::BigInt(ts)) = (ids.value(row), times.value(row)) {
                each(fingerprinter.fingerprint(id), ts);
            }
        }
    }
    Ok(())
}

/// What a fold works from, taken under the intake lock.
struct FoldInput {
    home: IdHome,
    old: Arc<IdIndex>,
    folding: Arc<FingerprintSet>,
    through: Watermark,
    floor: i64,
    conn: NativeConnection,
}

/// Starts a fold when the set holds `threshold` ids in memory
/// ([`crate::events::ids::FOLD_AT`]), nothing is waiting in the backlog (so every accepted
/// id is in the tables) and no fold is running: the ids move from `recent` to `folding`,
/// and a thread writes the index of the rows up to now and swaps it in. Called by the background writer after each round; the returned thread is
/// joined before the writer stops.
pub(crate) fn start_fold(
    intake: &Arc<Mutex<Intake>>,
    drained: impl Fn() -> bool,
    database: &Arc<NativeDatabase>,
    threshold: usize,
) -> StoreResult<Option<JoinHandle<()>>> {
    let Some(input) = take_fold_input(intake, drained, database, threshold)? else {
        return Ok(None);
    };
    let intake = Arc::clone(intake);
    let thread = std::thread::Builder::new()
        .name("rctgate-id-fold".into())
        .spawn(move || {
            let folding = Arc::clone(&input.folding);
            if let Err(err) = finish_fold(&intake, &folding, fold(input)) {
                tracing::warn!("could not write the id index ({err}); its ids stay in memory");
            }
        })?;
    Ok(Some(thread))
}

/// Folds now, on this thread, whatever the set holds in memory (`Store::fold_event_ids`).
pub(crate) fn fold_now(
    intake: &Arc<Mutex<Intake>>,
    drained: impl Fn() -> bool,
    database: &Arc<NativeDatabase>,
) -> StoreResult<bool> {
    let Some(input) = take_fold_input(intake, drained, database, 0)? else {
        return Ok(false);
    };
    let folding = Arc::clone(&input.folding);
    finish_fold(intake, &folding, fold(input))?;
    Ok(true)
}

/// `drained` says whether every acknowledged batch is in the tables (`Backlog::is_drained`),
/// asked under the intake lock, where no batch can be acknowledged.
fn take_fold_input(
    intake: &Mutex<Intake>,
    drained: impl Fn() -> bool,
    database: &Arc<NativeDatabase>,
    threshold: usize,
) -> StoreResult<Option<FoldInput>> {
    let mut intake = intake.lock().unwrap_or_else(PoisonError::into_inner);
    let Intake { ids, home, .. } = &mut *intake;
    let (Some(ids), Some(home)) = (ids.as_mut(), home.as_ref()) else {
        return Ok(None);
    };
    let Some(old) = ids.index.clone() else {
        return Ok(None);
    };
    if ids.folding.is_some() || ids.recent.len() < threshold.max(1) || !drained() {
        return Ok(None);
    }
    // A reader sees every committed row, and with the backlog drained and the intake held,
    // every accepted row is committed and no other can be.
    let mut conn = database.query_connection()?;
    let (through, floor) = (
        watermark(&mut conn, &home.fingerprinter)?,
        horizon_floor(&mut conn, home.horizon)?,
    );
    let folding = Arc::new(std::mem::take(&mut ids.recent));
    ids.folding = Some(Arc::clone(&folding));
    Ok(Some(FoldInput {
        home: home.clone(),
        floor: floor.max(old.header().floor),
        old,
        folding,
        through,
        conn,
    }))
}

/// Writes the index of the old one's rows and the rows up to `through`.
fn fold(mut input: FoldInput) -> StoreResult<IdIndex> {
    let header = IndexHeader {
        keys: input.home.fingerprinter.keys(),
        watermark: input.through,
        floor: input.floor,
    };
    let mut added = Vec::with_capacity(input.folding.len());
    let old = *input.old.header();
    rows_after(
        &mut input.conn,
        &input.home.fingerprinter,
        &old.watermark,
        Some(&input.through),
        i64::MIN,
        |fingerprint, ts| {
            added.push(Entry {
                fingerprint,
                day: day_of(ts),
            })
        },
    )?;
    sort_unique(&mut added);
    Ok(IdIndex::merged(
        Some(input.old.as_ref()),
        &added,
        header,
        &input.home.path,
    )?)
}

/// Swaps a written index in, or puts the ids back into memory when writing failed and
/// returns why; nothing when the set was dropped and rebuilt meanwhile (the file written is
/// still valid).
fn finish_fold(
    intake: &Mutex<Intake>,
    folding: &Arc<FingerprintSet>,
    written: StoreResult<IdIndex>,
) -> StoreResult<()> {
    let mut intake = intake.lock().unwrap_or_else(PoisonError::into_inner);
    let Intake { ids, floor, .. } = &mut *intake;
    let Some(ids) = ids.as_mut() else {
        return written.map(drop);
    };
    if !ids
        .folding
        .as_ref()
        .is_some_and(|mine| Arc::ptr_eq(mine, folding))
    {
        return written.map(drop);
    }
    ids.folding = None;
    match written {
        Ok(index) => {
            *floor = (*floor).max(index.header().floor);
            ids.index = Some(Arc::new(index));
            Ok(())
        }
        Err(err) => {
            ids.recent.extend(folding.iter().copied());
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use rctgate_domain::{parse_event_batch, EventBatch, EventRecordRef};
    use std::path::PathBuf;

    /// A scratch directory, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("rctgate-id-folding-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("scratch dir");
            Scratch(dir)
        }

        fn db(&self) -> PathBuf {
            self.0.join("events.duckdb")
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn lines(ids: impl IntoIterator<Item = String>, ts: &str) -> String {
        ids.into_iter()
            .map(|id| {
                format!(
                    r#"{{"type": "metric", "id": "{id}", "unit": "u1", "event": "booking", "ts": "{ts}"}}"#
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn batch(text: &str) -> EventBatch<EventRecordRef<'_>> {
        parse_event_batch(text.as_bytes(), 100_000).expect("batch parses")
    }

    fn ids(prefix: &str, count: usize) -> Vec<String> {
        (0..count).map(|n| format!("{prefix}-{n}")).collect()
    }

    /// (accepted, duplicates) of ingesting `text`.
    fn ingest(store: &Store, text: &str) -> (u64, u64) {
        let outcome = store.ingest(batch(text)).expect("ingest");
        (outcome.accepted, outcome.duplicates)
    }

    /// (ids in the index, ids in memory) of the open set.
    fn where_ids_are(store: &Store) -> (u64, usize) {
        let intake = store.intake();
        let ids = intake.ids.as_ref().expect("the set is open");
        (
            ids.index.as_ref().map_or(0, |index| index.len()),
            ids.recent.len(),
        )
    }

    const TS: &str = "2026-11-26T12:00:00Z";

    #[test]
    fn a_restart_reads_the_index_and_catches_up_with_the_rows_since() {
        let scratch = Scratch::new("restart");
        let store = Store::open(scratch.db()).expect("open");
        assert_eq!(ingest(&store, &lines(ids("a", 500), TS)), (500, 0));
        assert!(store.fold_event_ids().expect("fold"));
        assert_eq!(where_ids_are(&store), (500, 0));
        assert!(IdHome::path_for(&scratch.db()).exists());
        assert_eq!(ingest(&store, &lines(ids("b", 30), TS)), (30, 0));
        drop(store);

        let store = Store::open(scratch.db()).expect("reopen");
        store.load_event_ids().expect("open the set");
        assert_eq!(
            where_ids_are(&store),
            (500, 30),
            "the index, and the rows written after it"
        );
        let mut every = ids("a", 500);
        every.extend(ids("b", 30));
        assert_eq!(ingest(&store, &lines(every.clone(), TS)), (0, 530));
        assert_eq!(ingest(&store, &lines(ids("c", 5), TS)), (5, 0));
        assert!(store.fold_event_ids().expect("fold"));
        assert_eq!(where_ids_are(&store), (535, 0));
        every.extend(ids("c", 5));
        assert_eq!(ingest(&store, &lines(every, TS)), (0, 535));
    }

    #[test]
    fn an_index_that_is_damaged_foreign_or_newer_than_the_database_is_rebuilt() {
        let scratch = Scratch::new("rebuilt");
        let other = Scratch::new("rebuilt-other");
        let index = IdHome::path_for(&scratch.db());
        let store = Store::open(scratch.db()).expect("open");
        ingest(&store, &lines(ids("mine", 300), TS));
        store.fold_event_ids().expect("fold");
        drop(store);
        let backup = scratch.0.join("backup.duckdb");
        std::fs::copy(scratch.db(), &backup).expect("backup");

        // Damaged: a flipped bit in the filter.
        let mut bytes = std::fs::read(&index).expect("read");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&index, &bytes).expect("write");
        let store = Store::open(scratch.db()).expect("open");
        assert_eq!(ingest(&store, &lines(ids("mine", 300), TS)), (0, 300));
        drop(store);

        // Another database's index, with rows at the same rowids.
        let theirs = Store::open(other.db()).expect("open");
        ingest(&theirs, &lines(ids("theirs", 300), TS));
        theirs.fold_event_ids().expect("fold");
        drop(theirs);
        std::fs::copy(IdHome::path_for(&other.db()), &index).expect("copy their index");
        let store = Store::open(scratch.db()).expect("open");
        assert_eq!(ingest(&store, &lines(ids("mine", 300), TS)), (0, 300));
        assert_eq!(
            ingest(&store, &lines(ids("theirs", 300), TS)),
            (300, 0),
            "never stored here"
        );
        store.fold_event_ids().expect("fold");
        drop(store);

        // The database restored from before the last events, beside the newer index.
        std::fs::copy(&backup, scratch.db()).expect("restore");
        let store = Store::open(scratch.db()).expect("open");
        assert_eq!(
            ingest(&store, &lines(ids("theirs", 300), TS)),
            (300, 0),
            "the restored file does not hold them"
        );
        assert_eq!(ingest(&store, &lines(ids("mine", 300), TS)), (0, 300));
    }

    #[test]
    fn folds_on_their_own_thread_lose_nothing_and_count_nothing_twice() {
        let scratch = Scratch::new("threads");
        let store = Store::open(scratch.db()).expect("open");
        let mut folds = Vec::new();
        for round in 0..20 {
            let fresh = ids(&format!("r{round}"), 200);
            assert_eq!(ingest(&store, &lines(fresh.clone(), TS)), (200, 0));
            // Everything so far again, while the fold of earlier rounds may still run.
            let mut again = fresh;
            if round > 0 {
                again.extend(ids(&format!("r{}", round - 1), 200));
            }
            let expected = again.len() as u64;
            assert_eq!(ingest(&store, &lines(again, TS)), (0, expected));
            store.flush_events().expect("flush");
            let started = store.start_fold_with(1);
            folds.extend(started.expect("start"));
        }
        assert!(!folds.is_empty());
        for fold in folds {
            fold.join().expect("fold thread");
        }
        drop(store);
        let store = Store::open(scratch.db()).expect("reopen");
        let every: Vec<String> = (0..20).flat_map(|round| ids(&format!("r{round}"), 200)).collect();
        assert_eq!(ingest(&store, &lines(every, TS)), (0, 4000));
        assert_eq!(store.event_count().expect("count"), 4000);
    }

    #[test]
    fn a_fold_leaves_out_days_before_the_horizon_and_old_repeats_are_still_looked_up() {
        let scratch = Scratch::new("horizon");
        let store = Store::open(scratch.db()).expect("open");
        store.set_id_horizon(Some(chrono::Duration::days(2)));
        assert_eq!(
            ingest(&store, &lines(ids("old", 50), "2026-10-01T00:00:00Z")),
            (50, 0)
        );
        assert_eq!(ingest(&store, &lines(ids("new", 50), TS)), (50, 0));
        store.fold_event_ids().expect("fold");
        assert_eq!(where_ids_are(&store), (50, 0), "the old day left the index");
        let floor = store.intake().floor;
        assert!(floor > 0, "the floor rose with the fold");
        assert_eq!(
            ingest(&store, &lines(ids("old", 50), "2026-10-01T00:00:00Z")),
            (0, 50)
        );
        drop(store);
        let store = Store::open(scratch.db()).expect("reopen");
        store.set_id_horizon(Some(chrono::Duration::days(2)));
        assert_eq!(
            ingest(&store, &lines(ids("old", 50), "2026-10-01T00:00:00Z")),
            (0, 50)
        );
        assert_eq!(ingest(&store, &lines(ids("new", 50), TS)), (0, 50));
    }

    #[test]
    fn files_a_crash_left_while_writing_an_index_are_ignored() {
        let scratch = Scratch::new("leftovers");
        let store = Store::open(scratch.db()).expect("open");
        ingest(&store, &lines(ids("a", 100), TS));
        store.fold_event_ids().expect("fold");
        drop(store);
        let index = IdHome::path_for(&scratch.db());
        let mut tmp = index.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, b"half an index").expect("write");
        let mut part = index.as_os_str().to_owned();
        part.push(".part00");
        std::fs::write(&part, [0u8; 40]).expect("write");
        let store = Store::open(scratch.db()).expect("reopen");
        assert_eq!(ingest(&store, &lines(ids("a", 100), TS)), (0, 100));
        assert_eq!(ingest(&store, &lines(ids("b", 10), TS)), (10, 0));
        store.fold_event_ids().expect("a fold writes over the leftover");
    }
}
