//! Event ingestion: all-or-nothing, idempotent on `id`, acknowledged only once durable.
//!
//! A batch goes through three steps:
//! 1. [`Store::prepare`]: validation of every event (domain rules, experiment and variant
//!    lookups), building its data chunks (see `rows`) and its ingest log record, without any
//!    lock: one invalid event rejects the batch and nothing is written. Parts of one batch
//!    may be prepared on several threads (the server does, for large bodies) and accepted
//!    together;
//! 2. [`Store::insert_prepared`], under the intake lock: deduplication against the in-memory
//!    id set (see `ids`) and within the batch (the first event with an id is kept, later
//!    ones count as duplicates), then one frame in the ingest log, synced (`ingest_log`). If
//!    that fails the batch's ids leave the set again, so a retry is neither lost nor
//!    double-counted. Then the batch is acknowledged;
//! 3. the background writer inserts it, with every other batch waiting, in one transaction
//!    (`backlog`); reads wait for it. Duplicates are not written again, but the log records
//!    are built before deduplication and hold them: reading a log back (`replay`) dedupes
//!    again, against what is stored, in log order, which gives the same answer.
//!
//! A store in memory has no log: its batches are acknowledged once queued.

use crate::error::{StoreError, StoreResult};
use crate::events::ids::{Fingerprint, IdSet, IngestOutcome};
use crate::events::intake::Intake;
use crate::events::rows::{EventRows, TableChunks};
use crate::events::tables::stored_among;
use crate::store::Store;
use rctgate_domain::{EventBatch, ReceivedEvent};

/// Events validated and packed for inserting ([`Store::prepare`]); nothing is stored yet.
pub struct PreparedEvents {
    rows: EventRows,
    /// The rows as an ingest log record; empty for a store without a log.
    record: Vec<u8>,
}

impl PreparedEvents {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Store {
    /// Validates and accepts a batch; returns once it is durable (see [`Store::insert_prepared`]).
    ///
    /// An invalid event fails the whole batch with [`StoreError::Invalid`], whose field names
    /// the event's position (`line 17: ts`); nothing of the batch is stored.
    pub fn ingest<R: ReceivedEvent>(&self, batch: EventBatch<R>) -> StoreResult<IngestOutcome> {
        let prepared = self.prepare(&batch)?;
        drop(batch);
        self.insert_prepared(vec![prepared])
    }

    /// Validates a batch (or a part of one), builds its data chunks and its log record,
    /// taking no lock. Errors as for [`Store::ingest`].
    pub fn prepare<R: ReceivedEvent>(&self, batch: &EventBatch<R>) -> StoreResult<PreparedEvents> {
        let catalog = self.experiment_catalog()?;
        let mut rows = EventRows::with_capacity(batch.len());
        for (index, record) in batch.records.iter().enumerate() {
            let checked = record
                .check(&*catalog)
                .map_err(|err| StoreError::Invalid(err.at(&batch.position(index))))?;
            let fingerprint = self.fingerprinter.fingerprint(record.fields().id);
            rows.push_received(fingerprint, record, &checked)?;
        }
        rows.seal();
        let mut record = Vec::new();
        if self.logs_events() {
            rows.write_record(&mut record)?;
        }
        Ok(PreparedEvents { rows, record })
    }

    /// Accepts prepared parts, in order, as one batch: deduplicated, and durable on return
    /// (synced in the ingest log); the background writer inserts them into the tables, and
    /// reads wait for it. Waits first while the backlog is full (`backlog`).
    pub fn insert_prepared(&self, parts: Vec<PreparedEvents>) -> StoreResult<IngestOutcome> {
        let events: usize = parts.iter().map(PreparedEvents::len).sum();
        if events == 0 {
            return Ok(IngestOutcome::default());
        }
        self.backlog().wait_for_room(events)?;
        let fingerprints: Vec<Fingerprint> = parts.iter().flat_map(|part| part.rows.fingerprints()).collect();
        let mut intake = self.intake_with_ids()?;
        self.backlog().usable()?;
        let Intake { ids, floor, log, .. } = &mut *intake;
        let ids = ids.get_or_insert_with(IdSet::default);
        // Events older than the set's floor may repeat ids stored before the set was built:
        // those ids are looked up and added, so the admission below counts them as duplicates.
        // (Ids accepted since are in the set whatever their time.)
        let old: Vec<(&str, i64)> = parts
            .iter()
            .flat_map(|part| part.rows.older_than(*floor))
            .collect();
        if !old.is_empty() {
            let conn = self.database.connection()?;
            let stored = stored_among(&conn, &old)?;
            ids.extend(stored.iter().map(|id| self.fingerprinter.fingerprint(id)));
        }
        let admission = ids.admit(fingerprints.into_iter())?;
        let outcome = admission.outcome();
        if outcome.accepted == 0 {
            return Ok(outcome);
        }
        if let Some(log) = log {
            let records: Vec<&[u8]> = parts.iter().map(|part| part.record.as_slice()).collect();
            if let Err(err) = log.append(&records) {
                // The log cut the failed frame off again (or refuses every later one when it
                // could not): the batch is not acknowledged, and a retry of it is welcome.
                ids.remove_all(&admission.added);
                return Err(err);
            }
        }
        let mut chunks = TableChunks::default();
        let mut kept = admission.keep.as_slice();
        for part in parts {
            let (mine, rest) = kept.split_at(part.len().min(kept.len()));
            chunks.extend(part.rows.into_chunks(mine));
            kept = rest;
        }
        self.backlog().push(chunks, outcome.accepted as usize);
        drop(intake);
        // Reads wait for the backlog, so the scorecard cache must see the change now.
        self.touch();
        Ok(outcome)
    }

    /// Acknowledged events that the background writer has not inserted yet (they are in the
    /// ingest log); for monitoring.
    pub fn events_pending(&self) -> usize {
        self.backlog().pending_events()
    }

    /// Returns once every batch acknowledged so far is in the tables; an error if the
    /// background writer failed (see `backlog`). Reads do this themselves
    /// ([`Store::read_connection`]); an import does it before it starts.
    pub fn flush_events(&self) -> StoreResult<()> {
        self.backlog().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ingest_log::IngestLog;
    use crate::LOCAL_ACTOR;
    use rctgate_domain::{from_json_str, parse_event_batch, EventRecordRef};

    fn parsed(lines: &[&str]) -> EventBatch<EventRecordRef<'static>> {
        let body: &'static str = Box::leak(lines.join("\n").into_boxed_str());
        parse_event_batch(body.as_bytes(), 100).expect("batch parses")
    }

    fn log_files(dir: &std::path::Path) -> Vec<(String, u64)> {
        let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
            .expect("dir")
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| {
                let name = entry.file_name().to_str()?.to_owned();
                let len = entry.metadata().ok()?.len();
                name.contains("ingest-log").then_some((name, len))
            })
            .collect();
        files.sort();
        files
    }

    /// A process acknowledged two batches (their frames are in its log) and was killed before
    /// its writer inserted them, in the middle of writing a third. The next open inserts the
    /// two, every field intact, drops what was already stored, ignores the torn frame (never
    /// acknowledged) and deletes the segment.
    #[test]
    fn a_log_left_behind_is_inserted_on_open() -> StoreResult<()> {
        let dir = std::env::temp_dir().join(format!("rctgate-replay-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("events.duckdb");
        let store = Store::open(&path)?;
        for name in ["bookings", "revenue"] {
            let metric = from_json_str(&format!(
                r#"{{"name": "{name}", "kind": "mean", "event": "{name}", "direction": "increase"}}"#
            ))?;
            store.upsert_metric(&metric, LOCAL_ACTOR)?;
        }
        let experiment = from_json_str(
            r#"{"key": "ranker", "hypothesis": "It helps.",
                "variants": [{"name": "control", "weight": 0.5}, {"name": "treatment", "weight": 0.5}],
                "metrics": {"primary": "bookings"}}"#,
        )?;
        store.create_experiment(experiment, LOCAL_ACTOR)?;
        let m1 = r#"{"type": "metric", "id": "m1", "unit": "u1", "event": "bookings", "ts": "2026-11-26T13:00:00Z"}"#;
        store.ingest(parsed(&[m1]))?;
        let first = store.prepare(&parsed(&[
            m1,
            r#"{"type": "metric", "id": "m2", "unit": "u2", "event": "revenue", "value": 12.5, "ts": "2026-11-26T13:00:00.123456+01:00", "attributes": {"b": 2, "a": "x\"y"}}"#,
            r#"{"type": "exposure", "id": "x1", "unit": "u2", "experiment": "ranker", "variant": "treatment", "ts": "2026-11-26T12:00:00Z", "triggered": false, "model_output": 0.25, "shadow_output": 0.75, "latency_ms": 3.5}"#,
        ]))?;
        let second = store.prepare(&parsed(&[
            r#"{"type": "exposure", "id": "x2", "unit": "u3-ééé-long-unit-name", "experiment": "ranker", "variant": "control", "ts": "2026-11-26T12:00:00Z", "triggered": true}"#,
            r#"{"type": "exposure", "id": "x1", "unit": "u9", "experiment": "ranker", "variant": "control", "ts": "2026-11-26T12:00:00Z"}"#,
        ]))?;
        let torn = store.prepare(&parsed(&[m1.replace("m1", "m9").as_str()]))?;
        drop(store);
        let (mut log, _) = IngestLog::open(&path)?;
        log.append(&[&first.record])?;
        log.append(&[&second.record])?;
        log.append(&[&torn.record])?;
        let segment = log.close();
        let bytes = std::fs::read(&segment.path)?;
        std::fs::write(&segment.path, &bytes[..bytes.len() - 5])?;
        assert_eq!(log_files(&dir).len(), 1, "the crashed process's segment");

        let store = Store::open(&path)?;
        assert_eq!(store.event_count().expect("count"), 4, "m1, m2, x1, x2");
        let files = log_files(&dir);
        assert_eq!(files.len(), 1, "only the new store's own segment: {files:?}");
        assert_eq!(files[0].1, 0);
        let reader = store.read_connection()?;
        // The shadow output came back from its log record (kind 3); x2 had none (kind 1).
        let shadows: Vec<Option<f64>> = reader
            .prepare("SELECT shadow_output FROM exposures ORDER BY id")?
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        assert_eq!(shadows, vec![Some(0.75), None]);
        type Metric = (String, String, Option<f64>, i64, Option<String>);
        let metrics: Vec<Metric> = reader
            .prepare("SELECT id, event, value, epoch_us(ts), attributes FROM metric_events ORDER BY id")?
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
            })?
            .collect::<Result<_, _>>()?;
        assert_eq!(metrics.len(), 2);
        assert_eq!(metrics[1].0, "m2");
        assert_eq!(metrics[1].1, "revenue");
        assert_eq!(metrics[1].2, Some(12.5));
        assert_eq!(metrics[1].3, 1_795_694_400_123_456);
        assert_eq!(metrics[1].4.as_deref(), Some(r#"{"a":"x\"y","b":2}"#));
        type Exposure = (String, String, String, Option<bool>, Option<f64>, Option<f64>);
        let exposures: Vec<Exposure> = reader
            .prepare(
                "SELECT id, unit, variant, triggered, model_output, latency_ms FROM exposures ORDER BY id",
            )?
            .query_map([], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        let owned =
            |id: &str, unit: &str, variant: &str| (id.to_owned(), unit.to_owned(), variant.to_owned());
        let (x1, x2) = (
            owned("x1", "u2", "treatment"),
            owned("x2", "u3-ééé-long-unit-name", "control"),
        );
        assert_eq!(
            exposures,
            vec![
                (x1.0, x1.1, x1.2, Some(false), Some(0.25), Some(3.5)),
                (x2.0, x2.1, x2.2, Some(true), None, None),
            ]
        );
        drop(reader);
        drop(store);
        assert!(
            log_files(&dir).is_empty(),
            "a store closed normally leaves no log"
        );
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    /// A process that left without closing its store leaves its segment empty: the next open
    /// deletes it and has nothing to replay, so it reads no stored id.
    #[test]
    fn an_empty_segment_left_behind_is_deleted_without_reading_the_ids() -> StoreResult<()> {
        let dir = std::env::temp_dir().join(format!("rctgate-empty-segment-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("events.duckdb");
        let store = Store::open(&path)?;
        let m1 = r#"{"type": "metric", "id": "m1", "unit": "u1", "event": "bookings", "ts": "2026-11-26T13:00:00Z"}"#;
        store.ingest(parsed(&[m1]))?;
        drop(store);
        let (log, _) = IngestLog::open(&path)?;
        drop(log.close());
        assert_eq!(log_files(&dir).len(), 1, "the empty segment");

        let store = Store::open(&path)?;
        assert!(store.intake().ids.is_none(), "no id was read for it");
        assert_eq!(log_files(&dir).len(), 1, "only the new store's own segment");
        assert_eq!(store.ingest(parsed(&[m1]))?.duplicates, 1);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
