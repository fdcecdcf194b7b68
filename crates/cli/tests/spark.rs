//! The same scorecard on Spark as on DuckDB (issue 24), against a real Spark Connect server:
//! the showcase trial (every metric kind, CUPED, latencies, quantiles, edges; see
//! `rctgate_simulate::showcase`) is stored in a file, exported to Parquet with `rctgate
//! export`, and analysed with `rctgate analyze --engine spark` over those files; every number
//! of the JSON scorecard (sums, effects, intervals, p-values, the daily series) must equal
//! DuckDB's at 1e-9 relative. Plain, triggered-only, and split by a segment.
//!
//! `.ci/run` starts the server (PyPI `pyspark`, `local[2]`, loopback) and runs this file with
//! `RCTGATE_SPARK_URL`; without it the tests say so and pass.

mod common;

use std::path::Path;

use common::*;
use rctgate_domain::{from_json_value, parse_event_batch, Experiment, Metric};
use rctgate_store::{Store, LOCAL_ACTOR};
use serde_json::Value;

/// Relative tolerance between the engines' numbers.
const TOLERANCE: f64 = 1e-9;

fn spark_url(test: &str) -> Option<String> {
    match std::env::var("RCTGATE_SPARK_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipping {test}: RCTGATE_SPARK_URL is not set (.ci/run starts a Spark Connect server and sets it)");
            None
        }
    }
}

/// A file holding the showcase trial's metrics and experiment (`triggered_only` as asked).
fn catalog(db: &Path, triggered_only: bool) -> Store {
    let store = Store::open(db).expect("store");
    for metric in rctgate_simulate::showcase::metrics() {
        let metric: Metric = from_json_value(metric).expect("metric");
        store.upsert_metric(&metric, LOCAL_ACTOR).expect("metric");
    }
    let experiment: Experiment =
        from_json_value(rctgate_simulate::showcase::experiment(triggered_only)).expect("experiment");
    store
        .create_experiment(experiment, LOCAL_ACTOR)
        .expect("experiment");
    store
}

/// A file holding the showcase trial with its events, and its export as Parquet.
fn showcase(name: &str, triggered_only: bool) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = temp_dir(name);
    let db = dir.join("rctgate.duckdb");
    {
        let store = catalog(&db, triggered_only);
        let events: Vec<String> = rctgate_simulate::events(&rctgate_simulate::showcase::scenario())
            .map(|e| e.to_json("trial").to_string())
            .collect();
        for chunk in events.chunks(20_000) {
            let body = chunk.join("\n");
            let batch = parse_event_batch(body.as_bytes(), 50_000).expect("valid events");
            store.ingest(batch).expect("ingest");
        }
    }
    let export = dir.join("export");
    let exported = rctgate(&["export", path(&export), "--format", "parquet", "--db", path(&db)]);
    assert!(exported.status.success(), "{}", stderr(&exported));
    (db, export)
}

/// `rctgate analyze trial --format json` on the file, with `extra` arguments.
fn analyze(db: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["analyze", "trial", "--format", "json", "--db", path(db)];
    args.extend_from_slice(extra);
    let output = rctgate(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).expect("JSON")
}

/// The Spark arguments over `export`'s Parquet files.
fn on_spark(url: &str, export: &Path) -> Vec<String> {
    let relation = |table: &str| format!("parquet.`{}`", export.join(format!("{table}.parquet")).display());
    vec![
        "--engine".into(),
        "spark".into(),
        "--spark-url".into(),
        url.into(),
        "--spark-exposures".into(),
        relation("exposures"),
        "--spark-metric-events".into(),
        relation("metric_events"),
    ]
}

/// Every difference between `duckdb` and `spark` at `path`: numbers beyond the tolerance,
/// anything else unequal. Times of the analysis itself are left out.
fn differences(path: &str, duckdb: &Value, spark: &Value, found: &mut Vec<String>) {
    match (duckdb, spark) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap_or(f64::NAN), b.as_f64().unwrap_or(f64::NAN));
            // Relative, with an absolute floor for figures that are 0 up to rounding (an
            // effect of exactly nothing: the engines add in different orders).
            let scale = a.abs().max(b.abs());
            if (a - b).abs() > TOLERANCE * scale && (a - b).abs() > 1e-12 {
                found.push(format!("{path}: {a} on DuckDB, {b} on Spark"));
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                if ["as_of", "generated_at"].contains(&key.as_str()) {
                    continue;
                }
                match b.get(key) {
                    Some(other) => differences(&format!("{path}.{key}"), value, other, found),
                    None => found.push(format!("{path}.{key}: missing on Spark")),
                }
            }
            for key in b.keys().filter(|key| !a.contains_key(*key)) {
                found.push(format!("{path}.{key}: only on Spark"));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (index, (a, b)) in a.iter().zip(b).enumerate() {
                differences(&format!("{path}[{index}]"), a, b, found);
            }
        }
        (a, b) if a != b => found.push(format!("{path}: {a} on DuckDB, {b} on Spark")),
        _ => {}
    }
}

fn assert_same(duckdb: &Value, spark: &Value) {
    let mut found = Vec::new();
    differences("", duckdb, spark, &mut found);
    assert!(
        found.is_empty(),
        "{} differences:\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn spark_gives_the_scorecard_duckdb_gives() {
    let Some(url) = spark_url("spark_gives_the_scorecard_duckdb_gives") else {
        return;
    };
    let (db, export) = showcase("spark-same", false);
    let spark = on_spark(&url, &export);
    let spark: Vec<&str> = spark.iter().map(String::as_str).collect();

    let duckdb_card = analyze(&db, &[]);
    let spark_card = analyze(&db, &spark);
    assert!(
        duckdb_card["cumulative"]
            .as_array()
            .is_some_and(|days| !days.is_empty()),
        "the daily series is compared too"
    );
    assert_same(&duckdb_card, &spark_card);
    // The showcase's units are few enough to be broadcast; the plan for more (the events
    // moved by unit to meet them) gives the same scorecard.
    let mut shuffled = spark.clone();
    shuffled.extend(["--spark-broadcast-units", "0"]);
    assert_same(&duckdb_card, &analyze(&db, &shuffled));

    let mut segmented = spark.clone();
    segmented.extend(["--segment", "device"]);
    let duckdb_segments = analyze(&db, &["--segment", "device"]);
    assert!(
        duckdb_segments["segments"]["values"]
            .as_array()
            .is_some_and(|v| v.len() >= 3),
        "every device is compared: {}",
        duckdb_segments["segments"]
    );
    assert_same(&duckdb_segments, &analyze(&db, &segmented));
}

#[test]
fn a_triggered_only_trial_too() {
    let Some(url) = spark_url("a_triggered_only_trial_too") else {
        return;
    };
    let (db, export) = showcase("spark-triggered", true);
    let spark = on_spark(&url, &export);
    let spark: Vec<&str> = spark.iter().map(String::as_str).collect();
    assert_same(&analyze(&db, &[]), &analyze(&db, &spark));
}

/// Runs `rctgate COMMAND --engine spark --spark-url URL --spark-exposures E
/// --spark-metric-events M` and expects exit 2 with `expected` in its one sentence.
fn refused(command: &[&str], (url, exposures, metric_events): (&str, &str, &str), expected: &str) {
    let mut args = command.to_vec();
    args.extend([
        "--engine",
        "spark",
        "--spark-url",
        url,
        "--spark-exposures",
        exposures,
        "--spark-metric-events",
        metric_events,
    ]);
    let output = rctgate(&args);
    assert_eq!(output.status.code(), Some(2), "{args:?}");
    assert!(
        stderr(&output).contains(expected),
        "{args:?}: {}",
        stderr(&output)
    );
}

#[test]
fn what_spark_cannot_read_is_named() {
    let Some(url) = spark_url("what_spark_cannot_read_is_named") else {
        return;
    };
    let (db, export) = showcase("spark-errors", false);
    let analyze = ["analyze", "trial", "--db", path(&db)];
    let events = format!("parquet.`{}`", export.join("metric_events.parquet").display());
    refused(&analyze, (&url, "no_such_table", &events), "no_such_table");
    // The metric events where exposures belong: the column named.
    refused(&analyze, (&url, &events, &events), "has no column experiment");
    refused(
        &analyze,
        ("sc://127.0.0.1:9", "x", "y"),
        "cannot reach Spark Connect at sc://127.0.0.1:9",
    );
    // A server does not start on what it cannot read.
    let serve = ["serve", "--db", path(&db), "--addr", "127.0.0.1:0"];
    refused(&serve, (&url, "no_such_exposures", &events), "no_such_exposures");
}

#[test]
fn a_server_on_spark_freezes_the_verdict_from_spark() {
    let Some(url) = spark_url("a_server_on_spark_freezes_the_verdict_from_spark") else {
        return;
    };
    let (db, export) = showcase("spark-serve", false);
    let duckdb_card = analyze(&db, &[]);
    // The server's own file has the trial but none of its events: they are in the lake.
    let bare = temp_dir("spark-serve-bare").join("rctgate.duckdb");
    drop(catalog(&bare, false));
    let admin = create_key(&bare, "admin");
    let spark = on_spark(&url, &export);
    let spark: Vec<&str> = spark.iter().map(String::as_str).collect();
    let server = Server::start_with(&bare, &spark);
    let a = Some(admin.as_str());

    // The verdict frozen at the stop is computed on Spark, from the events the file lacks.
    // `GET /results` of a running trial goes through the same analysis (`Store::analyze`).
    let (status, body) = server.call("POST", "/v1/experiments/trial/start", a, None);
    assert_eq!(status, 200, "{body}");
    // The stop computes the final scorecard on Spark before it answers: on a loaded 2-core
    // machine that can pass the common client's minute.
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(600)))
            .build(),
    );
    let stopped = agent
        .post(&format!("{}/v1/experiments/trial/stop", server.url))
        .header("Authorization", &format!("Bearer {admin}"))
        .send_empty()
        .expect("the stop answers");
    assert_eq!(stopped.status().as_u16(), 200);
    let (status, frozen) = server.call("GET", "/v1/experiments/trial/results", a, None);
    assert_eq!(status, 200, "{frozen}");
    let mut found = Vec::new();
    differences("", &duckdb_card["metrics"], &frozen["metrics"], &mut found);
    assert!(found.is_empty(), "{}", found.join("\n"));
    assert_eq!(frozen["decision"]["verdict"], duckdb_card["decision"]["verdict"]);
}

/// What needs no Spark server: the configuration's errors, each one sentence naming what to
/// give, and a server that cannot be reached, found out in milliseconds.
#[test]
fn the_spark_configuration_is_checked_before_anything_runs() {
    let dir = temp_dir("spark-config");
    let db = dir.join("rctgate.duckdb");
    drop(catalog(&db, false));
    let analyze = |extra: &[&str]| {
        let mut args = vec!["analyze", "trial", "--db", path(&db), "--engine", "spark"];
        args.extend_from_slice(extra);
        let output = rctgate_env(&args, &[("RCTGATE_SPARK_URL", "")]);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        stderr(&output)
    };
    let missing = analyze(&[]);
    assert!(missing.contains("--engine spark needs --spark-url"), "{missing}");

    let config = dir.join("spark.toml");
    std::fs::write(&config, "[warehouse]\nurl = \"x\"\n").expect("write");
    let unknown = analyze(&["--engine-config", path(&config)]);
    assert!(unknown.contains("warehouse"), "{unknown}");
    std::fs::write(
        &config,
        "[spark]\nurl = \"sc://127.0.0.1:9\"\nexposures = \"lake.exposures\"\n",
    )
    .expect("write");
    let partial = analyze(&["--engine-config", path(&config)]);
    assert!(
        partial.contains("--spark-metric-events, or metric_events"),
        "{partial}"
    );
    // The file gives the URL and the exposures, a flag the rest.
    let unreachable = analyze(&[
        "--engine-config",
        path(&config),
        "--spark-metric-events",
        "lake.events",
    ]);
    assert!(
        unreachable.contains("cannot reach Spark Connect at sc://127.0.0.1:9"),
        "{unreachable}"
    );
    std::fs::write(
        &config,
        "[spark]\nurl = \"http://spark:15002\"\nexposures = \"e\"\nmetric_events = \"m\"\n",
    )
    .expect("write");
    let scheme = analyze(&["--engine-config", path(&config)]);
    assert!(scheme.contains("must start with sc://"), "{scheme}");

    // A server answers with its own engine.
    let remote = rctgate_env(
        &[
            "analyze",
            "trial",
            "--server",
            "http://127.0.0.1:9",
            "--engine",
            "spark",
            "--engine-config",
            path(&config),
        ],
        &[("RCTGATE_API_KEY", "rctg_x")],
    );
    assert_eq!(remote.status.code(), Some(2));
    assert!(
        stderr(&remote).contains("--engine spark reads the experiment from --db"),
        "{}",
        stderr(&remote)
    );
}
