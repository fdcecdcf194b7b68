//! The soak: a real `rctgate serve` under mixed load for a while, then the checks a user
//! needs after hours of traffic.
//!
//! `soak RCTGATE_BIN DIR SECONDS [EVENTS_PER_SECOND]` starts `RCTGATE_BIN serve` on a new
//! database in DIR, sets up two metrics, a running experiment and a model, and until SECONDS
//! have passed runs at once:
//! - two ingest clients posting batches of 500 metric events with unique ids at
//!   EVENTS_PER_SECOND together (default 5,000: steady traffic, not a flood; the server takes
//!   about 100,000 a second here, BENCHMARKS.md), one batch in 20 sent twice (a client's
//!   retry, all duplicates);
//! - a `POST /v1/decide` client (its exposures are queued and written by the server);
//! - a results reader (`GET /results`, with and without the series), which new events keep
//!   uncached;
//! - an experiment changer: a new experiment created, started, read and stopped (which freezes
//!   its verdict), a model version registered and promoted without a trial (refused: 4xx);
//! - a sampler of the server's resident memory every second.
//!
//! Then it stops the server gracefully, exports the metric events with `rctgate export`, and
//! checks: every acknowledged event stored exactly once; no request answered 5xx or lost its
//! connection; resident memory flat after warm-up (the median of the last quarter of the run
//! within 1.5x of the second quarter's). It prints p50/p99 per route per minute and the memory
//! curve, and exits non-zero when a check fails. `bench/run-soak.sh` runs it.

mod served;

use std::collections::{BTreeMap, HashMap};
use std::error::Error;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use served::{agent, Server};

/// One answered request.
struct Sample {
    route: &'static str,
    minute: u64,
    millis: f64,
}

/// What the clients share.
struct Run {
    url: String,
    key: String,
    started: Instant,
    deadline: Instant,
    samples: Mutex<Vec<Sample>>,
    acknowledged: Mutex<Vec<String>>,
    failures: AtomicU64,
    first_failures: Mutex<Vec<String>>,
    stop: AtomicBool,
    /// The ingest clients' target, in events per second.
    events_per_second: u64,
}

impl Run {
    fn running(&self) -> bool {
        Instant::now() < self.deadline && !self.stop.load(Ordering::Relaxed)
    }

    /// One request; its status and body. A 5xx or a lost connection is a failure.
    fn call(
        &self,
        agent: &ureq::Agent,
        method: &str,
        path: &str,
        route: &'static str,
        body: Option<&str>,
    ) -> (u16, String) {
        let url = format!("{}{path}", self.url);
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Authorization", format!("Bearer {}", self.key))
            .header("Content-Type", "application/json");
        let sent = Instant::now();
        let answer = match body {
            Some(body) => request.body(body).map(|r| agent.run(r)),
            None => request.body(ureq::SendBody::none()).map(|r| agent.run(r)),
        };
        let outcome = match answer {
            Ok(Ok(response)) => {
                let status = response.status().as_u16();
                let text = response.into_body().read_to_string().unwrap_or_default();
                Ok((status, text))
            }
            Ok(Err(err)) => Err(err.to_string()),
            Err(err) => Err(err.to_string()),
        };
        let millis = sent.elapsed().as_secs_f64() * 1e3;
        match outcome {
            Ok((status, text)) => {
                if status >= 500 {
                    self.fail(format!("{method} {path}: {status} {text}"));
                }
                let minute = sent.duration_since(self.started).as_secs() / 60;
                self.samples
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(Sample {
                        route,
                        minute,
                        millis,
                    });
                (status, text)
            }
            Err(err) => {
                self.fail(format!("{method} {path}: {err}"));
                (0, String::new())
            }
        }
    }

    fn fail(&self, what: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let mut first = self
            .first_failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if first.len() < 10 {
            first.push(what);
        }
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bin, dir, seconds, rest @ ..] = args.as_slice() else {
        return Err("usage: soak RCTGATE_BIN DIR SECONDS [EVENTS_PER_SECOND]".into());
    };
    let seconds: u64 = seconds.parse()?;
    let events_per_second: u64 = rest.first().map_or(Ok(5_000), |rate| rate.parse())?;
    let dir = Path::new(dir);
    std::fs::create_dir_all(dir)?;
    let db = dir.join("soak.duckdb");
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("soak.duckdb"))
        {
            std::fs::remove_file(path)?;
        }
    }
    let mut server = Server::start(bin, &db, "")?;
    let key = server
        .key
        .clone()
        .ok_or("serve printed no admin key on a new database")?;
    let started = Instant::now();
    let run = Run {
        url: server.url.clone(),
        key,
        started,
        deadline: started + Duration::from_secs(seconds),
        samples: Mutex::new(Vec::new()),
        acknowledged: Mutex::new(Vec::new()),
        failures: AtomicU64::new(0),
        first_failures: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
        events_per_second,
    };
    setup(&run)?;
    let pid = server.pid();
    let memory: Vec<(u64, u64)> = std::thread::scope(|scope| {
        for client in 0..2 {
            let run = &run;
            scope.spawn(move || ingest(run, client));
        }
        scope.spawn(|| decide(&run));
        scope.spawn(|| read_results(&run));
        scope.spawn(|| change(&run));
        let sampler = scope.spawn(|| {
            let mut curve = Vec::new();
            while run.running() {
                if let Some(kb) = resident_kb(pid) {
                    curve.push((run.started.elapsed().as_secs(), kb));
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            curve
        });
        sampler.join().unwrap_or_default()
    });
    let peak_mb = server.peak_rss_kb().map_or(0, |kb| kb >> 10);
    let graceful = server.terminate();
    let stored = stored_ids(bin, dir, &db)?;
    println!("server peak resident memory: {peak_mb} MiB");
    report(&run, &memory, &stored, graceful)
}

/// Two metrics, the running experiment `soak`, the model `ranker` with a version.
fn setup(run: &Run) -> Result<(), Box<dyn Error>> {
    let agent = agent();
    let steps = [
        (
            "/v1/metrics",
            json!({"name": "bookings", "kind": "proportion", "event": "booking", "direction": "increase"}),
            201,
        ),
        (
            "/v1/metrics",
            json!({"name": "revenue", "kind": "mean", "event": "revenue", "direction": "increase"}),
            201,
        ),
        ("/v1/experiments", experiment("soak"), 201),
        ("/v1/experiments/soak/start", Value::Null, 200),
        ("/v1/models", json!({"name": "ranker"}), 201),
    ];
    for (path, body, want) in steps {
        let text = (!body.is_null()).then(|| body.to_string());
        let (status, answer) = run.call(&agent, "POST", path, "setup", text.as_deref());
        if status != want {
            return Err(format!("POST {path}: {status} {answer}").into());
        }
    }
    Ok(())
}

fn experiment(key: &str) -> Value {
    json!({"key": key, "hypothesis": "the soak's arms",
           "variants": [{"name": "control", "weight": 0.5}, {"name": "treatment", "weight": 0.5}],
           "metrics": {"primary": "bookings", "guardrails": ["revenue"]}})
}

/// Batches of 500 metric events with ids `s{client}-{batch}-{i}`; one in 20 sent again.
fn ingest(run: &Run, client: usize) {
    let agent = agent();
    let mut previous: Option<String> = None;
    let mut batch = 0u64;
    // Each of the two clients sends half the rate: batch n is due at n * 500 / (rate / 2) s.
    let per_client = (run.events_per_second as f64 / 2.0).max(1.0);
    while run.running() {
        let due = run.started + Duration::from_secs_f64(batch as f64 * 500.0 / per_client);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait.min(run.deadline.saturating_duration_since(Instant::now())));
            continue;
        }
        if let (Some(body), true) = (&previous, batch % 20 == 19) {
            let (status, answer) = run.call(
                &agent,
                "POST",
                "/v1/events",
                "POST /v1/events (retry)",
                Some(body),
            );
            if status == 200 && !answer.contains("\"accepted\":0") {
                run.fail(format!("a retried batch was accepted again: {answer}"));
            }
        }
        let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let ids: Vec<String> = (0..500).map(|i| format!("s{client}-{batch}-{i}")).collect();
        let events: Vec<String> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let unit = (batch * 7919 + i as u64 * 104_729) % 50_000;
                let (event, value) = if i % 5 == 0 { ("booking", 1.0) } else { ("revenue", (i % 97) as f64) };
                format!(r#"{{"type":"metric","id":"{id}","unit":"u{unit}","event":"{event}","value":{value},"ts":"{ts}"}}"#)
            })
            .collect();
        let body = format!("[{}]", events.join(","));
        let (status, _) = run.call(&agent, "POST", "/v1/events", "POST /v1/events", Some(&body));
        if status == 200 {
            run.acknowledged
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend(ids);
        }
        previous = Some(body);
        batch += 1;
    }
}

fn decide(run: &Run) {
    let agent = agent();
    let mut n = 0u64;
    while run.running() {
        let body = format!(r#"{{"unit": "u{}"}}"#, n % 50_000);
        run.call(&agent, "POST", "/v1/decide", "POST /v1/decide", Some(&body));
        n += 1;
    }
}

fn read_results(run: &Run) {
    let agent = agent();
    let mut n = 0u64;
    while run.running() {
        let (path, route) = match n % 2 {
            0 => ("/v1/experiments/soak/results", "GET /results"),
            _ => (
                "/v1/experiments/soak/results?series=false",
                "GET /results?series=false",
            ),
        };
        run.call(&agent, "GET", path, route, None);
        n += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Experiments created, started, read and stopped; versions registered and refused.
fn change(run: &Run) {
    let agent = agent();
    let mut n = 0u64;
    while run.running() {
        let key = format!("c{n}");
        let body = experiment(&key).to_string();
        run.call(
            &agent,
            "POST",
            "/v1/experiments",
            "POST /v1/experiments",
            Some(&body),
        );
        run.call(
            &agent,
            "POST",
            &format!("/v1/experiments/{key}/start"),
            "POST start",
            None,
        );
        run.call(
            &agent,
            "GET",
            &format!("/v1/experiments/{key}/results"),
            "GET /results (new)",
            None,
        );
        run.call(
            &agent,
            "POST",
            &format!("/v1/experiments/{key}/stop"),
            "POST stop",
            None,
        );
        let version =
            json!({"version": format!("v{n}"), "artifact": format!("s3://models/ranker/v{n}")}).to_string();
        run.call(
            &agent,
            "POST",
            "/v1/models/ranker/versions",
            "POST versions",
            Some(&version),
        );
        let promote = json!({"version": format!("v{n}")}).to_string();
        let (status, answer) = run.call(
            &agent,
            "POST",
            "/v1/models/ranker/promote",
            "POST promote (refused)",
            Some(&promote),
        );
        if (200..300).contains(&status) {
            run.fail(format!("a version without a trial was promoted: {answer}"));
        }
        n += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn resident_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Every stored metric event id and how many times it is stored, by `rctgate export`.
fn stored_ids(bin: &str, dir: &Path, db: &Path) -> Result<HashMap<String, u32>, Box<dyn Error>> {
    let out = dir.join("soak-export");
    let _ = std::fs::remove_dir_all(&out);
    let exported = Command::new(bin)
        .arg("export")
        .arg(&out)
        .args(["--format", "csv", "--db"])
        .arg(db)
        .output()?;
    if !exported.status.success() {
        return Err(format!("rctgate export: {}", String::from_utf8_lossy(&exported.stderr)).into());
    }
    let csv = std::fs::read_to_string(out.join("metric_events.csv"))?;
    let mut ids = HashMap::new();
    for line in csv.lines().skip(1) {
        let id = line.split(',').next().unwrap_or_default().to_string();
        *ids.entry(id).or_insert(0) += 1;
    }
    std::fs::remove_dir_all(&out)?;
    Ok(ids)
}

fn median(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

fn report(
    run: &Run,
    memory: &[(u64, u64)],
    stored: &HashMap<String, u32>,
    graceful: bool,
) -> Result<(), Box<dyn Error>> {
    let samples = run
        .samples
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut by_route: BTreeMap<(&str, u64), Vec<f64>> = BTreeMap::new();
    for sample in samples.iter() {
        by_route
            .entry((sample.route, sample.minute))
            .or_default()
            .push(sample.millis);
    }
    println!(
        "{:<28} {:>6} {:>8} {:>9} {:>9}",
        "route", "minute", "requests", "p50 ms", "p99 ms"
    );
    for ((route, minute), millis) in &mut by_route {
        millis.sort_by(f64::total_cmp);
        let at = |q: f64| millis[((millis.len() - 1) as f64 * q).round() as usize];
        println!(
            "{route:<28} {minute:>6} {:>8} {:>9.1} {:>9.1}",
            millis.len(),
            at(0.5),
            at(0.99)
        );
    }
    println!();
    println!("resident memory (MiB), every 10 s:");
    let curve: Vec<String> = memory
        .iter()
        .filter(|(second, _)| second % 10 == 0)
        .map(|(second, kb)| format!("{second}s {}", kb >> 10))
        .collect();
    println!("  {}", curve.join(", "));
    let quarter = |q: usize| -> u64 {
        let n = memory.len();
        let mut values: Vec<u64> = memory[n * q / 4..n * (q + 1) / 4]
            .iter()
            .map(|(_, kb)| *kb)
            .collect();
        median(&mut values)
    };
    let (second, last) = (quarter(1), quarter(3));
    let growth = last as f64 / second.max(1) as f64;
    println!(
        "memory after warm-up: median of the second quarter {} MiB, of the last {} MiB: {growth:.2}x",
        second >> 10,
        last >> 10
    );

    let acknowledged = run
        .acknowledged
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let missing = acknowledged.iter().filter(|id| !stored.contains_key(*id)).count();
    let repeated = stored.values().filter(|count| **count > 1).count();
    let failures = run.failures.load(Ordering::Relaxed);
    println!(
        "events: {} acknowledged, {} stored, {missing} acknowledged but missing, {repeated} stored more than once",
        acknowledged.len(),
        stored.len()
    );
    println!(
        "requests: {}, 5xx or lost: {failures}; server stopped {}",
        samples.len(),
        if graceful { "gracefully" } else { "by SIGKILL" }
    );
    for failure in run
        .first_failures
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
    {
        println!("  failure: {failure}");
    }
    println!(
        "soak_seconds {}",
        run.deadline.duration_since(run.started).as_secs()
    );
    println!("soak_requests {}", samples.len());
    println!("soak_events_acknowledged {}", acknowledged.len());
    println!("soak_failures {failures}");
    println!("soak_memory_growth {growth:.3}");
    let mut failed = Vec::new();
    if missing > 0 || repeated > 0 {
        failed.push("acknowledged events are not stored exactly once");
    }
    if failures > 0 {
        failed.push("requests failed with a 5xx or a lost connection (or a check of an answer failed)");
    }
    if growth > 1.5 {
        failed.push("resident memory grew after warm-up");
    }
    if !graceful {
        failed.push("the server did not stop gracefully");
    }
    match failed.is_empty() {
        true => Ok(()),
        false => Err(failed.join("; ").into()),
    }
}
