//! Validated events in the form they are inserted in: [`EventRows`].
//!
//! Inserting is the one step that must run under the writer lock, on one thread, so
//! everything else is done before: id fingerprints, timestamps as microseconds, attributes as
//! their canonical JSON text, and DuckDB data chunks of 2,048 rows per table, built either
//! ahead of deduplication ([`EventRows::seal`], then a chunk holding a duplicate is rebuilt
//! from the kept rows) or after it ([`EventRows::into_chunks`] on unsealed rows). The writer
//! hands whole chunks to DuckDB (`chunk_feed`). All strings live in one buffer, so 50,000
//! events are a handful of allocations, not several per event, and the chunks' longer
//! strings point into that buffer rather than copy it ([`set_str`]); it goes with them.
//! The same rows are what a batch writes to the ingest log, and reads back from it
//! (`record`).

use crate::chunk_feed::TableChunks;
use crate::error::{StoreError, StoreResult};
use crate::ids::Fingerprint;
use crate::native::{SendChunk, INLINE_STRING_BYTES};
use crate::time::Micros;
use duckdb::core::{DataChunkHandle, FlatVector, LogicalTypeHandle, LogicalTypeId};
use duckdb::ffi;
use rctgate_domain::{AttributeValue, CheckedFields, EventFields, EventType, ReceivedEvent};
use std::ffi::c_char;
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
    /// The table's name in SQL.
    pub(crate) fn name(self) -> &'static str {
        match self {
            EventTable::Exposures => "exposures",
            EventTable::MetricEvents => "metric_events",
        }
    }

    /// Columns and their types, in table order: what `schema` creates, and the layout of the
    /// data chunks built here.
    pub(crate) fn columns(self) -> &'static [(&'static str, LogicalTypeId)] {
        use LogicalTypeId::{Boolean, Double, Timestamp, Varchar};
        match self {
            EventTable::Exposures => &[
                ("id", Varchar),
                ("experiment", Varchar),
                ("variant", Varchar),
                ("unit", Varchar),
                ("ts", Timestamp),
                ("triggered", Boolean),
                ("model_output", Double),
                ("latency_ms", Double),
                ("attributes", Varchar),
            ],
            EventTable::MetricEvents => &[
                ("id", Varchar),
                ("event", Varchar),
                ("unit", Varchar),
                ("ts", Timestamp),
                ("value", Double),
                ("attributes", Varchar),
            ],
        }
    }
}

/// A sealed data chunk and the rows (indices into [`EventRows::rows`]) it holds.
struct Block {
    table: EventTable,
    rows: Vec<usize>,
    chunk: SendChunk,
}

/// Validated events, in input order, ready to insert.
#[derive(Default)]
pub(crate) struct EventRows {
    text: String,
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

    /// The fingerprint of every event's id, in order.
    pub(crate) fn fingerprints(&self) -> impl ExactSizeIterator<Item = Fingerprint> + '_ {
        self.rows.iter().map(|(fingerprint, _)| *fingerprint)
    }

    /// Packs every row into DuckDB data chunks, per table, in input order, where the rows
    /// were built (a request, before it takes the intake lock), so that accepting them needs
    /// no more than the deduplication.
    pub(crate) fn seal(&mut self) {
        self.blocks = self.blocks(&vec![true; self.rows.len()]);
    }

    /// Data chunks of the events for which `keep[i]` is true. Sealed chunks whose rows are all
    /// kept are passed on as they are; the others, and all of unsealed rows, are built here.
    pub(crate) fn into_chunks(mut self, keep: &[bool]) -> TableChunks {
        let mut chunks = TableChunks::default();
        let sealed = std::mem::take(&mut self.blocks);
        if sealed.is_empty() {
            for block in self.blocks(keep) {
                chunks.push(block.table, block.chunk);
            }
            chunks.text.push(Arc::new(self.text));
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
                chunks.push(block.table, SendChunk(self.chunk(block.table, &kept)));
            }
        }
        // Moving the String keeps its heap buffer, which the chunks point into, where it is.
        chunks.text.push(Arc::new(self.text));
        chunks
    }

    /// Data chunks of the kept rows, per table in input order, with the rows each holds.
    fn blocks(&self, keep: &[bool]) -> Vec<Block> {
        let mut blocks = Vec::with_capacity(self.rows.len() / CHUNK_ROWS + 2);
        for (table, indices) in self.indices_by_table(keep) {
            for rows in indices.chunks(CHUNK_ROWS) {
                blocks.push(Block {
                    table,
                    chunk: SendChunk(self.chunk(table, rows)),
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

    /// A data chunk of the given rows (at most [`CHUNK_ROWS`], all of `table`).
    fn chunk(&self, table: EventTable, indices: &[usize]) -> DataChunkHandle {
        let types: Vec<LogicalTypeHandle> = table
            .columns()
            .iter()
            .map(|(_, id)| LogicalTypeHandle::from(*id))
            .collect();
        let chunk = DataChunkHandle::new(&types);
        let rows = indices
            .iter()
            .filter_map(|index| self.rows.get(*index).map(|(_, row)| row));
        match table {
            EventTable::Exposures => self.fill_exposures(&chunk, rows),
            EventTable::MetricEvents => self.fill_metrics(&chunk, rows),
        }
        chunk.set_len(indices.len().min(CHUNK_ROWS));
        chunk
    }

    fn fill_exposures<'r>(&self, chunk: &DataChunkHandle, rows: impl Iterator<Item = &'r Row>) {
        let (mut id, mut experiment, mut variant, mut unit) = (
            chunk.flat_vector(0),
            chunk.flat_vector(1),
            chunk.flat_vector(2),
            chunk.flat_vector(3),
        );
        let (mut ts, mut triggered, mut output, mut latency, mut attributes) = (
            chunk.flat_vector(4),
            chunk.flat_vector(5),
            chunk.flat_vector(6),
            chunk.flat_vector(7),
            chunk.flat_vector(8),
        );
        for (index, row) in rows.take(CHUNK_ROWS).enumerate() {
            let Row::Exposure(row) = row else { continue };
            set_str(&mut id, index, self.text(row.id));
            set_str(&mut experiment, index, self.text(row.experiment));
            set_str(&mut variant, index, self.text(row.variant));
            set_str(&mut unit, index, self.text(row.unit));
            set(&mut ts, index, Some(row.ts.0));
            set(&mut triggered, index, row.triggered);
            set(&mut output, index, row.model_output);
            set(&mut latency, index, row.latency_ms);
            self.set_text(&mut attributes, index, row.attributes);
        }
    }

    fn fill_metrics<'r>(&self, chunk: &DataChunkHandle, rows: impl Iterator<Item = &'r Row>) {
        let (mut id, mut event, mut unit) =
            (chunk.flat_vector(0), chunk.flat_vector(1), chunk.flat_vector(2));
        let (mut ts, mut value, mut attributes) =
            (chunk.flat_vector(3), chunk.flat_vector(4), chunk.flat_vector(5));
        for (index, row) in rows.take(CHUNK_ROWS).enumerate() {
            let Row::Metric(row) = row else { continue };
            set_str(&mut id, index, self.text(row.id));
            set_str(&mut event, index, self.text(row.event));
            set_str(&mut unit, index, self.text(row.unit));
            set(&mut ts, index, Some(row.ts.0));
            set(&mut value, index, Some(row.value));
            self.set_text(&mut attributes, index, row.attributes);
        }
    }

    fn set_text(&self, vector: &mut FlatVector<'_>, index: usize, span: Option<Span>) {
        match span {
            Some(span) => set_str(vector, index, self.text(span)),
            None => vector.set_null(index),
        }
    }

    fn push_text(&mut self, value: &str) -> Span {
        // Chunks point into `text`; growing it after they are built would move it.
        debug_assert!(self.blocks.is_empty(), "rows added after EventRows::seal");
        let start = self.text.len();
        self.text.push_str(value);
        Span {
            start,
            end: self.text.len(),
        }
    }

    /// Canonical JSON of the attributes, none when empty: compact, keys sorted, as
    /// serde_json writes a map, but written from sorted borrowed values without building one.
    fn push_attribute_values<'n, 'v>(
        &mut self,
        attributes: impl Iterator<Item = (&'n str, AttributeValue<'v>)>,
    ) -> StoreResult<Option<Span>> {
        self.scratch.clear();
        for (name, value) in attributes {
            self.scratch
                .push(if self.scratch.is_empty() { b'{' } else { b',' });
            let written = serde_json::to_writer(&mut self.scratch, name).and_then(|()| {
                self.scratch.push(b':');
                match value {
                    AttributeValue::Text(text) => serde_json::to_writer(&mut self.scratch, text),
                    AttributeValue::Number(number) => serde_json::to_writer(&mut self.scratch, &number),
                    AttributeValue::Integer(number) => serde_json::to_writer(&mut self.scratch, &number),
                    AttributeValue::Bool(flag) => serde_json::to_writer(&mut self.scratch, &flag),
                }
            });
            written.map_err(|err| StoreError::Corrupt(format!("attributes to JSON: {err}")))?;
        }
        if self.scratch.is_empty() {
            return Ok(None);
        }
        self.scratch.push(b'}');
        self.push_scratch().map(Some)
    }

    /// Moves the JSON in `scratch` into the text buffer.
    fn push_scratch(&mut self) -> StoreResult<Span> {
        let json = std::str::from_utf8(&self.scratch)
            .map_err(|err| StoreError::Corrupt(format!("attributes JSON: {err}")))?;
        let start = self.text.len();
        self.text.push_str(json);
        Ok(Span {
            start,
            end: self.text.len(),
        })
    }

    fn text(&self, span: Span) -> &str {
        self.text.get(span.start..span.end).unwrap_or_default()
    }
}

/// Writes `text`, which lives in an [`EventRows`] text buffer, into a VARCHAR vector as
/// DuckDB's `string_t` (the C API's `duckdb_string_t`): a string of up to 12 bytes inlined,
/// a longer one as its length, first 4 bytes and a pointer into the buffer. DuckDB's own
/// setter would copy every value onto the vector's string heap and check its UTF-8 again
/// (a `&str` is UTF-8): that was ~20% of preparing an HTTP batch.
///
/// The pointer is valid while the buffer is: `EventRows::into_chunks` hands the buffer over
/// with the chunks (`TableChunks::text`), and `ChunkFeed::insert` keeps it until its INSERTs
/// are done. DuckDB copies the strings into the table while inserting and keeps no chunk
/// afterwards.
fn set_str(vector: &mut FlatVector<'_>, index: usize, text: &str) {
    let length = text.len() as u32;
    let value = if text.len() <= INLINE_STRING_BYTES {
        ffi::duckdb_string_t__bindgen_ty_1 {
            inlined: ffi::duckdb_string_t__bindgen_ty_1__bindgen_ty_2 {
                length,
                inlined: leading_bytes(text),
            },
        }
    } else {
        ffi::duckdb_string_t__bindgen_ty_1 {
            pointer: ffi::duckdb_string_t__bindgen_ty_1__bindgen_ty_1 {
                length,
                prefix: leading_bytes(text),
                // DuckDB only reads through it.
                ptr: text.as_ptr().cast_mut().cast::<c_char>(),
            },
        }
    };
    // SAFETY: only VARCHAR columns come here (`EventTable::columns`), whose vectors hold
    // `duckdb_string_t`; `index` < CHUNK_ROWS = the vector's capacity.
    let slots = unsafe { vector.as_mut_slice::<ffi::duckdb_string_t>() };
    if let Some(slot) = slots.get_mut(index) {
        *slot = ffi::duckdb_string_t { value };
    }
}

/// The first `N` bytes of `text`, zero-padded: DuckDB compares a `string_t`'s inlined bytes
/// and prefix whole.
fn leading_bytes<const N: usize>(text: &str) -> [c_char; N] {
    let mut bytes = [0; N];
    for (slot, byte) in bytes.iter_mut().zip(text.bytes()) {
        *slot = byte as c_char;
    }
    bytes
}

/// Writes a fixed-width value (or NULL) into a vector whose physical type is `T`.
fn set<T: Copy>(vector: &mut FlatVector<'_>, index: usize, value: Option<T>) {
    match value {
        Some(value) => {
            // SAFETY: callers pass the Rust type of the column's DuckDB physical type (i64 for
            // TIMESTAMP, f64 for DOUBLE, bool for BOOLEAN, per `EventTable::columns`), and
            // `index` < CHUNK_ROWS = the vector's capacity.
            let slots = unsafe { vector.as_mut_slice::<T>() };
            if let Some(slot) = slots.get_mut(index) {
                *slot = value;
            }
        }
        None => vector.set_null(index),
    }
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
            ("premium", AttributeValue::Bool(true)),
            ("score", AttributeValue::Number(0.5)),
        ];
        let mut rows = EventRows::default();
        let span = rows
            .push_attribute_values(values.into_iter())
            .ok()
            .flatten()
            .expect("some attributes");
        let map = json!({"age": 31, "device": "mo\"bile", "premium": true, "score": 0.5});
        assert_eq!(rows.text(span), serde_json::to_string(&map).unwrap_or_default());
        assert!(matches!(rows.push_attribute_values(std::iter::empty()), Ok(None)));
    }
}
