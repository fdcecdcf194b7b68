//! `rctgate import --server URL`: the file is read here, with the same
//! readers as a local import, and sent to `POST /v1/events` as NDJSON in
//! batches; the server validates and stores each batch all-or-nothing.

use std::path::Path;

use rctgate_store::{read_event_file, ImportOutcome, ImportProgress, RawEvents};

use crate::failure::Failure;
use crate::target::Client;

/// Events per request: well under the server's batch and body limits.
const REQUEST_EVENTS: usize = 5_000;

pub fn import(
    client: &Client,
    path: &Path,
    on_progress: &mut dyn FnMut(ImportProgress),
) -> Result<ImportOutcome, Failure> {
    let mut outcome = ImportOutcome::default();
    let mut failure: Option<Failure> = None;
    let mut progress = ImportProgress {
        total_bytes: std::fs::metadata(path).ok().map(|m| m.len()),
        ..ImportProgress::default()
    };
    let mut send = |raw: RawEvents| -> bool {
        for (chunk, rows) in raw
            .records
            .chunks(REQUEST_EVENTS)
            .zip(raw.rows.chunks(REQUEST_EVENTS))
        {
            let mut body = Vec::with_capacity(chunk.len() * 200);
            for record in chunk {
                if serde_json::to_writer(&mut body, record).is_err() {
                    failure = Some(Failure::input("could not encode an event as JSON"));
                    return false;
                }
                body.push(b'\n');
            }
            match client.send_raw("POST", "/v1/events", Some(("application/x-ndjson", body))) {
                Ok((200, answer)) => {
                    outcome.rows += chunk.len() as u64;
                    outcome.accepted += answer["accepted"].as_u64().unwrap_or(0);
                    outcome.duplicates += answer["duplicates"].as_u64().unwrap_or(0);
                }
                Ok((status, answer)) => {
                    let first = rows.first().copied().unwrap_or(0);
                    let last = rows.last().copied().unwrap_or(0);
                    let message = answer["error"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| answer.to_string());
                    failure = Some(Failure::input(format!(
                        "{}, rows {first}-{last}: the server answered {status}: {message} \
                         (earlier batches are stored; fix the file and import again, stored ids count as duplicates)",
                        path.display()
                    )));
                    return false;
                }
                Err(e) => {
                    failure = Some(e);
                    return false;
                }
            }
        }
        progress.rows_done = outcome.rows;
        progress.total_rows = raw.total_rows;
        progress.bytes_done = raw.bytes_done;
        on_progress(progress);
        true
    };
    let read = read_event_file(path, &mut send);
    if let Some(failure) = failure {
        return Err(failure);
    }
    read.map_err(|e| Failure::input(e.to_string()))?;
    Ok(outcome)
}
