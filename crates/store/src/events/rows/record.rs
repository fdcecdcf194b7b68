//! [`EventRows`] as bytes, for the ingest log (`ingest_log`): what a batch's rows are
//! written as before the batch is acknowledged, and read back from if the process stopped
//! before they reached the tables.
//!
//! The layout is the rows' own: the text buffer, then each row with its strings as spans into
//! it, all little-endian. Nothing is re-validated when reading, as the rows were validated
//! before they were written; the frame around a record carries a checksum (`ingest_log`), and
//! a record that does not decode (truncated, spans outside the text) is reported as corrupt.
//! Fingerprints are not written: their keys change with every process, so reading computes
//! them again.

use super::{EventRows, ExposureRow, MetricRow, Row, Span};
use crate::error::{StoreError, StoreResult};
use crate::events::ids::Fingerprinter;
use crate::time::Micros;

const EXPOSURE: u8 = 1;
const METRIC: u8 = 2;
/// An exposure with a `shadow_output`: kind 1's fields, then the output. Logs written before
/// it existed hold kind 1 only, and read back as they were.
const EXPOSURE_WITH_SHADOW: u8 = 3;

impl EventRows {
    /// Appends these rows' record to `out`.
    pub(crate) fn write_record(&self, out: &mut Vec<u8>) -> StoreResult<()> {
        let text = self.all_text();
        let text_len = u32::try_from(text.len())
            .map_err(|_| StoreError::Append("a batch's text is over 4 GiB".into()))?;
        out.reserve(text.len() + self.rows.len() * 64 + 16);
        out.extend_from_slice(&text_len.to_le_bytes());
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(&(self.rows.len() as u64).to_le_bytes());
        let mut writer = RecordWriter(out);
        for (_, row) in &self.rows {
            match row {
                Row::Exposure(row) => {
                    writer.byte(if row.shadow_output.is_some() {
                        EXPOSURE_WITH_SHADOW
                    } else {
                        EXPOSURE
                    });
                    for span in [row.id, row.experiment, row.variant, row.unit] {
                        writer.span(span);
                    }
                    writer.bytes(row.ts.0.to_le_bytes());
                    writer.byte(match row.triggered {
                        None => 0,
                        Some(false) => 1,
                        Some(true) => 2,
                    });
                    writer.number(row.model_output);
                    writer.number(row.latency_ms);
                    writer.attributes(row.attributes);
                    if row.shadow_output.is_some() {
                        writer.number(row.shadow_output);
                    }
                }
                Row::Metric(row) => {
                    writer.byte(METRIC);
                    for span in [row.id, row.event, row.unit] {
                        writer.span(span);
                    }
                    writer.bytes(row.ts.0.to_le_bytes());
                    writer.bytes(row.value.to_le_bytes());
                    writer.attributes(row.attributes);
                }
            }
        }
        Ok(())
    }

    /// Reads one record from the front of `bytes`, fingerprinting each id with
    /// `fingerprinter`; returns the rows and what follows the record.
    pub(crate) fn read_record<'b>(
        bytes: &'b [u8],
        fingerprinter: &Fingerprinter,
    ) -> StoreResult<(EventRows, &'b [u8])> {
        let mut reader = RecordReader { bytes };
        let text_len = u32::from_le_bytes(reader.array()?) as usize;
        let text =
            std::str::from_utf8(reader.take(text_len)?).map_err(|_| corrupt("its text is not UTF-8"))?;
        let row_count = u64::from_le_bytes(reader.array()?);
        let mut rows = EventRows {
            text: text.to_owned(),
            // Each row takes at least 30 bytes, so a count beyond that is corrupt; do not
            // let it reserve memory.
            rows: Vec::with_capacity((row_count as usize).min(reader.bytes.len() / 30)),
            ..EventRows::default()
        };
        for _ in 0..row_count {
            let row = match reader.byte()? {
                kind @ (EXPOSURE | EXPOSURE_WITH_SHADOW) => Row::Exposure(ExposureRow {
                    id: reader.span(text)?,
                    experiment: reader.span(text)?,
                    variant: reader.span(text)?,
                    unit: reader.span(text)?,
                    ts: Micros(i64::from_le_bytes(reader.array()?)),
                    triggered: match reader.byte()? {
                        0 => None,
                        1 => Some(false),
                        2 => Some(true),
                        other => return Err(corrupt(&format!("triggered is {other}"))),
                    },
                    model_output: reader.number()?,
                    latency_ms: reader.number()?,
                    attributes: reader.attributes(text)?,
                    shadow_output: if kind == EXPOSURE_WITH_SHADOW {
                        reader.number()?
                    } else {
                        None
                    },
                }),
                METRIC => Row::Metric(MetricRow {
                    id: reader.span(text)?,
                    event: reader.span(text)?,
                    unit: reader.span(text)?,
                    ts: Micros(i64::from_le_bytes(reader.array()?)),
                    value: f64::from_le_bytes(reader.array()?),
                    attributes: reader.attributes(text)?,
                }),
                other => return Err(corrupt(&format!("row kind {other}"))),
            };
            let id = match &row {
                Row::Exposure(row) => row.id,
                Row::Metric(row) => row.id,
            };
            let fingerprint = fingerprinter.fingerprint(rows.text(id));
            rows.rows.push((fingerprint, row));
        }
        Ok((rows, reader.bytes))
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("an ingest log record does not decode: {what}"))
}

struct RecordWriter<'o>(&'o mut Vec<u8>);

impl RecordWriter<'_> {
    fn byte(&mut self, byte: u8) {
        self.0.push(byte);
    }

    fn bytes<const N: usize>(&mut self, bytes: [u8; N]) {
        self.0.extend_from_slice(&bytes);
    }

    /// Spans fit in `u32`: the text is under 4 GiB (checked by `write_record`).
    fn span(&mut self, span: Span) {
        self.bytes((span.start as u32).to_le_bytes());
        self.bytes(((span.end - span.start) as u32).to_le_bytes());
    }

    fn number(&mut self, value: Option<f64>) {
        match value {
            None => self.byte(0),
            Some(value) => {
                self.byte(1);
                self.bytes(value.to_le_bytes());
            }
        }
    }

    fn attributes(&mut self, span: Option<Span>) {
        match span {
            None => self.byte(0),
            Some(span) => {
                self.byte(1);
                self.span(span);
            }
        }
    }
}

struct RecordReader<'b> {
    bytes: &'b [u8],
}

impl<'b> RecordReader<'b> {
    fn take(&mut self, len: usize) -> StoreResult<&'b [u8]> {
        if self.bytes.len() < len {
            return Err(corrupt("it ends early"));
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> StoreResult<[u8; N]> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn byte(&mut self) -> StoreResult<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn span(&mut self, text: &str) -> StoreResult<Span> {
        let start = u32::from_le_bytes(self.array()?) as usize;
        let len = u32::from_le_bytes(self.array()?) as usize;
        let end = start
            .checked_add(len)
            .ok_or_else(|| corrupt("a span overflows"))?;
        if text.get(start..end).is_none() {
            return Err(corrupt("a string lies outside its text"));
        }
        Ok(Span { start, end })
    }

    fn number(&mut self) -> StoreResult<Option<f64>> {
        match self.byte()? {
            0 => Ok(None),
            1 => Ok(Some(f64::from_le_bytes(self.array()?))),
            other => Err(corrupt(&format!("a number's tag is {other}"))),
        }
    }

    fn attributes(&mut self, text: &str) -> StoreResult<Option<Span>> {
        match self.byte()? {
            0 => Ok(None),
            1 => self.span(text).map(Some),
            other => Err(corrupt(&format!("the attributes' tag is {other}"))),
        }
    }
}
