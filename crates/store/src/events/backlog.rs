//! Acknowledged events on their way into the tables, and the background writer that takes
//! them there.
//!
//! An event batch is acknowledged once its frame is synced in the ingest log (`ingest_log`);
//! its data chunks then wait here until the background writer inserts everything waiting in
//! one transaction. Large transactions are what DuckDB is fast at (an import's run at ~1M
//! events/s against ~0.4M/s for a 5,000-event transaction per request), and while one runs,
//! requests keep being parsed, validated and logged on the other core.
//!
//! Invariants:
//! - a batch is pushed here under the intake lock, right after its frame was synced, and the
//!   writer starts a new log segment and takes everything waiting under the same lock: a
//!   segment holds exactly the batches of one transaction, deleted once it committed;
//! - [`Backlog::flush`] returns once every batch acknowledged before the call is in the
//!   tables: reads call it first, so they see what was acknowledged;
//! - the waiting events are bounded ([`MAX_WAITING_EVENTS`]): an acknowledgement waits for
//!   room, so memory stays bounded when clients outpace the writer;
//! - a transaction that fails (a full disk, most often) keeps its log segment, and the
//!   writer tries it again, every few seconds, until it commits: meanwhile ingestion and
//!   reads answer the failure (acknowledging more, or answering without those events, would
//!   promise what is not kept), and once it commits both go on, with no restart. A failure
//!   that a retry cannot mend (DuckDB invalidating the database after a failed checkpoint,
//!   a panic, a store without a log) is final for the process. Either way, what was
//!   acknowledged stays in the log and reaches the tables when the database is next opened.

use crate::error::{StoreError, StoreResult};
use crate::events::id_folding::start_fold;
use crate::events::ids::{Fingerprinter, FOLD_AT};
use crate::events::ingest_log::Segment;
use crate::events::intake::Intake;
use crate::events::rows::TableChunks;
use crate::events::tables::restore_segment;
use crate::writer::Writer;
use rctgate_duckdb_native::NativeDatabase;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How many waiting events make the writer start a transaction without waiting longer:
/// about one DuckDB row group (122,880 rows), the size from which an insert writes
/// compressed row groups straight to the file instead of through DuckDB's own log.
pub(crate) const TRANSACTION_EVENTS: usize = 120_000;

/// How long the first waiting batch waits for others before the writer inserts what there
/// is; a read does not wait for it (see [`Backlog::flush`]).
const GATHER_FOR: Duration = Duration::from_millis(250);

/// Most events that may wait for the writer (not counting the transaction it is running):
/// about 250 bytes each in memory, so this and a transaction running are under 200 MB.
pub(crate) const MAX_WAITING_EVENTS: usize = 4 * TRANSACTION_EVENTS;

/// The queue of acknowledged batches and the counters readers wait on.
#[derive(Default)]
pub(crate) struct Backlog {
    state: Mutex<BacklogState>,
    changed: Condvar,
}

#[derive(Default)]
struct BacklogState {
    waiting: TableChunks,
    waiting_events: usize,
    /// Events in the transaction the writer is running.
    inserting_events: usize,
    /// Batches acknowledged since the store opened.
    acknowledged: u64,
    /// Batches in committed transactions (a prefix of the acknowledged ones).
    stored: u64,
    /// Why the store cannot take events now, while it cannot (see the module doc).
    failure: Option<Failure>,
    /// Set when the store closes: the writer drains the queue and stops.
    closing: bool,
    /// Set by a read waiting for the backlog: the writer should not gather any longer.
    flush_wanted: bool,
    /// When the oldest waiting batch was acknowledged.
    waiting_since: Option<Instant>,
}

/// Why the store cannot take events.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// A transaction failed; the writer is trying it again.
    Retrying(String),
    /// Nothing in this process will store events again.
    Final(String),
}

/// How long the writer waits before trying a failed transaction again: doubled after each
/// failure, up to [`RETRY_AT_MOST`].
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_AT_MOST: Duration = Duration::from_secs(5);

impl Backlog {
    fn state(&self) -> MutexGuard<'_, BacklogState> {
        // Every change to the state is a few assignments that cannot panic half-way.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'s>(&self, state: MutexGuard<'s, BacklogState>) -> MutexGuard<'s, BacklogState> {
        self.changed.wait(state).unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `events` more may wait (at once if the queue is empty, however many),
    /// then reports whether the store can take events at all.
    pub(crate) fn wait_for_room(&self, events: usize) -> StoreResult<()> {
        let mut state = self.state();
        while state.failure.is_none()
            && state.waiting_events > 0
            && state.waiting_events + events > MAX_WAITING_EVENTS
        {
            state = self.wait(state);
        }
        state.usable()
    }

    /// Whether the store can take events; called under the intake lock before logging.
    pub(crate) fn usable(&self) -> StoreResult<()> {
        self.state().usable()
    }

    /// Queues an acknowledged batch's chunks (called under the intake lock).
    pub(crate) fn push(&self, chunks: TableChunks, events: usize) {
        let mut state = self.state();
        state.waiting.extend(chunks);
        state.waiting_events += events;
        state.waiting_since.get_or_insert_with(Instant::now);
        state.acknowledged += 1;
        drop(state);
        self.changed.notify_all();
    }

    /// Records a failure that ends ingestion for this process.
    fn fail(&self, failure: &StoreError) {
        self.set_failure(Some(Failure::Final(reason(failure))));
    }

    /// Records a failed transaction that the writer tries again (see the module doc).
    fn fail_for_now(&self, failure: &StoreError) {
        self.set_failure(Some(Failure::Retrying(reason(failure))));
    }

    /// A failed transaction committed after all: the store takes events again.
    fn recovered(&self) {
        self.set_failure(None);
    }

    fn set_failure(&self, failure: Option<Failure>) {
        let mut state = self.state();
        // A final failure stays.
        if !matches!(state.failure, Some(Failure::Final(_))) {
            state.failure = failure;
        }
        drop(state);
        self.changed.notify_all();
    }

    /// Waits `delay`, or less if the store closes meanwhile; whether it is closing.
    fn closing_within(&self, delay: Duration) -> bool {
        let deadline = Instant::now() + delay;
        let mut state = self.state();
        while !state.closing {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// Returns once every batch acknowledged before the call is in the tables.
    pub(crate) fn flush(&self) -> StoreResult<()> {
        let mut state = self.state();
        let target = state.acknowledged;
        while state.stored < target {
            state.usable()?;
            state.flush_wanted = true;
            self.changed.notify_all();
            state = self.wait(state);
        }
        Ok(())
    }

    /// Acknowledged events not yet in the tables (waiting, or in the running transaction).
    pub(crate) fn pending_events(&self) -> usize {
        let state = self.state();
        state.waiting_events + state.inserting_events
    }

    /// Whether every acknowledged batch is in the tables (a caller holding the intake lock
    /// knows none can be added meanwhile).
    pub(crate) fn is_drained(&self) -> bool {
        let state = self.state();
        state.stored == state.acknowledged
    }

    /// Waits until there are batches to insert and it is time to (enough of them, the
    /// oldest has waited [`GATHER_FOR`], a read or the store's closing wants them); `None`
    /// once closing with nothing left, or after a failure.
    fn wait_for_work(&self) -> Option<()> {
        let mut state = self.state();
        loop {
            if state.failure.is_some() {
                return None;
            }
            let Some(since) = state.waiting_since else {
                if state.closing {
                    return None;
                }
                state = self.wait(state);
                continue;
            };
            let gathered_for = since.elapsed();
            if state.waiting_events >= TRANSACTION_EVENTS
                || state.flush_wanted
                || state.closing
                || gathered_for >= GATHER_FOR
            {
                return Some(());
            }
            state = self
                .changed
                .wait_timeout(state, GATHER_FOR - gathered_for)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Takes every waiting chunk and the count of acknowledged batches they complete.
    fn take(&self) -> (TableChunks, u64) {
        let mut state = self.state();
        state.inserting_events = state.waiting_events;
        state.waiting_events = 0;
        state.waiting_since = None;
        state.flush_wanted = false;
        let chunks = std::mem::take(&mut state.waiting);
        let through = state.acknowledged;
        drop(state);
        // Acknowledgements waiting for room may go on.
        self.changed.notify_all();
        (chunks, through)
    }

    fn stored(&self, through: u64) {
        let mut state = self.state();
        state.stored = through;
        state.inserting_events = 0;
        drop(state);
        self.changed.notify_all();
    }

    fn close(&self) {
        self.state().closing = true;
        self.changed.notify_all();
    }
}

/// A failure's sentence without the "Cannot store events" that [`BacklogState::usable`]
/// puts before it again.
fn reason(failure: &StoreError) -> String {
    match failure {
        StoreError::Append(reason) => reason.clone(),
        other => other.to_string(),
    }
}

/// `text` ending in a full stop.
fn sentence(text: &str) -> String {
    let text = text.trim_end();
    if text.ends_with(['.', '!', '?']) {
        text.to_string()
    } else {
        format!("{text}.")
    }
}

impl BacklogState {
    fn usable(&self) -> StoreResult<()> {
        match &self.failure {
            None => Ok(()),
            Some(Failure::Retrying(failure)) => Err(StoreError::Append(format!(
                "{} Every acknowledged batch is kept in the ingest log next to the \
                 database; rctgate tries storing them again every few seconds and takes events \
                 again once that succeeds (free space on the disk, if it is full).",
                sentence(failure)
            ))),
            Some(Failure::Final(failure)) => Err(StoreError::Append(format!(
                "{} Every acknowledged batch is kept in the ingest log next to the \
                 database and is stored when rctgate opens it again; restart once the cause \
                 is fixed.",
                sentence(failure)
            ))),
        }
    }
}

/// The thread that inserts acknowledged batches; [`BackgroundWriter::close`] drains the
/// queue and stops it.
pub(crate) struct BackgroundWriter {
    backlog: Arc<Backlog>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundWriter {
    pub(crate) fn spawn(
        backlog: Arc<Backlog>,
        intake: Arc<Mutex<Intake>>,
        writer: Arc<Mutex<Writer>>,
        database: Arc<NativeDatabase>,
        fingerprinter: Fingerprinter,
    ) -> StoreResult<BackgroundWriter> {
        let thread = std::thread::Builder::new()
            .name("rctgate-event-writer".into())
            .spawn({
                let backlog = Arc::clone(&backlog);
                move || run(&backlog, &intake, &writer, &database, &fingerprinter)
            })?;
        Ok(BackgroundWriter {
            backlog,
            thread: Some(thread),
        })
    }

    /// Inserts what waits, then stops the thread.
    pub(crate) fn close(&mut self) {
        self.backlog.close();
        if let Some(thread) = self.thread.take() {
            // A panic in the writer leaves its batches in the log, for the next open.
            let _ = thread.join();
        }
    }
}

impl Drop for BackgroundWriter {
    fn drop(&mut self) {
        self.close();
    }
}

fn run(
    backlog: &Backlog,
    intake: &Arc<Mutex<Intake>>,
    writer: &Mutex<Writer>,
    database: &Arc<NativeDatabase>,
    fingerprinter: &Fingerprinter,
) {
    let mut fold: Option<JoinHandle<()>> = None;
    while backlog.wait_for_work().is_some() {
        // A panic must not leave acknowledgements waiting for room forever: it ends
        // ingestion like any other failure.
        let inserted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            insert_waiting(backlog, intake, writer)
        }))
        .unwrap_or_else(|_| {
            Err(Box::new(Unstored::Lost(StoreError::Append(
                "the event writer panicked.".into(),
            ))))
        });
        if let Err(unstored) = inserted {
            if !store_again(backlog, writer, fingerprinter, *unstored) {
                continue;
            }
        }
        if fold.as_ref().is_none_or(JoinHandle::is_finished) {
            if let Some(done) = fold.take() {
                let _ = done.join();
            }
            // A fold that cannot start leaves the ids in memory, where they are as good.
            match start_fold(intake, || backlog.is_drained(), database, FOLD_AT) {
                Ok(started) => fold = started,
                Err(err) => tracing::warn!("could not start writing the id index: {err}"),
            }
        }
    }
    if let Some(running) = fold {
        // Its index is valid whenever it ends; waiting keeps it from outliving the store.
        let _ = running.join();
    }
    // Closing (or failed): with nothing waiting, the current segment is empty.
    let mut intake = intake.lock().unwrap_or_else(PoisonError::into_inner);
    if backlog.usable().is_ok() {
        if let Some(log) = intake.log.take() {
            // Harmless if it fails: an empty segment replays nothing.
            let _ = log.close().delete();
        }
    }
}

/// A round of the writer that did not store what it took.
enum Unstored {
    /// Nothing was taken (a new log segment could not be started): the next round takes it.
    NothingTaken(StoreError),
    /// The batches taken are in `segment`, to store again; they complete the acknowledged
    /// batches up to `through`.
    InSegment {
        error: StoreError,
        segment: Segment,
        through: u64,
    },
    /// The batches were only in memory and are gone with the failure (a store without a
    /// log, a panic).
    Lost(StoreError),
}

/// One round: a new log segment, everything waiting in one transaction, the old segment gone.
fn insert_waiting(
    backlog: &Backlog,
    intake: &Mutex<Intake>,
    writer: &Mutex<Writer>,
) -> Result<(), Box<Unstored>> {
    let (chunks, through, segment): (TableChunks, u64, Option<Segment>) = {
        let mut intake = intake.lock().unwrap_or_else(PoisonError::into_inner);
        let segment = match intake.log.as_mut().map(|log| log.rotate()).transpose() {
            Ok(segment) => segment,
            // Nothing was taken: the next round takes it all.
            Err(error) => return Err(Box::new(Unstored::NothingTaken(error))),
        };
        let (chunks, through) = backlog.take();
        (chunks, through, segment)
    };
    let stored = {
        let mut writer = writer.lock().unwrap_or_else(PoisonError::into_inner);
        let Writer { events, feed, .. } = &mut *writer;
        crate::events::tables::store_chunks(events, feed, chunks)
    };
    if let Err(error) = stored {
        return Err(Box::new(match segment {
            Some(segment) => Unstored::InSegment {
                error,
                segment,
                through,
            },
            None => Unstored::Lost(error),
        }));
    }
    backlog.stored(through);
    if let Some(segment) = segment {
        // A segment left behind is harmless: the next open finds its batches stored and
        // counts them as duplicates.
        let _ = segment.delete();
    }
    Ok(())
}

/// After a failed round: answers the failure to ingestion and reads, and tries storing the
/// round's batches again from their log segment, waiting longer after each failure, until
/// they are stored (then `true`: the store takes events again), the store closes, or the
/// failure is final (both `false`; the segment stays for the next open).
fn store_again(
    backlog: &Backlog,
    writer: &Mutex<Writer>,
    fingerprinter: &Fingerprinter,
    unstored: Unstored,
) -> bool {
    let (mut error, unstored) = match unstored {
        Unstored::Lost(error) => {
            backlog.fail(&error);
            return false;
        }
        Unstored::NothingTaken(error) => (error, None),
        Unstored::InSegment {
            error,
            segment,
            through,
        } => (error, Some((segment, through))),
    };
    let mut delay = RETRY_FIRST;
    loop {
        tracing::error!("storing acknowledged events failed, trying again in {delay:?}: {error}");
        backlog.fail_for_now(&error);
        if backlog.closing_within(delay) {
            return false;
        }
        let mut writer = writer.lock().unwrap_or_else(PoisonError::into_inner);
        let attempt = match &unstored {
            Some((segment, _)) => restore_segment(segment, &mut writer, fingerprinter).map(drop),
            None => Ok(()),
        };
        match attempt {
            Ok(()) => break,
            Err(again) => {
                // DuckDB invalidates a database whose checkpoint failed: every statement fails
                // from then on, and only opening the file again helps.
                if let Err(unusable) = writer.conn.execute_batch("SELECT 1") {
                    backlog.fail(&StoreError::Append(format!(
                        "{again} The database cannot be used until it is opened again ({unusable})."
                    )));
                    return false;
                }
                error = again;
                delay = (delay * 2).min(RETRY_AT_MOST);
            }
        }
    }
    if let Some((segment, through)) = unstored {
        backlog.stored(through);
        let _ = segment.delete();
    }
    tracing::info!("stored the acknowledged events after the failure; taking events again");
    backlog.recovered();
    true
}
