//! Durable HTTP ingest, end to end: the real `rctgate serve` and a local client.
//!
//! `ingest_bench RCTGATE_BIN DB [EVENTS] [BATCH] [CLIENTS]` (defaults 2,000,000 events,
//! 5,000 per batch, 1 client) starts `RCTGATE_BIN serve --db DB --addr 127.0.0.1:0` on a
//! new database, reads the admin key it prints, creates the metrics `bookings` and `clicks`
//! and the experiment `ranker` and starts it, then POSTs NDJSON batches to `/v1/events`.
//! The events are shaped like `import_bench`'s Parquet file: a third exposures of `ranker`,
//! the rest `click`/`booking` metric events, one attribute (`device`), unique ids. Every
//! batch is built before the clock starts, so the time is the server's (plus HTTP on
//! loopback), not the client's formatting.
//!
//! Each client is one thread with one `ureq` agent: sequential requests on one kept-alive
//! connection. A 200 means the batch is durable (synced in the server's ingest log). After
//! the last answer the bench reads `GET /v1/events/summary`, which waits until the server's
//! background writer has inserted every acknowledged batch, and checks its exposure count:
//! the time and events/s reported run until then (the time to the last 200 is printed too).
//! Also printed: per-batch latencies, the server's peak resident memory (`VmHWM` from
//! `/proc`, read before it stops) and the database size after a graceful stop, then
//! machine-readable `key value` lines for `bench/run-store-bench.sh`.
//!
//! `INGEST_SERVE_ARGS` adds arguments to `serve` (e.g. `--parse-threads 1`, to compare).

mod served;

use std::error::Error;
use std::path::Path;
use std::time::Instant;

use served::{agent, Server};

use chrono::{DateTime, SecondsFormat};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        return Err("usage: ingest_bench RCTGATE_BIN DB [EVENTS] [BATCH] [CLIENTS]".into());
    }
    let bin = &args[0];
    let db = Path::new(&args[1]);
    let number = |index: usize, default: usize| -> Result<usize, Box<dyn Error>> {
        Ok(args
            .get(index)
            .map(|text| text.parse())
            .transpose()?
            .unwrap_or(default))
    };
    let events = number(2, 2_000_000)?;
    let batch = number(3, 5_000)?.max(1);
    let clients = number(4, 1)?.max(1);
    for suffix in ["", ".wal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }

    let mut server = Server::start(bin, db, &std::env::var("INGEST_SERVE_ARGS").unwrap_or_default())?;
    let key = server
        .key
        .clone()
        .ok_or("serve printed no admin key on a new database")?;
    let url = server.url.clone();
    setup(&url, &key)?;

    let started = Instant::now();
    let batches: Vec<String> = (0..events)
        .step_by(batch)
        .map(|first| ndjson(first, (first + batch).min(events), events))
        .collect();
    let body_bytes: usize = batches.iter().map(String::len).sum();
    println!(
        "built {} batches of up to {batch} events ({} MB of NDJSON) in {:.1}s",
        batches.len(),
        body_bytes >> 20,
        started.elapsed().as_secs_f64()
    );

    // Client c sends batches c, c + clients, c + 2 * clients, ...
    let started = Instant::now();
    let results: Vec<Result<(u64, Vec<f64>), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|client| {
                let (url, key, batches) = (&url, &key, &batches);
                scope.spawn(move || {
                    let agent = agent();
                    let mut accepted = 0;
                    let mut latencies = Vec::new();
                    for body in batches.iter().skip(client).step_by(clients) {
                        let sent = Instant::now();
                        accepted += post_batch(&agent, url, key, body)?;
                        latencies.push(sent.elapsed().as_secs_f64() * 1e3);
                    }
                    Ok((accepted, latencies))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or_else(|_| Err("a client panicked".into())))
            .collect()
    });
    let acknowledged_seconds = started.elapsed().as_secs_f64();
    // A 200 means durable (in the server's ingest log); reads wait until the batches are in
    // the tables too. The clock stops once a read sees them all.
    let exposures = read_exposure_count(&url, &key)?;
    let seconds = started.elapsed().as_secs_f64();
    let expected_exposures = events.div_ceil(3) as u64;
    if exposures != expected_exposures {
        return Err(format!("the summary counts {exposures} exposures, not {expected_exposures}").into());
    }
    let mut accepted = 0;
    let mut latencies = Vec::new();
    for result in results {
        let (n, mut l) = result?;
        accepted += n;
        latencies.append(&mut l);
    }
    if accepted != events as u64 {
        return Err(format!("the server accepted {accepted} of {events} events").into());
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    let rate = events as f64 / seconds;
    let acknowledged_rate = events as f64 / acknowledged_seconds;
    let peak_mb = server.peak_rss_kb().map(|kb| kb >> 10);
    println!(
        "HTTP ingest ({clients} client(s), {batch}-event NDJSON batches, durable): {events} events \
         in {seconds:.2}s, {:.0}k events/s, until a read sees them all (all acknowledged after \
         {acknowledged_seconds:.2}s, {:.0}k/s); batch latency ms p50 {:.0}, p99 {:.0}, max {:.0}",
        rate / 1e3,
        acknowledged_rate / 1e3,
        at(0.5),
        at(0.99),
        at(1.0)
    );
    println!(
        "server peak resident memory: {}",
        peak_mb.map_or("unknown".to_string(), |mb| format!("{mb} MB"))
    );
    let graceful = server.terminate();
    let size = file_bytes(db);
    println!(
        "server stopped {}; database {} MB",
        if graceful { "gracefully" } else { "by SIGKILL" },
        size >> 20
    );
    println!("http_events {events}");
    println!("http_clients {clients}");
    println!("http_batch {batch}");
    println!("http_seconds {seconds:.3}");
    println!("http_events_per_second {rate:.0}");
    println!("http_acknowledged_seconds {acknowledged_seconds:.3}");
    println!("http_latency_ms_p50 {:.1}", at(0.5));
    println!("http_latency_ms_p99 {:.1}", at(0.99));
    if let Some(mb) = peak_mb {
        println!("http_server_peak_rss_mb {mb}");
    }
    println!("http_db_bytes {size}");
    Ok(())
}

/// The two metrics and the running experiment the events refer to.
fn setup(url: &str, key: &str) -> Result<(), Box<dyn Error>> {
    let agent = agent();
    let call = |path: &str, body: Option<String>, want: u16| -> Result<(), Box<dyn Error>> {
        let request = agent
            .post(format!("{url}{path}"))
            .header("Authorization", format!("Bearer {key}"));
        let response = match body {
            Some(body) => request
                .header("Content-Type", "application/json")
                .send(body.as_str()),
            None => request.send_empty(),
        }?;
        let status = response.status().as_u16();
        let text = response.into_body().read_to_string()?;
        if status != want {
            return Err(format!("POST {path}: {status} {text}").into());
        }
        Ok(())
    };
    for (name, event) in [("bookings", "booking"), ("clicks", "click")] {
        let metric = serde_json::json!({"name": name, "kind": "mean", "event": event,
                                        "window_hours": 168, "direction": "increase"});
        call("/v1/metrics", Some(metric.to_string()), 201)?;
    }
    let experiment = serde_json::json!({
        "key": "ranker",
        "hypothesis": "the new ranker raises bookings",
        "variants": [{"name": "control", "weight": 0.5}, {"name": "treatment", "weight": 0.5}],
        "metrics": {"primary": "bookings", "proxies": ["clicks"]}
    });
    call("/v1/experiments", Some(experiment.to_string()), 201)?;
    call("/v1/experiments/ranker/start", None, 200)?;
    Ok(())
}

/// `exposure_events` of `GET /v1/events/summary?experiment=ranker`.
fn read_exposure_count(url: &str, key: &str) -> Result<u64, Box<dyn Error>> {
    let response = agent()
        .get(format!("{url}/v1/events/summary?experiment=ranker"))
        .header("Authorization", format!("Bearer {key}"))
        .call()?;
    let summary: serde_json::Value = serde_json::from_str(&response.into_body().read_to_string()?)?;
    summary["exposure_events"]
        .as_u64()
        .ok_or_else(|| format!("the summary has no exposure_events: {summary}").into())
}

/// Sends one batch; returns how many events the server stored.
fn post_batch(agent: &ureq::Agent, url: &str, key: &str, body: &str) -> Result<u64, String> {
    let response = agent
        .post(format!("{url}/v1/events"))
        .header("Authorization", format!("Bearer {key}"))
        .header("Content-Type", "application/x-ndjson")
        .send(body)
        .map_err(|e| format!("POST /v1/events: {e}"))?;
    let status = response.status().as_u16();
    let text = response
        .into_body()
        .read_to_string()
        .map_err(|e| format!("reading the answer: {e}"))?;
    if status != 200 {
        return Err(format!("POST /v1/events: {status} {text}"));
    }
    let outcome: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    outcome["accepted"]
        .as_u64()
        .ok_or_else(|| format!("no accepted count in {text}"))
}

/// Events `first..end` as NDJSON, like `import_bench`'s generated file.
fn ndjson(first: usize, end: usize, total: usize) -> String {
    let units = (total as u64 / 10).max(1);
    let start = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
        .expect("a valid time")
        .with_timezone(&chrono::Utc);
    let mut out = String::with_capacity((end - first) * 180);
    for i in first..end {
        let n = i as u64;
        let unit = mix(n / 3) % units;
        let ts =
            (start + chrono::Duration::seconds((n / 10) as i64)).to_rfc3339_opts(SecondsFormat::Secs, true);
        let device = ["mobile", "desktop", "tablet"][(mix(n) % 3) as usize];
        if !out.is_empty() {
            out.push('\n');
        }
        if n.is_multiple_of(3) {
            let variant = if mix(n / 3).is_multiple_of(2) {
                "control"
            } else {
                "treatment"
            };
            out.push_str(&format!(
                r#"{{"type":"exposure","id":"evt-{i}","unit":"user-{unit}","experiment":"ranker","variant":"{variant}","ts":"{ts}","triggered":{},"attributes":{{"device":"{device}"}}}}"#,
                mix(n).is_multiple_of(4)
            ));
        } else {
            let event = if n % 3 == 1 { "click" } else { "booking" };
            let value = (mix(n) % 10_000) as f64 / 100.0;
            out.push_str(&format!(
                r#"{{"type":"metric","id":"evt-{i}","unit":"user-{unit}","event":"{event}","value":{value},"ts":"{ts}","attributes":{{"device":"{device}"}}}}"#
            ));
        }
    }
    out
}

/// SplitMix64's finalizer: a cheap, well-spread hash of `n`.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Size of the database file and its write-ahead log, in bytes.
fn file_bytes(db: &Path) -> u64 {
    ["", ".wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", db.display())).ok())
        .map(|meta| meta.len())
        .sum()
}
