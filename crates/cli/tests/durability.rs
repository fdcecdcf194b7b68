//! Acknowledged means durable: kill the server (SIGKILL, then SIGTERM)
//! while a client streams batches; after a restart every acknowledged id is
//! there exactly once, and no batch is half-stored. After SIGKILL some of
//! them are only in the ingest log, which the restart inserts.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

const BATCH: usize = 500;

struct Streamed {
    acked: usize,
    sent: usize,
}

/// Streams batches until the server goes away; returns how many were
/// acknowledged (200) and how many were attempted.
fn stream(url: String, key: String, acked: Arc<AtomicUsize>) -> Streamed {
    let mut sent = 0;
    loop {
        let body = exposures("durable", sent * BATCH, BATCH);
        sent += 1;
        match try_http("POST", &format!("{url}/v1/events"), &key, &body) {
            Some((200, answer)) => {
                assert_eq!(answer["accepted"].as_u64(), Some(BATCH as u64), "{answer}");
                acked.fetch_add(1, Ordering::SeqCst);
            }
            Some((status, answer)) => panic!("unexpected {status}: {answer}"),
            None => break,
        }
        if sent > 2000 {
            break;
        }
    }
    Streamed {
        acked: acked.load(Ordering::SeqCst),
        sent,
    }
}

fn kill_while_streaming(name: &str, graceful: bool) {
    let Trial {
        server,
        db,
        admin: key,
        ..
    } = trial(name, &experiment_value("durable"), true);
    let acked = Arc::new(AtomicUsize::new(0));
    let client = {
        let (url, key, acked) = (server.url.clone(), key.clone(), acked.clone());
        std::thread::spawn(move || stream(url, key, acked))
    };
    let started = Instant::now();
    while acked.load(Ordering::SeqCst) < 8 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    if graceful {
        assert!(server.terminate(), "SIGTERM ends the server cleanly");
    } else {
        server.kill9();
    }
    let streamed = client.join().expect("client thread");
    let logged = ingest_log_bytes(&db);
    if graceful {
        assert_eq!(
            logged, None,
            "a clean stop inserts everything and removes the log"
        );
    } else {
        // The server's writer gathers batches for 250 ms before inserting them, so some
        // acknowledged ones are only in its log: the restart below must insert them.
        assert!(
            logged.unwrap_or(0) > 0,
            "acknowledged batches wait in the ingest log ({logged:?} bytes)"
        );
    }
    assert!(
        streamed.acked >= 8,
        "the client got going ({} acked)",
        streamed.acked
    );

    let server = Server::start(&db);
    let (_, summary) = server.call("GET", "/v1/events/summary?experiment=durable", Some(&key), None);
    let stored = summary["exposure_events"].as_u64().expect("count") as usize;
    assert_eq!(stored % BATCH, 0, "no batch is half-stored ({stored} events)");
    assert!(
        stored >= streamed.acked * BATCH,
        "every acknowledged event survived: {stored} < {}",
        streamed.acked * BATCH
    );
    assert!(stored <= streamed.sent * BATCH);
    // Each acknowledged id is there exactly once: resending them stores nothing.
    for first in (0..streamed.acked).step_by(40) {
        let batches = (streamed.acked - first).min(40);
        let resend = exposures("durable", first * BATCH, batches * BATCH);
        let (status, answer) = server.call("POST", "/v1/events", Some(&key), Some(&resend));
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["accepted"].as_u64(), Some(0), "{answer}");
        assert_eq!(answer["duplicates"].as_u64(), Some((batches * BATCH) as u64));
    }
}

/// Total size of the ingest log segments next to `db`, `None` when there are none.
fn ingest_log_bytes(db: &std::path::Path) -> Option<u64> {
    let dir = db.parent()?;
    let prefix = format!("{}.ingest-log.", db.file_name()?.to_str()?);
    let sizes: Vec<u64> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.starts_with(&prefix))
        })
        .filter_map(|entry| entry.metadata().ok().map(|meta| meta.len()))
        .collect();
    (!sizes.is_empty()).then(|| sizes.iter().sum())
}

#[test]
fn sigkill_loses_no_acknowledged_event() {
    kill_while_streaming("sigkill", false);
}

#[test]
fn sigterm_finishes_in_flight_batches() {
    kill_while_streaming("sigterm", true);
}
