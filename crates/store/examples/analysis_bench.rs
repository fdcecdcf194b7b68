//! The analysis benchmark (BENCHMARKS.md, "Analysis"): a simulated trial of 1M units and
//! about 20M events, then the whole scorecard timed.
//!
//! ```text
//! analysis_bench generate DB [UNITS]   # the trial, through the store's real import
//! analysis_bench more DB FROM COUNT    # the events of units FROM.. (traffic since)
//! analysis_bench run DB [RUNS]         # time Store::analyze; print JSON with the timings
//! ```
//! `bench/run-analysis-bench.sh` runs both and the plain pipeline (`bench/analysis_plain.py`:
//! one DuckDB query per metric, then gbstats) on the same file in the same run.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Utc};
use rctgate_domain::{from_json_value, Experiment, Metric};
use rctgate_simulate::{unit_events, Scenario, SimMetric};
use rctgate_store::{AnalyzeOptions, Store, LOCAL_ACTOR};
use serde_json::json;

const EXPERIMENT: &str = "ranker-bench";

fn sim(
    event: &str,
    rate: f64,
    lift: f64,
    value: Option<(f64, f64)>,
    window_hours: f64,
    pre_days: u32,
) -> SimMetric {
    SimMetric {
        event: event.into(),
        rate,
        lifts: vec![1.0, lift],
        value,
        window_hours,
        pre_days,
        late_share: 0.1,
    }
}

fn scenario(units: usize) -> Scenario {
    let start = DateTime::parse_from_rfc3339("2026-10-01T00:00:00Z")
        .map_or(DateTime::<Utc>::UNIX_EPOCH, |t| t.with_timezone(&Utc));
    let mut scenario = Scenario::two_arms(
        EXPERIMENT,
        units,
        start,
        vec![
            sim("booking", 0.4, 1.03, None, 168.0, 14),
            sim("revenue", 0.6, 1.02, Some((4.0, 0.8)), 168.0, 14),
            sim("session", 8.0, 1.0, None, 168.0, 0),
            sim("click", 8.0, 1.05, None, 72.0, 0),
            sim("cancel", 0.1, 1.0, None, 168.0, 0),
        ],
    );
    scenario.repeat_exposures = 2;
    scenario.two_variant_share = 0.001;
    scenario.attribute = Some(rctgate_simulate::showcase::devices());
    // Every exposure carries the model's latency (its own generator: the other events are
    // the same with or without it).
    scenario.latency = Some(rctgate_simulate::SimLatency {
        mu: 3.9,
        sigma: 0.5,
        multipliers: vec![1.0, 1.05],
    });
    // And the model's score, so that the output distributions have work to do.
    scenario.outputs = Some(vec![
        rctgate_simulate::SimOutputs::Bimodal,
        rctgate_simulate::SimOutputs::Bimodal,
    ]);
    scenario
}

/// The bench experiment with two latency guardrails more (a p95 and a mean per request over
/// the exposures' `latency_ms`), for timing what they add to the same scorecard.
/// `BENCH_LATENCY_GUARDRAILS` (comma-separated) names others, to time one alone.
fn with_latency_guardrails(mut experiment: Experiment) -> Experiment {
    let names =
        std::env::var("BENCH_LATENCY_GUARDRAILS").unwrap_or_else(|_| "p95_latency,mean_latency".into());
    experiment.metrics.guardrails.extend(
        names
            .split(',')
            .filter(|name| !name.is_empty())
            .map(str::to_string),
    );
    experiment
}

fn definitions() -> (Vec<Metric>, Experiment) {
    let metrics = [
        json!({"name": "bookings", "kind": "proportion", "event": "booking", "window_hours": 168,
               "direction": "increase", "cuped_days": 14}),
        json!({"name": "revenue", "kind": "mean", "event": "revenue", "window_hours": 168,
               "direction": "increase", "cuped_days": 14}),
        json!({"name": "revenue_per_session", "kind": "ratio", "event": "revenue",
               "denominator_event": "session", "window_hours": 168, "direction": "increase"}),
        json!({"name": "clicks", "kind": "count", "event": "click", "window_hours": 72, "direction": "increase"}),
        json!({"name": "cancellations", "kind": "proportion", "event": "cancel", "window_hours": 168,
               "direction": "decrease"}),
        json!({"name": "p95_latency", "kind": "quantile", "quantile": 0.95, "source": "exposure_latency",
               "window_hours": 168, "direction": "decrease"}),
        json!({"name": "mean_latency", "kind": "mean", "source": "exposure_latency", "window_hours": 168,
               "direction": "decrease"}),
    ]
    .into_iter()
    .map(|value| from_json_value(value).expect("bench metric"))
    .collect();
    let experiment = from_json_value(json!({
        "key": EXPERIMENT, "hypothesis": "The benchmark trial.",
        "variants": [{"name": "control", "weight": 0.5}, {"name": "treatment", "weight": 0.5}],
        "metrics": {"primary": "bookings", "guardrails": ["cancellations"], "proxies": ["clicks"],
                    "secondary": ["revenue", "revenue_per_session"]},
        "analysis": {"method": "sequential", "start": "2026-10-01T00:00:00Z", "end": "2026-10-16T00:00:00Z"}
    }))
    .expect("bench experiment");
    (metrics, experiment)
}

fn generate(db: &Path, units: usize) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::open(db)?;
    let (metrics, experiment) = definitions();
    for metric in &metrics {
        store.upsert_metric(metric, LOCAL_ACTOR)?;
    }
    store.apply_experiment(experiment, LOCAL_ACTOR)?;
    import_units(&store, db, 0..units)
}

/// Imports the events of the units numbered `indices` (each unit's events depend only on its
/// number) through the store's CSV import.
fn import_units(
    store: &Store,
    db: &Path,
    indices: std::ops::Range<usize>,
) -> Result<(), Box<dyn std::error::Error>> {
    let scenario = scenario(indices.end);
    let csv = db.with_extension("events.csv");
    let mut out = BufWriter::new(std::fs::File::create(&csv)?);
    writeln!(out, "{}", rctgate_simulate::SimEvent::csv_header(Some("device")))?;
    let mut events = 0usize;
    let units = indices.len();
    for index in indices {
        for event in unit_events(&scenario, index) {
            writeln!(out, "{}", event.csv_row(EXPERIMENT, Some("device")))?;
            events += 1;
        }
    }
    out.flush()?;
    drop(out);
    let started = Instant::now();
    let outcome = store.import_file(&csv, &mut |_| {})?;
    eprintln!(
        "generated {units} units, {events} events; imported {} in {:.1} s",
        outcome.accepted,
        started.elapsed().as_secs_f64()
    );
    std::fs::remove_file(&csv)?;
    Ok(())
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn run(db: &Path, runs: usize) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::open(db)?;
    let rss_open = peak_rss_mib();
    let mut seconds = Vec::new();
    let mut with_series = Vec::new();
    let mut verdict = String::new();
    let metrics_only = AnalyzeOptions {
        segment: None,
        series: false,
        ..AnalyzeOptions::default()
    };
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let card = store.analyze(EXPERIMENT, &metrics_only)?;
        seconds.push(started.elapsed().as_secs_f64());
        verdict = card.decision.verdict.as_str().to_string();
        let started = Instant::now();
        store.analyze(EXPERIMENT, &AnalyzeOptions::default())?;
        with_series.push(started.elapsed().as_secs_f64());
    }
    seconds.sort_by(f64::total_cmp);
    with_series.sort_by(f64::total_cmp);
    let card = serde_json::to_value(store.analyze(EXPERIMENT, &metrics_only)?)?;
    let effects: Vec<serde_json::Value> = card["metrics"]
        .as_array()
        .map(|metrics| {
            metrics
                .iter()
                .map(|m| json!({"name": m["name"], "treatment": m["variants"][1]}))
                .collect()
        })
        .unwrap_or_default();
    println!(
        "{}",
        json!({
            "units": card["units"], "seconds": seconds, "median_seconds": seconds[seconds.len() / 2],
            "with_series_seconds": with_series, "with_series_median_seconds": with_series[with_series.len() / 2],
            "verdict": verdict, "peak_rss_mib_after_open": rss_open, "peak_rss_mib": peak_rss_mib(),
            "metrics": effects,
        })
    );
    Ok(())
}

/// The scorecard (metrics only) without and with the two latency guardrails, alternating
/// `runs` times on the same file: what the latency metrics (their own queries) and each arm's
/// latency summary add. Leaves the experiment as it was.
fn latency(db: &Path, runs: usize) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::open(db)?;
    let base = store.get_experiment(EXPERIMENT)?;
    let guarded = with_latency_guardrails(base.clone());
    let options = AnalyzeOptions {
        segment: None,
        series: false,
        ..AnalyzeOptions::default()
    };
    let (mut without, mut with) = (Vec::new(), Vec::new());
    let timed = |experiment: &Experiment,
                 into: &mut Vec<f64>|
     -> Result<serde_json::Value, Box<dyn std::error::Error>> {
        store.replace_experiment(EXPERIMENT, experiment.clone(), LOCAL_ACTOR)?;
        let started = Instant::now();
        let card = store.analyze(EXPERIMENT, &options)?;
        into.push(started.elapsed().as_secs_f64());
        Ok(serde_json::to_value(card)?)
    };
    let mut card = serde_json::Value::Null;
    // Alternating which goes first, so that neither always follows the other.
    for round in 0..runs.max(1) {
        if round % 2 == 0 {
            timed(&base, &mut without)?;
            card = timed(&guarded, &mut with)?;
        } else {
            card = timed(&guarded, &mut with)?;
            timed(&base, &mut without)?;
        }
    }
    store.replace_experiment(EXPERIMENT, base, LOCAL_ACTOR)?;
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let guardrails: Vec<serde_json::Value> = card["metrics"]
        .as_array()
        .map(|metrics| {
            metrics
                .iter()
                .filter(|m| m["name"] == "p95_latency" || m["name"] == "mean_latency")
                .map(|m| json!({"name": m["name"], "treatment": m["variants"][1], "guardrail": m["guardrail"]}))
                .collect()
        })
        .unwrap_or_default();
    let (without_s, with_s) = (median(&mut without), median(&mut with));
    println!(
        "{}",
        json!({
            "without_latency_seconds": without, "with_latency_seconds": with,
            "median_without": without_s, "median_with": with_s, "ratio": with_s / without_s,
            "latency": card["latency"], "guardrails": guardrails,
        })
    );
    Ok(())
}

/// Writes the two event tables as Parquet into `dir`, for the plain pipeline: the Python
/// DuckDB build cannot open this build's database file, so it loads the same rows into its
/// own file (untimed) and runs its queries there.
fn export(db: &Path, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::open(db)?;
    let conn = store.read_connection()?;
    for table in ["exposures", "metric_events"] {
        let file = dir.join(format!("{table}.parquet"));
        conn.execute_batch(&format!("COPY {table} TO '{}' (FORMAT parquet)", file.display()))?;
    }
    Ok(())
}

/// Times each generated query alone and prints DuckDB's profile of it (for tuning).
fn explain(db: &Path) -> Result<(), Box<dyn std::error::Error>> {
    use rctgate_analysis::{DuckDb, ExposureWindow, Plan};
    let store = Store::open(db)?;
    let mut experiment = store.get_experiment(EXPERIMENT)?;
    if std::env::var("BENCH_LATENCY_GUARDRAILS").is_ok() {
        experiment = with_latency_guardrails(experiment);
    }
    let plan = Plan::new(
        &experiment,
        |name| store.get_metric(name).ok(),
        ExposureWindow::of(&experiment, chrono::Utc::now()),
        None,
    )?;
    let conn = store.read_connection()?;
    if let Ok(settings) = std::env::var("BENCH_SETTINGS") {
        conn.execute_batch(&settings)?;
    }
    for (name, sql) in [
        ("scorecard", plan.scorecard_sql(&DuckDb)),
        ("daily", plan.daily_sql(&DuckDb)),
    ] {
        let started = Instant::now();
        let mut statement = conn.prepare(&sql)?;
        let rows = statement.query_map([], |_| Ok(()))?.count();
        eprintln!("{name}: {rows} rows in {:.3} s", started.elapsed().as_secs_f64());
        let profile = db.with_extension(format!("{name}.profile.json"));
        conn.execute_batch(&format!(
            "PRAGMA enable_profiling = 'json'; PRAGMA profiling_output = '{}';",
            profile.display()
        ))?;
        conn.prepare(&sql)?.query_map([], |_| Ok(()))?.for_each(drop);
        conn.execute_batch("PRAGMA disable_profiling;")?;
        println!("-- {name} (profile in {})\n{sql}", profile.display());
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("generate"), Some(db)) => {
            let units = args.get(3).map(|n| n.parse()).transpose()?.unwrap_or(1_000_000);
            generate(Path::new(db), units)
        }
        (Some("more"), Some(db)) => {
            // New units' events, as traffic since the last analysis.
            let from: usize = args.get(3).ok_or("usage: analysis_bench more DB FROM COUNT")?.parse()?;
            let count: usize = args.get(4).ok_or("usage: analysis_bench more DB FROM COUNT")?.parse()?;
            import_units(&Store::open(Path::new(db))?, Path::new(db), from..from + count)
        }
        (Some("run"), Some(db)) => {
            let runs = args.get(3).map(|n| n.parse()).transpose()?.unwrap_or(5);
            run(Path::new(db), runs)
        }
        (Some("explain"), Some(db)) => explain(Path::new(db)),
        (Some("guardrails"), Some(db)) => {
            // Stores the experiment with the latency guardrails, for whole-process timing.
            let store = Store::open(Path::new(db))?;
            store.apply_experiment(with_latency_guardrails(store.get_experiment(EXPERIMENT)?), LOCAL_ACTOR)?;
            Ok(())
        }
        (Some("latency"), Some(db)) => {
            let runs = args.get(3).map(|n| n.parse()).transpose()?.unwrap_or(5);
            latency(Path::new(db), runs)
        }
        (Some("export"), Some(db)) => {
            let dir = args.get(3).ok_or("usage: analysis_bench export DB DIR")?;
            export(Path::new(db), Path::new(dir))
        }
        _ => Err(
            "usage: analysis_bench generate DB [UNITS] | more DB FROM COUNT | run DB [RUNS] | latency DB [RUNS] | explain DB | guardrails DB | export DB DIR"
                .into(),
        ),
    }
}
