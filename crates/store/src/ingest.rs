//! Event ingestion: all-or-nothing, idempotent on `id`, acknowledged only once durable.
//!
//! A batch goes through three steps:
//! 1. validation of every event (domain rules, experiment and variant lookups), without any
//!    lock: one invalid event rejects the batch and nothing is written;
//! 2. under the writer lock, deduplication against the in-memory id set (see `ids`) and
//!    within the batch: the first event with an id is kept, later ones count as duplicates;
//! 3. one transaction appending the kept events with DuckDB's appender, then commit, which
//!    syncs DuckDB's write-ahead log. Only after the commit succeeds are the new ids added to
//!    the set; if anything fails the transaction rolls back and the set is unchanged, so a
//!    retry of the same batch is neither lost nor double-counted.

use crate::error::{StoreError, StoreResult};
use crate::ids::{Fingerprint, FingerprintSet, Fingerprinter, IdSet};
use crate::store::Store;
use crate::time::Micros;
use duckdb::arrow::array::{Array, StringArray};
use duckdb::arrow::compute::cast;
use duckdb::arrow::datatypes::DataType;
use duckdb::{Appender, Connection};
use rctgate_domain::{
    Event, EventBatch, EventRecord, ExperimentCatalog, Exposure, MetricEvent, ValidationError,
};
use serde::Serialize;

/// The schema version that created the event tables.
pub(crate) const EVENTS_SCHEMA_VERSION: u32 = 2;

/// What happened to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct IngestOutcome {
    /// Events stored now.
    pub accepted: u64,
    /// Events whose id was already stored, or repeated earlier in the batch.
    pub duplicates: u64,
}

impl IngestOutcome {
    pub(crate) fn add(&mut self, other: IngestOutcome) {
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
    }
}

impl Store {
    /// Validates and stores a batch; returns only after the commit is durable.
    ///
    /// An invalid event fails the whole batch with [`StoreError::Invalid`], whose field names
    /// the event's position (`line 17: ts`); nothing of the batch is stored.
    pub fn ingest(&self, batch: EventBatch) -> StoreResult<IngestOutcome> {
        if batch.is_empty() {
            return Ok(IngestOutcome::default());
        }
        let catalog = self.experiment_catalog()?;
        let EventBatch {
            records,
            positions,
            kind,
        } = batch;
        let locator = EventBatch {
            records: Vec::new(),
            positions,
            kind,
        };
        let events = validate_records(records, &catalog)
            .map_err(|(index, err)| StoreError::Invalid(err.at(&locator.position(index))))?;
        self.insert_events(events)
    }

    /// Experiment keys and their variants, as exposures are validated against them.
    pub(crate) fn experiment_catalog(
        &self,
    ) -> StoreResult<std::collections::HashMap<String, Vec<String>>> {
        crate::experiments::variants_by_experiment(&self.writer().conn)
    }

    /// Dedupes and appends validated events in one transaction.
    pub(crate) fn insert_events(&self, events: Vec<Event>) -> StoreResult<IngestOutcome> {
        let total = events.len() as u64;
        let fingerprints: Vec<Fingerprint> = events
            .iter()
            .map(|event| self.fingerprinter.fingerprint(event.id()))
            .collect();
        let mut writer = self.writer();
        let writer = &mut *writer;
        let mut fresh = FingerprintSet::default();
        fresh.reserve(events.len());
        let mut kept = Vec::with_capacity(events.len());
        for (event, fingerprint) in events.into_iter().zip(fingerprints) {
            if !writer.ids.contains(fingerprint) && fresh.insert(fingerprint) {
                kept.push(event);
            }
        }
        let accepted = kept.len() as u64;
        if accepted > 0 {
            let tx = writer.conn.transaction()?;
            append_events(&tx, &kept)?;
            tx.commit()?;
            writer.ids.extend(fresh);
        }
        Ok(IngestOutcome {
            accepted,
            duplicates: total - accepted,
        })
    }
}

/// Runs every validation; on failure returns the index of the first bad record and its error.
pub(crate) fn validate_records(
    records: Vec<EventRecord>,
    catalog: &impl ExperimentCatalog,
) -> Result<Vec<Event>, (usize, ValidationError)> {
    records
        .into_iter()
        .enumerate()
        .map(|(index, record)| record.validate(catalog).map_err(|err| (index, err)))
        .collect()
}

fn append_events(conn: &Connection, events: &[Event]) -> StoreResult<()> {
    let mut exposures = conn.appender("exposures")?;
    let mut metric_events = conn.appender("metric_events")?;
    for event in events {
        match event {
            Event::Exposure(exposure) => append_exposure(&mut exposures, exposure)?,
            Event::Metric(metric) => append_metric(&mut metric_events, metric)?,
        }
    }
    exposures.flush()?;
    metric_events.flush()?;
    Ok(())
}

fn append_exposure(appender: &mut Appender<'_>, exposure: &Exposure) -> StoreResult<()> {
    appender.append_row(duckdb::params![
        exposure.id,
        exposure.experiment,
        exposure.variant,
        exposure.unit,
        Micros::of(exposure.ts),
        exposure.triggered,
        exposure.model_output,
        exposure.latency_ms,
        attributes_text(&exposure.attributes)?,
    ])?;
    Ok(())
}

fn append_metric(appender: &mut Appender<'_>, metric: &MetricEvent) -> StoreResult<()> {
    appender.append_row(duckdb::params![
        metric.id,
        metric.event,
        metric.unit,
        Micros::of(metric.ts),
        metric.value,
        attributes_text(&metric.attributes)?,
    ])?;
    Ok(())
}

/// Canonical JSON of the attributes (serde_json maps keep keys sorted), NULL when empty.
fn attributes_text(attributes: &rctgate_domain::Attributes) -> StoreResult<Option<String>> {
    if attributes.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(attributes)
        .map(Some)
        .map_err(|err| StoreError::Corrupt(format!("attributes to JSON: {err}")))
}

/// Fills an id set from both event tables, streaming so that memory holds fingerprints only.
pub(crate) fn load_ids(conn: &Connection, fingerprinter: &Fingerprinter) -> StoreResult<IdSet> {
    let count: i64 = conn.query_row(
        "SELECT (SELECT count(*) FROM exposures) + (SELECT count(*) FROM metric_events)",
        [],
        |row| row.get(0),
    )?;
    let mut ids = IdSet::default();
    ids.reserve(usize::try_from(count).unwrap_or(0));
    let mut statement =
        conn.prepare("SELECT id FROM exposures UNION ALL SELECT id FROM metric_events")?;
    for batch in statement.stream_arrow([])? {
        let batch = batch?;
        let column = cast(batch.column(0), &DataType::Utf8)
            .map_err(|err| StoreError::Corrupt(format!("event ids: {err}")))?;
        let Some(strings) = column.as_any().downcast_ref::<StringArray>() else {
            return Err(StoreError::Corrupt("event ids are not text".into()));
        };
        ids.extend(
            (0..strings.len())
                .filter(|row| strings.is_valid(*row))
                .map(|row| fingerprinter.fingerprint(strings.value(row))),
        );
    }
    Ok(ids)
}
