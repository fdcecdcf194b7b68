//! Measures bulk import against DuckDB's own ceiling, in one run on one generated file.
//!
//! `cargo run --release --example import_bench -- [ROWS] [DIR]` (default 1,000,000 rows in a
//! fresh directory under the system temp dir) generates a Parquet file and measures, each in
//! a fresh child process (modes `ceiling` and `import-only`, which reuse the file) so that
//! neither inherits the other's heap and each peak memory is its own:
//! - the ceiling: `INSERT INTO events SELECT * FROM read_parquet(...)` into a table shaped
//!   like the file, no idempotency;
//! - `Store::import_file` with validation and idempotency, then the same file again (all
//!   duplicates), then the time to reopen (reloading the id set);
//! - file sizes after a checkpoint, and this process's peak resident memory;
//! - the cost of the two id fingerprint candidates (SipHash-1-3 x2 vs SHA-256 truncated).
//!
//! Mode `generate` only writes `DIR/events.parquet`, and mode `ceiling` only times the
//! ceiling on it; `bench/run-store-bench.sh` uses both around the real `rctgate` binary.

use rctgate_domain::{from_json_str, Experiment, Metric, Scope};
use rctgate_store::{Store, LOCAL_ACTOR};
use sha2::{Digest, Sha256};
use std::error::Error;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let rows: u64 = args
        .next()
        .map(|text| text.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("rctgate-import-bench-{}", std::process::id())));
    std::fs::create_dir_all(&dir)?;
    let parquet = dir.join("events.parquet");
    let mode = args.next();
    if mode.is_some() {
        for name in [
            "ceiling.duckdb",
            "ceiling.duckdb.wal",
            "store.duckdb",
            "store.duckdb.wal",
        ] {
            let _ = std::fs::remove_file(dir.join(name));
        }
    }
    match mode.as_deref() {
        Some("ceiling") => {
            let rate = ceiling(&dir.join("ceiling.duckdb"), &parquet, rows)?;
            println!("peak resident memory: {} MB", peak_rss_mb());
            println!("rows_per_second {rate}");
            return Ok(());
        }
        Some("generate") => {
            // Only the file, for drivers (bench/run-store-bench.sh) that time other programs on it.
            let started = Instant::now();
            generate(&parquet, rows)?;
            println!(
                "generated {rows} rows in {:.1}s ({} MB): {}",
                started.elapsed().as_secs_f64(),
                mb(&parquet),
                parquet.display()
            );
            return Ok(());
        }
        Some("import-only") => {
            let rate = store_import(&dir.join("store.duckdb"), &parquet, rows)?;
            println!("peak resident memory: {} MB", peak_rss_mb());
            println!("rows_per_second {rate}");
            return Ok(());
        }
        _ => {}
    }

    let started = Instant::now();
    generate(&parquet, rows)?;
    println!(
        "generated {rows} rows in {:.1}s ({} MB)",
        started.elapsed().as_secs_f64(),
        mb(&parquet)
    );
    fingerprint_costs();
    // Each measurement runs in a fresh process, so neither inherits the other's heap.
    let ceiling = measure_in_child(&dir, rows, "ceiling")?;
    let ours = measure_in_child(&dir, rows, "import-only")?;
    println!(
        "import / ceiling: {:.0}% of the ceiling's rows/s",
        100.0 * ours / ceiling
    );
    Ok(())
}

/// Runs this program in `mode` on the same file and returns the rows/s it reports.
fn measure_in_child(dir: &Path, rows: u64, mode: &str) -> Result<f64, Box<dyn Error>> {
    for name in [
        "ceiling.duckdb",
        "ceiling.duckdb.wal",
        "store.duckdb",
        "store.duckdb.wal",
    ] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    let output = std::process::Command::new(std::env::current_exe()?)
        .arg(rows.to_string())
        .arg(dir)
        .arg(mode)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut rate = None;
    for line in stdout.lines() {
        match line.strip_prefix("rows_per_second ") {
            Some(value) => rate = value.parse::<f64>().ok(),
            None => println!("{line}"),
        }
    }
    rate.ok_or_else(|| format!("{mode} failed: {}", String::from_utf8_lossy(&output.stderr)).into())
}

/// Events like a real trial: a third exposures, the rest metric events, one attribute.
fn generate(path: &Path, rows: u64) -> Result<(), Box<dyn Error>> {
    let conn = duckdb::Connection::open_in_memory()?;
    conn.execute_batch(&format!(
        "COPY (
            SELECT
                CASE WHEN i % 3 = 0 THEN 'exposure' ELSE 'metric' END AS type,
                'evt-' || i AS id,
                'user-' || (hash(i // 3) % {units}) AS unit,
                CASE WHEN i % 3 = 0 THEN 'ranker' END AS experiment,
                CASE WHEN i % 3 = 0 THEN (CASE WHEN hash(i // 3) % 2 = 0 THEN 'control' ELSE 'treatment' END) END AS variant,
                TIMESTAMP '2026-11-01 00:00:00' + INTERVAL (i // 10) SECOND AS ts,
                CASE WHEN i % 3 = 0 THEN hash(i) % 4 = 0 END AS triggered,
                CASE WHEN i % 3 = 1 THEN 'click' WHEN i % 3 = 2 THEN 'booking' END AS event,
                CASE WHEN i % 3 <> 0 THEN round((hash(i) % 10000) / 100.0, 2) END AS value,
                CASE hash(i) % 3 WHEN 0 THEN 'mobile' WHEN 1 THEN 'desktop' ELSE 'tablet' END AS device
            FROM range({rows}) t(i)
        ) TO '{}' (FORMAT parquet)",
        path.display(),
        units = (rows / 10).max(1),
    ))?;
    Ok(())
}

fn ceiling(db: &Path, parquet: &Path, rows: u64) -> Result<f64, Box<dyn Error>> {
    let conn = duckdb::Connection::open(db)?;
    let source = format!("read_parquet('{}')", parquet.display());
    conn.execute_batch(&format!("CREATE TABLE events AS SELECT * FROM {source} LIMIT 0"))?;
    let started = Instant::now();
    let cpu_before = process_cpu_seconds();
    conn.execute_batch(&format!("INSERT INTO events SELECT * FROM {source}"))?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "ceiling used {:.2} CPU-seconds",
        process_cpu_seconds() - cpu_before
    );
    conn.execute_batch("CHECKPOINT")?;
    drop(conn);
    let rate = rows as f64 / seconds;
    println!(
        "ceiling INSERT ... SELECT * FROM read_parquet: {seconds:.2}s, {:.0}k rows/s, file {} MB",
        rate / 1e3,
        mb(db)
    );
    Ok(rate)
}

fn store_import(db: &Path, parquet: &Path, rows: u64) -> Result<f64, Box<dyn Error>> {
    let store = Store::open(db)?;
    store.create_key(&rctgate_domain::KeySpec::scopes(Scope::Admin), LOCAL_ACTOR)?;
    for name in ["bookings", "clicks"] {
        let metric: Metric = from_json_str(&format!(
            r#"{{"name": "{name}", "kind": "mean", "event": "{}", "direction": "increase"}}"#,
            name.trim_end_matches('s')
        ))?;
        store.upsert_metric(&metric, LOCAL_ACTOR)?;
    }
    let experiment: Experiment = from_json_str(
        r#"{"key": "ranker", "hypothesis": "h",
            "variants": [{"name": "control", "weight": 0.5}, {"name": "treatment", "weight": 0.5}],
            "metrics": {"primary": "bookings", "proxies": ["clicks"]}}"#,
    )?;
    store.create_experiment(experiment, LOCAL_ACTOR)?;

    let started = Instant::now();
    let cpu_before = process_cpu_seconds();
    let outcome = store.import_file(parquet, &mut |_| {})?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "import used {:.2} CPU-seconds",
        process_cpu_seconds() - cpu_before
    );
    let rate = rows as f64 / seconds;
    println!(
        "Store::import_file (validated, idempotent): {seconds:.2}s, {:.0}k rows/s, accepted {}",
        rate / 1e3,
        outcome.accepted
    );
    let started = Instant::now();
    let again = store.import_file(parquet, &mut |_| {})?;
    println!(
        "same file again: {:.2}s, duplicates {}",
        started.elapsed().as_secs_f64(),
        again.duplicates
    );
    drop(store);
    let started = Instant::now();
    let store = Store::open(db)?;
    println!(
        "reopen with {} ids: {:.2}s",
        store.event_count()?,
        started.elapsed().as_secs_f64()
    );
    let reader = store.read_connection()?;
    reader.execute_batch("CHECKPOINT")?;
    drop(reader);
    drop(store);
    println!("store file {} MB", mb(db));
    Ok(rate)
}

/// Per-id cost of the fingerprint candidates.
fn fingerprint_costs() {
    let ids: Vec<String> = (0..1_000_000).map(|n| format!("evt-{n}")).collect();
    let keys = RandomState::new();
    let started = Instant::now();
    let mut fold = 0u128;
    for id in &ids {
        let half = |tag: u8| {
            let mut hasher = keys.build_hasher();
            hasher.write_u8(tag);
            hasher.write(id.as_bytes());
            hasher.finish()
        };
        fold ^= (u128::from(half(0)) << 64) | u128::from(half(1));
    }
    let siphash = started.elapsed().as_nanos() as f64 / ids.len() as f64;
    let started = Instant::now();
    for id in &ids {
        let digest = Sha256::digest(id.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        fold ^= u128::from_le_bytes(bytes);
    }
    let sha = started.elapsed().as_nanos() as f64 / ids.len() as f64;
    println!(
        "fingerprint per id: SipHash-1-3 x2 {siphash:.0} ns, SHA-256/128 {sha:.0} ns (fold {})",
        fold & 1
    );
}

fn mb(path: &Path) -> u64 {
    std::fs::metadata(path).map(|meta| meta.len() >> 20).unwrap_or(0)
}

fn peak_rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb >> 10)
}

/// User + system CPU time of this process so far (Linux; 0 elsewhere).
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
