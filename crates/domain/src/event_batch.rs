//! A batch of events as posted to `/v1/events`: a JSON array or NDJSON (SPEC §4, §6).
//!
//! Errors name the event's position so one bad event among thousands can be found: `line N`
//! for NDJSON (the physical line, blank lines counted), `event N` for the N-th element of a
//! JSON array (1-based, since an array may be pretty-printed over many lines).

use crate::error::ValidationError;
use crate::event::EventRecord;
use crate::json::from_json_slice;

/// Default bound on events per HTTP batch; the server may choose another.
pub const MAX_BATCH_EVENTS: usize = 10_000;

/// How positions in a batch are called in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionKind {
    /// NDJSON: physical line numbers.
    Line,
    /// JSON array, or records handed over directly: element numbers.
    Event,
    /// A file being imported: 1-based data rows.
    Row,
}

/// Parsed events and where each one was in the input.
#[derive(Debug, Clone, PartialEq)]
pub struct EventBatch {
    /// The events, in input order.
    pub records: Vec<EventRecord>,
    /// 1-based position of each record (same length as `records`).
    pub positions: Vec<u64>,
    /// What the positions count.
    pub kind: PositionKind,
}

/// Why a batch could not be parsed: malformed (400) or too long (413).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// An event is not valid JSON or has a bad field.
    #[error("{0}")]
    Invalid(ValidationError),
    /// More events than allowed.
    #[error("The batch has more than {limit} events; split it into smaller batches.")]
    TooManyEvents {
        /// The bound that was exceeded.
        limit: usize,
    },
}

impl EventBatch {
    /// Records numbered 1..=n as `event N`.
    pub fn from_records(records: Vec<EventRecord>) -> Self {
        Self::numbered(records, 1, PositionKind::Event)
    }

    /// Records numbered from `first` on, counted as `kind`.
    pub fn numbered(records: Vec<EventRecord>, first: u64, kind: PositionKind) -> Self {
        let positions = (first..).take(records.len()).collect();
        EventBatch {
            records,
            positions,
            kind,
        }
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The label of the `index`-th record (0-based), e.g. `line 17`.
    pub fn position(&self, index: usize) -> String {
        let number = self.positions.get(index).copied().unwrap_or(index as u64 + 1);
        let word = match self.kind {
            PositionKind::Line => "line",
            PositionKind::Event => "event",
            PositionKind::Row => "row",
        };
        format!("{word} {number}")
    }
}

/// Parses a request body: a JSON array of events when it starts with `[`, else NDJSON (blank
/// lines ignored). An empty body is an empty batch.
pub fn parse_event_batch(body: &[u8], max_events: usize) -> Result<EventBatch, BatchError> {
    let first = body.iter().position(|byte| !byte.is_ascii_whitespace());
    match first.map(|index| body[index]) {
        None => Ok(EventBatch::from_records(Vec::new())),
        Some(b'[') => parse_array(body, max_events),
        Some(_) => parse_ndjson(body, max_events),
    }
}

fn parse_array(body: &[u8], max_events: usize) -> Result<EventBatch, BatchError> {
    let records: Vec<EventRecord> =
        from_json_slice(body).map_err(|err| BatchError::Invalid(locate_array_error(err)))?;
    if records.len() > max_events {
        return Err(BatchError::TooManyEvents { limit: max_events });
    }
    Ok(EventBatch::from_records(records))
}

/// Turns `[16].ts` into `event 17: ts`.
fn locate_array_error(err: ValidationError) -> ValidationError {
    let Some(field) = err.field.as_deref() else {
        return err;
    };
    let Some(rest) = field.strip_prefix('[') else {
        return err;
    };
    let Some((index, inner)) = rest.split_once(']') else {
        return err;
    };
    let Ok(index) = index.parse::<u64>() else {
        return err;
    };
    let inner = inner.trim_start_matches('.');
    let position = format!("event {}", index + 1);
    if inner.is_empty() {
        ValidationError::general(err.message).at(&position)
    } else {
        ValidationError::new(inner, err.message).at(&position)
    }
}

fn parse_ndjson(body: &[u8], max_events: usize) -> Result<EventBatch, BatchError> {
    let mut records = Vec::new();
    let mut positions = Vec::new();
    for (index, line) in body.split(|byte| *byte == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if records.len() == max_events {
            return Err(BatchError::TooManyEvents { limit: max_events });
        }
        let line_number = index as u64 + 1;
        let record = from_json_slice::<EventRecord>(line)
            .map_err(|err| BatchError::Invalid(err.at(&format!("line {line_number}"))))?;
        records.push(record);
        positions.push(line_number);
    }
    Ok(EventBatch {
        records,
        positions,
        kind: PositionKind::Line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRIC: &str =
        r#"{"type": "metric", "id": "e2", "unit": "u42", "event": "booking", "ts": "2026-11-26T12:00:00Z"}"#;

    fn invalid(result: Result<EventBatch, BatchError>) -> ValidationError {
        match result {
            Err(BatchError::Invalid(err)) => err,
            other => panic!("expected an invalid batch, got {other:?}"),
        }
    }

    #[test]
    fn ndjson_with_blank_lines_keeps_physical_line_numbers() {
        let body = format!("{METRIC}\n\n{METRIC}\n");
        let batch = parse_event_batch(body.as_bytes(), 10).expect("parses");
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.position(1), "line 3");
    }

    #[test]
    fn ndjson_errors_name_line_and_field() {
        let bad = METRIC.replace("\"u42\"", "42");
        let body = format!("{METRIC}\n{METRIC}\n{bad}\n");
        let err = invalid(parse_event_batch(body.as_bytes(), 10));
        assert_eq!(err.field.as_deref(), Some("line 3: unit"));
        let err = invalid(parse_event_batch(b"{oops\n", 10));
        assert_eq!(err.field.as_deref(), Some("line 1"));
    }

    #[test]
    fn arrays_name_the_element() {
        let body = format!("[{METRIC}, {}]", METRIC.replace("\"booking\"", "false"));
        let err = invalid(parse_event_batch(body.as_bytes(), 10));
        assert_eq!(err.field.as_deref(), Some("event 2: event"));
        let ok = format!("  [{METRIC}, {METRIC}]");
        let batch = parse_event_batch(ok.as_bytes(), 10).expect("parses");
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.position(0), "event 1");
    }

    #[test]
    fn batch_length_is_bounded() {
        let body = format!("{METRIC}\n{METRIC}\n{METRIC}\n");
        assert_eq!(
            parse_event_batch(body.as_bytes(), 2),
            Err(BatchError::TooManyEvents { limit: 2 })
        );
        let array = format!("[{METRIC},{METRIC},{METRIC}]");
        assert_eq!(
            parse_event_batch(array.as_bytes(), 2),
            Err(BatchError::TooManyEvents { limit: 2 })
        );
    }

    #[test]
    fn empty_body_is_an_empty_batch() {
        assert!(parse_event_batch(b"  \n", 10).expect("empty").is_empty());
    }
}
