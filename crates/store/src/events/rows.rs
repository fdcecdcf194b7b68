//! Validated events in the form they are inserted in: [`EventRows`].
//!
//! Inserting is the one step that must run under the writer lock, on one thread, so
//! everything else is done before: id fingerprints, timestamps as microseconds, attributes as
//! their canonical JSON text, and DuckDB data chunks of 2,048 rows per table, built either
//! ahead of deduplication ([`EventRows::seal`], then a chunk holding a duplicate is rebuilt
//! from the kept rows) or after it ([`EventRows::into_chunks`] on unsealed rows). The writer
//! hands whole chunks to DuckDB (`rctgate_duckdb_native::ChunkFeed`). All strings live in one
//! buffer, so 50,000 events are a handful of allocations, not several per event, and the
//! chunks' longer strings point into that buffer rather than copy it: sealing shares the
//! buffer (`Arc`) with the chunks, which keep it alive. The same rows are what a batch writes
//! to the ingest log, and reads back from it (`record`).

use crate::error::{StoreError, StoreResult};
use crate::events::ids::Fingerprint;
use crate::time::Micros;
use rctgate_domain::{AttributeValue, CheckedFields, EventFields, EventType, ReceivedEvent};
use rctgate_duckdb_native::{ChunkWriter, ColumnType, OwnedChunk, TableSpec};
use std::sync::Arc;

mod record;

/// A string stored in [`EventRows::text`].
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

/// One row of `exposures`.
#[derive(Debug, Clone, Copy)]
struct ExposureRow {
    id: Span,
    experiment: Span,
    variant: Span,
    unit: Span,
    ts: Micros,
    triggered: Option<bool>,
    model_output: Option<f64>,
    latency_ms: Option<f64>,
    attributes: Option<Span>,
    shadow_output: Option<f64>,
}

/// One row of `metric_events`.
#[derive(Debug, Clone, Copy)]
struct MetricRow {
    id: Span,
    event: Span,
    unit: Span,
    ts: Micros,
    value: f64,
    attributes: Option<Span>,
}

#[derive(Debug, Clone, Copy)]
enum Row {
    Exposure(ExposureRow),
    Metric(MetricRow),
}

/// Rows per DuckDB data chunk (DuckDB's standard vector size).
const CHUNK_ROWS: usize = 2048;

/// The two event tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventTable {
    Exposures,
    MetricEvents,
}

impl EventTable {
    /// The table, its columns in table order (what `schema` creates, and the layout of the
    /// data chunks built here) and the table function that feeds it.
    pub(crate) fn spec(self) -> TableSpec {
        use ColumnType::{Boolean, Double, Timestamp, Varchar};
        match self {
            EventTable::Exposures => TableSpec {
                table: "exposures",
                function: "rctgate_exposure_chunks",
                columns: &[
                    ("id", Varchar),
                    ("experiment", Varchar),
                    ("variant", Varchar),
                    ("unit", Varchar),
                    ("ts", Timestamp),
                    ("triggered", Boolean),
                    ("model_output", Double),
                    ("latency_ms", Double),
                    ("attributes", Varchar),
                    // Added by migration 5, so last.
                    ("shadow_output", Double),
                ],
            },
            EventTable::MetricEvents => TableSpec {
                table: "metric_events",
                function: "rctgate_metric_event_chunks",
                columns: &[
                    ("id", Varchar),
                    ("event", Varchar),
                    ("unit", Varchar),
                    ("ts", Timestamp),
                    ("value", Double),
                    ("attributes", Varchar),
                ],
            },
        }
    }

    /// Both tables' specs, for registering their table functions.
    pub(crate) fn specs() -> [TableSpec; 2] {
        [EventTable::Exposures.spec(), EventTable::MetricEvents.spec()]
    }
}

/// Data chunks ready to insert, per table; each chunk keeps the text its strings point into.
#[derive(Default)]
pub(crate) struct TableChunks {
    pub(crate) exposures: Vec<OwnedChunk>,
    pub(crate) metric_events: Vec<OwnedChunk>,
}

impl TableChunks {
    /// Adds `other`'s chunks after these.
    pub(crate) fn extend(&mut self, other: TableChunks) {
        self.exposures.extend(other.exposures);
        self.metric_events.extend(other.metric_events);
    }

    fn push(&mut self, table: EventTable, chunk: OwnedChunk) {
        match table {
            EventTable::Exposures => self.exposures.push(chunk),
            EventTable::MetricEvents => self.metric_events.push(chunk),
        }
    }
}

/// A sealed data chunk and the rows (indices into [`EventRows::rows`]) it holds.
struct Block {
    table: EventTable,
    rows: Vec<usize>,
    chunk: OwnedChunk,
}

/// Validated events, in input order, ready to insert.
#[derive(Default)]
pub(crate) struct EventRows {
    /// Every string of the rows, while rows are added.
    text: String,
    /// The same text once sealed, shared with the chunks that point into it.
    sealed: Option<Arc<String>>,
    rows: Vec<(Fingerprint, Row)>,
    /// Reused buffer for serializing attributes.
    scratch: Vec<u8>,
    /// Data chunks of all rows, once sealed.
    blocks: Vec<Block>,
}

impl EventRows {
    /// Room for `events` events.
    pub(crate) fn with_capacity(events: usize) -> EventRows {
        EventRows {
            text: String::with_capacity(events * 64),
            sealed: None,
            rows: Vec::with_capacity(events),
            scratch: Vec::new(),
            blocks: Vec::new(),
        }
    }

    /// Adds an event that passed validation (`checked` is what [`ReceivedEvent::check`]
    /// returned).
    pub(crate) fn push_received(
        &mut self,
        fingerprint: Fingerprint,
        event: &impl ReceivedEvent,
        checked: &CheckedFields,
    ) -> StoreResult<()> {
        let attributes = event
            .attributes()
            .filter_map(|(name, value)| value.map(|value| (name, value)));
        self.push_fields(fingerprint, &event.fields(), checked, attributes)
    }

    /// Adds an event that passed validation as borrowed fields (`checked` is what
    /// [`EventFields::check`] returned), with its attributes sorted by name.
    fn push_fields<'n, 'v>(
        &mut self,
        fingerprint: Fingerprint,
        fields: &EventFields<'_>,
        checked: &CheckedFields,
        attributes: impl Iterator<Item = (&'n str, AttributeValue<'v>)>,
    ) -> StoreResult<()> {
        let id = self.push_text(fields.id);
        let unit = self.push_text(fields.unit);
        let ts = Micros::of(checked.ts);
        let row = match fields.event_type {
            EventType::Exposure => Row::Exposure(ExposureRow {
                id,
                experiment: self.push_text(fields.experiment.unwrap_or_default()),
                variant: self.push_text(fields.variant.unwrap_or_default()),
                unit,
                ts,
                triggered: fields.triggered,
                model_output: fields.model_output,
                latency_ms: fields.latency_ms,
                attributes: self.push_attribute_values(attributes)?,
                shadow_output: fields.shadow_output,
            }),
            EventType::Metric => Row::Metric(MetricRow {
                id,
                event: self.push_text(fields.event.unwrap_or_default()),
                unit,
                ts,
                value: checked.value,
                attributes: self.push_attribute_values(attributes)?,
            }),
        };
        self.rows.push((fingerprint, row));
        Ok(())
    }

    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// The id and time (microseconds) of every event older than `floor`, in order.
    pub(crate) fn older_than(&self, floor: i64) -> impl Iterator<Item = (&str, i64)> + '_ {
        self.rows.iter().filter_map(move |(_, row)| {
            let (id, ts) = match row {
                Row::Exposure(exposure) => (exposure.id, exposure.ts),
                Row::Metric(metric) => (metric.id, metric.ts),
            };
            (ts.0 < floor).then(|| (self.text(id), ts.0))
        })
    }

    /// The fingerprint of every event's id, in order.
    pub(crate) fn fingerprints(&self) -> impl ExactSizeIterator<Item = Fingerprint> + '_ {
        self.rows.iter().map(|(fingerprint, _)| *fingerprint)
    }

    /// Packs every row into DuckDB data chunks, per table, in input order, where the rows
    /// were built (a request, before it takes the intake lock), so that accepting them needs
    /// no more than the deduplication.
    pub(crate) fn seal(&mut self) {
        let text = self.shared_text();
        self.blocks = self.blocks(&text, &vec![true; self.rows.len()]);
    }

    /// The text, shared from now on with the chunks that point into it.
    fn shared_text(&mut self) -> Arc<String> {
        let text = self
            .sealed
            .get_or_insert_with(|| Arc::new(std::mem::take(&mut self.text)));
        Arc::clone(text)
    }

    /// Data chunks of the events for which `keep[i]` is true. Sealed chunks whose rows are all
    /// kept are passed on as they are; the others, and all of unsealed rows, are built here.
    pub(crate) fn into_chunks(mut self, keep: &[bool]) -> TableChunks {
        let mut chunks = TableChunks::default();
        let text = self.shared_text();
        let sealed = std::mem::take(&mut self.blocks);
        if sealed.is_empty() {
            for block in self.blocks(&text, keep) {
                chunks.push(block.table, block.chunk);
            }
            return chunks;
        }
        for block in sealed {
            let kept: Vec<usize> = block
                .rows
                .iter()
                .copied()
                .filter(|index| keep.get(*index).copied().unwrap_or(false))
                .collect();
            if kept.len() == block.rows.len() {
                chunks.push(block.table, block.chunk);
            } else if !kept.is_empty() {
                chunks.push(block.table, self.chunk(&text, block.table, &kept));
            }
        }
        chunks
    }

    /// Data chunks of the kept rows, per table in input order, with the rows each holds.
    fn blocks(&self, text: &Arc<String>, keep: &[bool]) -> Vec<Block> {
        let mut blocks = Vec::with_capacity(self.rows.len() / CHUNK_ROWS + 2);
        for (table, indices) in self.indices_by_table(keep) {
            for rows in indices.chunks(CHUNK_ROWS) {
                blocks.push(Block {
                    table,
                    chunk: self.chunk(text, table, rows),
                    rows: rows.to_vec(),
                });
            }
        }
        blocks
    }

    /// The indices of kept rows, per table, in input order.
    fn indices_by_table(&self, keep: &[bool]) -> impl Iterator<Item = (EventTable, Vec<usize>)> {
        let mut exposures = Vec::new();
        let mut metrics = Vec::new();
        for (index, (_, row)) in self.rows.iter().enumerate() {
            if !keep.get(index).copied().unwrap_or(false) {
                continue;
            }
            match row {
                Row::Exposure(_) => exposures.push(index),
                Row::Metric(_) => metrics.push(index),
            }
        }
        [
            (EventTable::Exposures, exposures),
            (EventTable::MetricEvents, metrics),
        ]
        .into_iter()
    }

    /// A data chunk of the given rows (at most [`CHUNK_ROWS`], all of `table`), whose strings
    /// point into `text`, the rows' shared text.
    fn chunk(&self, text: &Arc<String>, table: EventTable, indices: &[usize]) -> OwnedChunk {
        let mut chunk = ChunkWriter::new(&table.spec().types());
        chunk.keep(text);
        let rows = indices
            .iter()
            .take(CHUNK_ROWS)
            .filter_map(|index| self.rows.get(*index).map(|(_, row)| row));
        let span = |span: Span| text.get(span.start..span.end).unwrap_or_default();
        for (index, row) in rows.enumerate() {
            // Columns in `EventTable::spec` order.
            match row {
                Row::Exposure(row) => {
                    chunk.set_str(0, index, Some(span(row.id)));
                    chunk.set_str(1, index, Some(span(row.experiment)));
                    chunk.set_str(2, index, Some(span(row.variant)));
                    chunk.set_str(3, index, Some(span(row.unit)));
                    chunk.set_timestamp(4, index, Some(row.ts.0));
                    chunk.set_bool(5, index, row.triggered);
                    chunk.set_f64(6, index, row.model_output);
                    chunk.set_f64(7, index, row.latency_ms);
                    chunk.set_str(8, index, row.attributes.map(span));
                    chunk.set_f64(9, index, row.shadow_output);
                }
                Row::Metric(row) => {
                    chunk.set_str(0, index, Some(span(row.id)));
                    chunk.set_str(1, index, Some(span(row.event)));
                    chunk.set_str(2, index, Some(span(row.unit)));
                    chunk.set_timestamp(3, index, Some(row.ts.0));
                    chunk.set_f64(4, index, Some(row.value));
                    chunk.set_str(5, index, row.attributes.map(span));
                }
            }
        }
        chunk.finish(indices.len().min(CHUNK_ROWS))
    }

    /// The text being written to, taken back from the chunks if the rows were sealed (adding
    /// rows after sealing is not how rows are used, but stays correct: the chunks keep their
    /// own copy and are built again).
    fn writable_text(&mut self) -> &mut String {
        if let Some(sealed) = self.sealed.take() {
            self.text = Arc::unwrap_or_clone(sealed);
            self.blocks.clear();
        }
        &mut self.text
    }

    fn push_text(&mut self, value: &str) -> Span {
        let text = self.writable_text();
        let start = text.len();
        text.push_str(value);
        Span {
            start,
            end: text.len(),
        }
    }

    /// Canonical JSON of the attributes, none when empty: compact, keys sorted, as
    /// serde_json writes a map, but written from sorted borrowed values without building one,
    /// straight into the text buffer. Text that needs no escaping (the usual case) is copied
    /// as it is: serializing every name and value through serde_json and checking the result's
    /// UTF-8 again was 4% of a Parquet import's CPU.
    fn push_attribute_values<'n, 'v>(
        &mut self,
        attributes: impl Iterator<Item = (&'n str, AttributeValue<'v>)>,
    ) -> StoreResult<Option<Span>> {
        let start = self.writable_text().len();
        for (name, value) in attributes {
            self.text.push(if self.text.len() == start { '{' } else { ',' });
            push_json_string(&mut self.text, name)?;
            self.text.push(':');
            match value {
                AttributeValue::Text(text) => push_json_string(&mut self.text, text)?,
                AttributeValue::Bool(flag) => self.text.push_str(if flag { "true" } else { "false" }),
                AttributeValue::Number(number) => self.push_serialized(&number)?,
                AttributeValue::Integer(number) => self.push_serialized(&number)?,
            }
        }
        if self.text.len() == start {
            return Ok(None);
        }
        self.text.push('}');
        Ok(Some(Span {
            start,
            end: self.text.len(),
        }))
    }

    /// Appends serde_json's text of a number, so that numbers are written as a JSON map
    /// writes them.
    fn push_serialized(&mut self, value: &impl serde::Serialize) -> StoreResult<()> {
        self.scratch.clear();
        serde_json::to_writer(&mut self.scratch, value)
            .map_err(|err| StoreError::Corrupt(format!("attributes to JSON: {err}")))?;
        let json = std::str::from_utf8(&self.scratch)
            .map_err(|err| StoreError::Corrupt(format!("attributes JSON: {err}")))?;
        self.text.push_str(json);
        Ok(())
    }

    /// All the rows' text, sealed or not.
    fn all_text(&self) -> &str {
        self.sealed.as_deref().unwrap_or(&self.text)
    }

    fn text(&self, span: Span) -> &str {
        self.all_text().get(span.start..span.end).unwrap_or_default()
    }
}

/// Appends `text` as a JSON string, escaped exactly as serde_json escapes it (which only
/// touches `"`, `\\` and bytes below 0x20).
fn push_json_string(out: &mut String, text: &str) -> StoreResult<()> {
    if text
        .bytes()
        .all(|byte| byte >= 0x20 && byte != b'"' && byte != b'\\')
    {
        out.push('"');
        out.push_str(text);
        out.push('"');
        return Ok(());
    }
    let escaped = serde_json::to_string(text)
        .map_err(|err| StoreError::Corrupt(format!("attributes to JSON: {err}")))?;
    out.push_str(&escaped);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attribute_values_serialize_like_a_json_map() {
        let values = [
            ("age", AttributeValue::Integer(31)),
            ("device", AttributeValue::Text("mo\"bile")),
            ("note", AttributeValue::Text("tab\there, back\\slash, ünï\u{1}")),
            ("premium", AttributeValue::Bool(true)),
            ("score", AttributeValue::Number(0.5)),
        ];
        let mut rows = EventRows::default();
        let span = rows
            .push_attribute_values(values.into_iter())
            .ok()
            .flatten()
            .expect("some attributes");
        let map = json!({
            "age": 31,
            "device": "mo\"bile",
            "note": "tab\there, back\\slash, ünï\u{1}",
            "premium": true,
            "score": 0.5
        });
        assert_eq!(rows.text(span), serde_json::to_string(&map).unwrap_or_default());
        assert!(matches!(rows.push_attribute_values(std::iter::empty()), Ok(None)));
    }
}
