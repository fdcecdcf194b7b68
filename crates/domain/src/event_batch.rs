//! A batch of events as posted to `/v1/events`: a JSON array or NDJSON (SPEC §4, §6).
//!
//! Errors name the event's position so one bad event among thousands can be found: `line N`
//! for NDJSON (the physical line, blank lines counted), `event N` for the N-th element of a
//! JSON array (1-based, since an array may be pretty-printed over many lines).
//!
//! Events are parsed in place ([`EventRecordRef`]). A large NDJSON body can be cut into
//! parts at line ends ([`split_event_body`]) and the parts parsed on several threads; each
//! keeps the physical line numbers of the whole body.

use crate::error::ValidationError;
use crate::event::EventRecord;
use crate::event_record_ref::EventRecordRef;
use crate::json::from_json_str;

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

/// Parsed events and where each one was in the input: owned [`EventRecord`]s, or
/// [`EventRecordRef`]s borrowing from a body.
#[derive(Debug, Clone, PartialEq)]
pub struct EventBatch<R = EventRecord> {
    /// The events, in input order.
    pub records: Vec<R>,
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

impl<R> EventBatch<R> {
    /// Records numbered 1..=n as `event N`.
    pub fn from_records(records: Vec<R>) -> Self {
        Self::numbered(records, 1, PositionKind::Event)
    }

    /// Records numbered from `first` on, counted as `kind`.
    pub fn numbered(records: Vec<R>, first: u64, kind: PositionKind) -> Self {
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
pub fn parse_event_batch(
    body: &[u8],
    max_events: usize,
) -> Result<EventBatch<EventRecordRef<'_>>, BatchError> {
    BodyPart::whole(body).parse(max_events)
}

/// A piece of a request body that parses on its own: the whole body, or some whole lines of
/// an NDJSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPart<'a> {
    bytes: &'a [u8],
    /// The body's line number of the part's first line; `None` for the whole body, which may
    /// be a JSON array.
    first_line: Option<u64>,
}

impl<'a> BodyPart<'a> {
    fn whole(body: &'a [u8]) -> Self {
        BodyPart {
            bytes: body,
            first_line: None,
        }
    }

    /// Parses the part; at most `max_events` events (the caller bounds the parts' sum).
    pub fn parse(&self, max_events: usize) -> Result<EventBatch<EventRecordRef<'a>>, BatchError> {
        // One check of the whole text is much faster than serde_json's of each string.
        let text = std::str::from_utf8(self.bytes).map_err(|err| {
            let line = self.first_line.unwrap_or(1) + line_ends(&self.bytes[..err.valid_up_to()]);
            BatchError::Invalid(ValidationError::general("Is not UTF-8 text.").at(&format!("line {line}")))
        })?;
        let first = text.trim_start().as_bytes().first();
        match (first, self.first_line) {
            (None, _) => Ok(EventBatch::from_records(Vec::new())),
            (Some(b'['), None) => parse_array(text, max_events),
            (_, first_line) => parse_ndjson(text, first_line.unwrap_or(1), max_events),
        }
    }
}

/// Cuts `body` into at most `parts` parts of about equal size at line ends, to parse on
/// several threads. A JSON array, or a body too small to be worth it, stays whole.
pub fn split_event_body(body: &[u8], parts: usize) -> Vec<BodyPart<'_>> {
    /// Below this, a thread costs more than it saves.
    const MIN_PART_BYTES: usize = 64 * 1024;
    let first = body.iter().position(|byte| !byte.is_ascii_whitespace());
    let parts = parts.min(body.len() / MIN_PART_BYTES).max(1);
    if parts == 1 || first.map(|index| body[index]) == Some(b'[') {
        return vec![BodyPart::whole(body)];
    }
    let mut split = Vec::with_capacity(parts);
    let (mut start, mut first_line) = (0, 1);
    for part in 1..=parts {
        let target = (body.len() * part / parts).max(start);
        // Each part ends just after a newline (or at the end of the body).
        let end = match memchr::memchr(b'\n', &body[target..]) {
            Some(offset) if part < parts => target + offset + 1,
            _ => body.len(),
        };
        let bytes = &body[start..end];
        split.push(BodyPart {
            bytes,
            first_line: Some(first_line),
        });
        first_line += line_ends(bytes);
        start = end;
        if start == body.len() {
            break;
        }
    }
    split
}

/// The number of `\n` in `bytes`.
fn line_ends(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

fn parse_array(body: &str, max_events: usize) -> Result<EventBatch<EventRecordRef<'_>>, BatchError> {
    let records: Vec<EventRecordRef> =
        from_json_str(body).map_err(|err| BatchError::Invalid(locate_array_error(err)))?;
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

fn parse_ndjson(
    body: &str,
    first_line: u64,
    max_events: usize,
) -> Result<EventBatch<EventRecordRef<'_>>, BatchError> {
    let lines = line_ends(body.as_bytes()) as usize + 1;
    let mut records = Vec::with_capacity(lines.min(max_events));
    let mut positions = Vec::with_capacity(lines.min(max_events));
    for (line_number, line) in (first_line..).zip(body.split('\n')) {
        if line.bytes().all(|byte| byte.is_ascii_whitespace()) {
            continue;
        }
        if records.len() == max_events {
            return Err(BatchError::TooManyEvents { limit: max_events });
        }
        let record = from_json_str::<EventRecordRef>(line)
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

    fn invalid(result: Result<EventBatch<EventRecordRef>, BatchError>) -> ValidationError {
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
    fn parts_keep_the_line_numbers_of_the_body() {
        let bad = METRIC.replace("\"u42\"", "42");
        let mut lines = vec![METRIC.to_string(); 3000];
        lines[1800] = String::new();
        lines[2500] = bad;
        let body = lines.join("\n");
        let parts = split_event_body(body.as_bytes(), 2);
        assert_eq!(parts.len(), 2);
        let first = parts[0].parse(10_000).expect("first half parses");
        assert!(
            body.len() > 2 * 64 * 1024 && first.len() > 1000,
            "{}",
            first.len()
        );
        let joined: Vec<u8> = parts.iter().flat_map(|part| part.bytes.iter().copied()).collect();
        assert_eq!(joined, body.as_bytes());
        let err = invalid(parts[1].parse(10_000));
        assert_eq!(err.field.as_deref(), Some("line 2501: unit"));
        let whole = invalid(parse_event_batch(body.as_bytes(), 10_000));
        assert_eq!(whole, err);
        assert_eq!(split_event_body(METRIC.as_bytes(), 2).len(), 1);
        let array = format!("[{}]", vec![METRIC; 3000].join(","));
        assert_eq!(split_event_body(array.as_bytes(), 2).len(), 1);
    }

    #[test]
    fn text_that_is_not_utf8_names_its_line() {
        let mut body = format!("{METRIC}\n{METRIC}\n").into_bytes();
        body.extend_from_slice(b"{\"type\": \"metric\", \"id\": \"\xff\"}\n");
        let err = invalid(parse_event_batch(&body, 10));
        assert_eq!(err.field.as_deref(), Some("line 3"));
    }

    #[test]
    fn empty_body_is_an_empty_batch() {
        assert!(parse_event_batch(b"  \n", 10).expect("empty").is_empty());
    }
}
