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
#![allow(unsafe_code)] // DuckDB's C API; see the module doc and the workspace lints.

use crate::chunk_feed::TableChunks;
use crate::error::{StoreError, StoreResult};
use crate::ids::Fingerprint;
use crate::native::{SendChunk, INLINE_STRING_BYTES};
use crate::time::Micros;
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
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

    /// The columns' DuckDB types, for creating data chunks.
    fn logical_types(self) -> Vec<LogicalTypeHandle> {
        self.columns()
            .iter()
            .map(|(_, id)| LogicalTypeHandle::from(*id))
            .collect()
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

    /// The id and time (microseconds) of every event older than `floor`, in order.
    pub(crate) fn older_than(&self, floor: i64) -> impl Iterator<Item = (&str, i64)> + '_ {
        self.rows.iter().filter_map(move |(_, row)| {
            let (id, ts) = match row {
                Row::Exposure(exposure) => (exposure.id, exposure.ts),
                Row::Metric(metric) => (metric.id, metric.ts),
            };
            (ts.0 < floor).then(|| (&self.text[id.start..id.end], ts.0))
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
                chunks.push(
                    block.table,
                    SendChunk(self.chunk(block.table, &block.table.logical_types(), &kept)),
                );
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
            let types = table.logical_types();
            for rows in indices.chunks(CHUNK_ROWS) {
                blocks.push(Block {
                    table,
                    chunk: SendChunk(self.chunk(table, &types, rows)),
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

    /// A data chunk of the given rows (at most [`CHUNK_ROWS`], all of `table`, whose column
    /// types `types` are).
    fn chunk(&self, table: EventTable, types: &[LogicalTypeHandle], indices: &[usize]) -> DataChunkHandle {
        let chunk = DataChunkHandle::new(types);
        let rows = indices
            .iter()
            .take(CHUNK_ROWS)
            .filter_map(|index| self.rows.get(*index).map(|(_, row)| row));
        match table {
            EventTable::Exposures => self.fill_exposures(&chunk, rows),
            EventTable::MetricEvents => self.fill_metrics(&chunk, rows),
        }
        chunk.set_len(indices.len().min(CHUNK_ROWS));
        chunk
    }

    fn fill_exposures<'r>(&self, chunk: &DataChunkHandle, rows: impl Iterator<Item = &'r Row>) {
        // SAFETY (each `Slots::of`): the types are the physical types of the exposures
        // columns in `EventTable::columns` order (VARCHAR as `duckdb_string_t`, TIMESTAMP as
        // i64, BOOLEAN as bool, DOUBLE as f64), and `chunk` was created with those columns.
        let (mut id, mut experiment, mut variant, mut unit) = unsafe {
            (
                Slots::of(chunk, 0),
                Slots::of(chunk, 1),
                Slots::of(chunk, 2),
                Slots::of(chunk, 3),
            )
        };
        let (mut ts, mut triggered, mut output, mut latency, mut attributes) = unsafe {
            (
                Slots::of(chunk, 4),
                Slots::of(chunk, 5),
                Slots::of(chunk, 6),
                Slots::of(chunk, 7),
                Slots::<ffi::duckdb_string_t>::of(chunk, 8),
            )
        };
        for (index, row) in rows.enumerate() {
            let Row::Exposure(row) = row else { continue };
            id.set_str(index, self.text(row.id));
            experiment.set_str(index, self.text(row.experiment));
            variant.set_str(index, self.text(row.variant));
            unit.set_str(index, self.text(row.unit));
            ts.set(index, Some(row.ts.0));
            triggered.set(index, row.triggered);
            output.set(index, row.model_output);
            latency.set(index, row.latency_ms);
            attributes.set_str_or_null(index, row.attributes.map(|span| self.text(span)));
        }
    }

    fn fill_metrics<'r>(&self, chunk: &DataChunkHandle, rows: impl Iterator<Item = &'r Row>) {
        // SAFETY: as in `fill_exposures`, for the metric_events columns.
        let (mut id, mut event, mut unit) =
            unsafe { (Slots::of(chunk, 0), Slots::of(chunk, 1), Slots::of(chunk, 2)) };
        let (mut ts, mut value, mut attributes) = unsafe {
            (
                Slots::of(chunk, 3),
                Slots::of(chunk, 4),
                Slots::<ffi::duckdb_string_t>::of(chunk, 5),
            )
        };
        for (index, row) in rows.enumerate() {
            let Row::Metric(row) = row else { continue };
            id.set_str(index, self.text(row.id));
            event.set_str(index, self.text(row.event));
            unit.set_str(index, self.text(row.unit));
            ts.set(index, Some(row.ts.0));
            value.set(index, Some(row.value));
            attributes.set_str_or_null(index, row.attributes.map(|span| self.text(span)));
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
    /// serde_json writes a map, but written from sorted borrowed values without building one,
    /// straight into the text buffer. Text that needs no escaping (the usual case) is copied
    /// as it is: serializing every name and value through serde_json and checking the result's
    /// UTF-8 again was 4% of a Parquet import's CPU.
    fn push_attribute_values<'n, 'v>(
        &mut self,
        attributes: impl Iterator<Item = (&'n str, AttributeValue<'v>)>,
    ) -> StoreResult<Option<Span>> {
        debug_assert!(self.blocks.is_empty(), "rows added after EventRows::seal");
        let start = self.text.len();
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

    fn text(&self, span: Span) -> &str {
        self.text.get(span.start..span.end).unwrap_or_default()
    }
}

/// One column of a data chunk being filled, as a slice of its values and, once a NULL is
/// written, of its validity mask. Asking DuckDB for a vector's data (and validity) on every
/// value, as `FlatVector`'s setters do, cost more than writing the values.
struct Slots<'c, T> {
    vector: ffi::duckdb_vector,
    values: &'c mut [T],
    validity: Option<&'c mut [u64]>,
}

impl<'c, T: Copy> Slots<'c, T> {
    /// Column `column` of `chunk`.
    ///
    /// # Safety
    /// `T` must be the Rust type of the column's DuckDB physical type, and `chunk` must have
    /// that column.
    unsafe fn of(chunk: &'c DataChunkHandle, column: usize) -> Slots<'c, T> {
        // SAFETY: the caller vouches for the column and its type; a chunk's vectors hold
        // `duckdb_vector_size()` values and live as long as the chunk.
        unsafe {
            let vector = ffi::duckdb_data_chunk_get_vector(chunk.get_ptr(), column as ffi::idx_t);
            let data = ffi::duckdb_vector_get_data(vector).cast::<T>();
            Slots {
                vector,
                values: std::slice::from_raw_parts_mut(data, vector_capacity()),
                validity: None,
            }
        }
    }

    /// Writes `value`, or NULL, at `row` (ignored past the chunk's end).
    fn set(&mut self, row: usize, value: Option<T>) {
        match value {
            Some(value) => {
                if let Some(slot) = self.values.get_mut(row) {
                    *slot = value;
                }
            }
            None => self.set_null(row),
        }
    }

    fn set_null(&mut self, row: usize) {
        let vector = self.vector;
        let validity = self.validity.get_or_insert_with(|| {
            // SAFETY: `vector` is this chunk's; once made writable its mask holds one bit per
            // value, in 64-bit words, all valid until cleared here.
            unsafe {
                ffi::duckdb_vector_ensure_validity_writable(vector);
                let words = vector_capacity().div_ceil(64);
                std::slice::from_raw_parts_mut(ffi::duckdb_vector_get_validity(vector), words)
            }
        });
        if let Some(word) = validity.get_mut(row / 64) {
            *word &= !(1u64 << (row % 64));
        }
    }
}

impl Slots<'_, ffi::duckdb_string_t> {
    /// Writes `text`, which lives in an [`EventRows`] text buffer, as DuckDB's `string_t`
    /// (the C API's `duckdb_string_t`): a string of up to 12 bytes inlined, a longer one as
    /// its length, first 4 bytes and a pointer into the buffer. DuckDB's own setter would
    /// copy every value onto the vector's string heap and check its UTF-8 again (a `&str`
    /// is UTF-8): that was ~20% of preparing an HTTP batch.
    ///
    /// The pointer is valid while the buffer is: `EventRows::into_chunks` hands the buffer
    /// over with the chunks (`TableChunks::text`), and `ChunkFeed::insert` keeps it until its
    /// INSERTs are done. DuckDB copies the strings into the table while inserting and keeps no
    /// chunk afterwards.
    fn set_str(&mut self, row: usize, text: &str) {
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
        self.set(row, Some(ffi::duckdb_string_t { value }));
    }

    fn set_str_or_null(&mut self, row: usize, text: Option<&str>) {
        match text {
            Some(text) => self.set_str(row, text),
            None => self.set_null(row),
        }
    }
}

/// Values per vector of a data chunk (DuckDB's standard vector size, [`CHUNK_ROWS`]).
fn vector_capacity() -> usize {
    // SAFETY: reads a constant.
    unsafe { ffi::duckdb_vector_size() as usize }
}

/// The first `N` bytes of `text`, zero-padded: DuckDB compares a `string_t`'s inlined bytes
/// and prefix whole.
fn leading_bytes<const N: usize>(text: &str) -> [c_char; N] {
    let mut bytes = [0u8; N];
    let length = text.len().min(N);
    bytes[..length].copy_from_slice(&text.as_bytes()[..length]);
    bytes.map(|byte| byte as c_char)
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
