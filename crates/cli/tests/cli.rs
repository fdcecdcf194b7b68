//! The command line as users run it: `stats`, `power`, `apply`, `experiment`,
//! `import`, `keys`; exit codes and one-sentence errors.

mod common;

use common::*;
use std::io::Write;
use std::process::{Command, Stdio};

fn stats_stdin(input: &str) -> std::process::Output {
    let mut child = Command::new(BIN)
        .args(["stats", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    child.wait_with_output().expect("wait")
}

const SPEC_EXAMPLE: &str = r#"{"metric": {"kind": "proportion", "cuped": false},
 "method": "frequentist", "difference": "relative",
 "alpha": 0.05, "sequential_tuning": 5000, "expected_weights": [0.5, 0.5],
 "variants": [{"name": "control", "n": 10000, "sum": 230, "sum_squares": 230},
              {"name": "treatment", "n": 10000, "sum": 290, "sum_squares": 290}]}"#;

#[test]
fn stats_prints_the_spec_shape() {
    let out = stats_stdin(SPEC_EXAMPLE);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(v["srm_p_value"].as_f64().is_some());
    let control = &v["variants"][0];
    assert_eq!(control["name"], "control");
    assert!(control.get("effect").is_none(), "control carries no comparison");
    let t = &v["variants"][1];
    for field in [
        "name",
        "n",
        "mean",
        "variance",
        "effect",
        "ci_low",
        "ci_high",
        "p_value",
        "chance_to_win",
    ] {
        assert!(t.get(field).is_some(), "{field} missing: {t}");
    }
    // gbstats 0.8.0 TwoSidedTTest on the same sums: 0.2608695652173914, p 0.0176120113046625.
    assert!((t["effect"].as_f64().unwrap_or(0.0) - 0.2608695652173914).abs() < 1e-12);
    assert!((t["p_value"].as_f64().unwrap_or(0.0) - 0.0176120113046625).abs() < 1e-9);
    assert!(t["chance_to_win"].is_null());
    // From a file too.
    let dir = temp_dir("stats-file");
    let file = dir.join("req.json");
    std::fs::write(&file, SPEC_EXAMPLE).expect("write");
    let again = rctgate(&["stats", path(&file)]);
    assert_eq!(again.stdout, out.stdout);
}

#[test]
fn stats_bad_input_exits_2_naming_the_field() {
    let cases = [
        ("{not json", "JSON"),
        (
            &SPEC_EXAMPLE.replace("\"n\": 10000, \"sum\": 230", "\"n\": 1, \"sum\": 0"),
            "variants[0].n",
        ),
        (
            &SPEC_EXAMPLE.replace("\"alpha\": 0.05", "\"alpha\": 1.5"),
            "alpha",
        ),
        (
            &SPEC_EXAMPLE.replace("[0.5, 0.5]", "[0.5, 0.25, 0.25]"),
            "expected_weights",
        ),
        (
            &SPEC_EXAMPLE.replace("\"sum\": 290", "\"sum\": -3"),
            "variants[1].sum",
        ),
        (
            &SPEC_EXAMPLE.replace("\"kind\": \"proportion\"", "\"kind\": \"ratio\""),
            "den_sum",
        ),
        (
            &SPEC_EXAMPLE.replace("\"cuped\": false", "\"cuped\": true"),
            "pre_sum",
        ),
    ];
    for (input, field) in cases {
        let out = stats_stdin(input);
        assert_eq!(out.status.code(), Some(2), "{input}");
        let err = stderr(&out);
        assert!(err.contains(field), "stderr names {field}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
        assert!(out.stdout.is_empty());
    }
    let missing = rctgate(&["stats", "/nonexistent/req.json"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("/nonexistent/req.json"));
}

/// A p95 latency in gbstats' own fields: control 120 ms, treatment 126 ms, 20,000 events
/// from 5,000 users each (the bounds are the order statistics at ranks n·0.95 ± 1.96 sd).
const QUANTILE_EXAMPLE: &str = r#"{"metric": {"kind": "quantile", "quantile": 0.95, "direction": "decrease"},
 "method": "frequentist", "difference": "relative",
 "variants": [
  {"name": "control", "n": 20000, "n_star": 20000, "quantile_hat": 120.0,
   "quantile_lower": 118.4, "quantile_upper": 121.7,
   "main_sum": 19000, "main_sum_squares": 80000, "denominator_sum": 20000,
   "denominator_sum_squares": 88000, "main_denominator_sum_product": 83800, "n_clusters": 5000},
  {"name": "treatment", "n": 20000, "n_star": 20000, "quantile_hat": 126.0,
   "quantile_lower": 124.2, "quantile_upper": 127.9,
   "main_sum": 19000, "main_sum_squares": 80000, "denominator_sum": 20000,
   "denominator_sum_squares": 88000, "main_denominator_sum_product": 83800, "n_clusters": 5000}]}"#;

#[test]
fn stats_takes_a_quantile_and_refuses_bad_quantile_fields() {
    let out = stats_stdin(QUANTILE_EXAMPLE);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let t = &v["variants"][1];
    assert!((t["effect"].as_f64().unwrap_or(0.0) - 0.05).abs() < 1e-12, "{t}");
    assert!(t["p_value"].as_f64().is_some_and(|p| p > 0.0 && p < 1.0), "{t}");
    assert_eq!(v["variants"][0]["mean"], 120.0);
    let cases = [
        (
            QUANTILE_EXAMPLE.replace("\"quantile\": 0.95", "\"quantile\": 1.2"),
            "metric.quantile",
        ),
        (
            QUANTILE_EXAMPLE.replace(", \"quantile\": 0.95", ""),
            "metric.quantile",
        ),
        (
            QUANTILE_EXAMPLE.replace("\"quantile_lower\": 118.4", "\"quantile_lower\": 120.5"),
            "variants[0].quantile_lower",
        ),
        (
            QUANTILE_EXAMPLE.replacen("\"n_star\": 20000, ", "", 1),
            "variants[0].n_star",
        ),
        (
            QUANTILE_EXAMPLE.replacen(", \"n_clusters\": 5000", "", 1),
            "variants[0].n_clusters",
        ),
        (
            QUANTILE_EXAMPLE.replacen("\"n_clusters\": 5000", "\"n_clusters\": 30000", 1),
            "variants[0].n_clusters",
        ),
        (
            QUANTILE_EXAMPLE.replace("\"quantile_hat\": 126.0", "\"quantile_hat\": \"fast\""),
            "variants[1].quantile_hat",
        ),
        (
            SPEC_EXAMPLE.replace("\"cuped\": false", "\"quantile\": 0.5"),
            "metric.quantile",
        ),
        (SPEC_EXAMPLE.replacen("\"sum\": 230, ", "", 1), "variants[0].sum"),
    ];
    for (input, field) in cases {
        let out = stats_stdin(&input);
        assert_eq!(out.status.code(), Some(2), "{input}");
        let err = stderr(&out);
        assert!(err.contains(field), "stderr names {field}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
    }
}

#[test]
fn power_sample_size_and_inverse() {
    let out = rctgate(&[
        "power",
        "--kind",
        "proportion",
        "--baseline",
        "0.05",
        "--mde",
        "0.05",
        "--relative",
        "--daily-units",
        "50000",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    // (z(0.975) + z(0.8))^2 * (0.05*0.95 + 0.0525*0.9475) / 0.0025^2, rounded up.
    let z: f64 = 1.959963984540054 + 0.8416212335729143;
    let expected = (z * z * (0.05 * 0.95 + 0.0525 * 0.9475) / 0.0025f64.powi(2)).ceil() as u64;
    assert_eq!(v["per_arm"].as_u64(), Some(expected));
    assert_eq!(v["total"].as_u64(), Some(2 * expected));
    assert_eq!(v["days"].as_u64(), Some((2 * expected).div_ceil(50_000)));
    let inverse = rctgate(&[
        "power",
        "--kind",
        "mean",
        "--baseline",
        "10",
        "--sd",
        "4",
        "--per-arm",
        "1000",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&inverse.stdout).expect("JSON");
    let mde = z * (2.0 * 16.0 / 1000.0f64).sqrt();
    assert!((v["mde"].as_f64().unwrap_or(0.0) - mde).abs() < 1e-9, "{v}");
    let bad = rctgate(&["power", "--kind", "mean", "--baseline", "10", "--mde", "1"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--sd"));
    let bad = rctgate(&[
        "power",
        "--kind",
        "proportion",
        "--baseline",
        "0.05",
        "--mde",
        "0.01",
        "--alpha",
        "2",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("alpha"));
}

/// With a trigger rate, the test runs on triggered units: the exposed units that bring enough
/// of them, or the effect detectable among them and diluted over every exposed unit.
#[test]
fn power_with_a_trigger_rate() {
    let json = |args: &[&str]| -> serde_json::Value {
        let out = rctgate(args);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    let base = ["power", "--kind", "proportion", "--baseline", "0.2"];
    let plain = json(&[&base[..], &["--mde", "0.02", "--relative"]].concat());
    let triggered = json(
        &[
            &base[..],
            &[
                "--mde",
                "0.02",
                "--relative",
                "--trigger-rate",
                "0.15",
                "--daily-units",
                "40000",
            ],
        ]
        .concat(),
    );
    let needed = plain["per_arm"].as_u64().expect("per_arm");
    assert_eq!(triggered["triggered_per_arm"].as_u64(), Some(needed));
    let exposed = (needed as f64 / 0.15).ceil() as u64;
    assert_eq!(triggered["per_arm"].as_u64(), Some(exposed), "{triggered}");
    assert_eq!(triggered["days"].as_u64(), Some((2 * exposed).div_ceil(40_000)));

    // 200,000 exposed per arm at a 15% trigger rate: the MDE of 30,000 triggered units, and a
    // diluted effect 0.15 times as large.
    let among = json(&[&base[..], &["--per-arm", "30000"]].concat());
    let effect = json(&[&base[..], &["--per-arm", "200000", "--trigger-rate", "0.15"]].concat());
    assert_eq!(effect["triggered_per_arm"].as_u64(), Some(30_000));
    let mde = among["mde"].as_f64().expect("mde");
    assert!(
        (effect["mde"].as_f64().unwrap_or(0.0) - mde).abs() < 1e-15,
        "{effect}"
    );
    assert!(
        (effect["diluted_mde"].as_f64().unwrap_or(0.0) - 0.15 * mde).abs() < 1e-15,
        "{effect}"
    );

    for rate in ["0", "1.5", "-0.1"] {
        let bad = rctgate(&[&base[..], &["--per-arm", "1000", "--trigger-rate", rate]].concat());
        assert_eq!(bad.status.code(), Some(2), "{rate}");
        assert!(stderr(&bad).contains("trigger-rate"), "{}", stderr(&bad));
    }
}

const TRIAL_TOML: &str = r#"
key = "ranker-v7"
hypothesis = "v7's ranking raises bookings"
coverage = 0.5

[[variants]]
name = "control"
weight = 0.5
payload = { model = "v6" }

[[variants]]
name = "treatment"
weight = 0.5
payload = { model = "v7" }

[metrics]
primary = "bookings"
proxies = ["clicks"]
"#;

#[test]
fn apply_experiment_commands_and_import_on_a_file() {
    let dir = temp_dir("cli-db");
    let db = dir.join("rctgate.duckdb");
    let metrics = dir.join("metrics.toml");
    let trial = dir.join("ranker-v7.toml");
    std::fs::write(&metrics, METRICS_TOML).expect("write");
    std::fs::write(&trial, TRIAL_TOML).expect("write");
    let out = rctgate(&["apply", path(&metrics), "--db", path(&db)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("metric bookings: created"),
        "{}",
        stdout(&out)
    );
    let out = rctgate(&["apply", path(&trial), "--db", path(&db)]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Applying the same file again changes nothing.
    let out = rctgate(&["apply", path(&metrics), "--db", path(&db)]);
    assert!(
        stdout(&out).contains("metric bookings: unchanged"),
        "{}",
        stdout(&out)
    );
    let out = rctgate(&["experiment", "start", "ranker-v7", "--db", path(&db)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = rctgate(&["experiment", "list", "--db", path(&db)]);
    assert!(
        stdout(&out).contains("ranker-v7") && stdout(&out).contains("running"),
        "{}",
        stdout(&out)
    );
    // A field error in a TOML file names the field.
    let broken = dir.join("broken.toml");
    std::fs::write(&broken, TRIAL_TOML.replace("coverage = 0.5", "coverage = 5.0")).expect("write");
    let out = rctgate(&["apply", path(&broken), "--db", path(&db)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("coverage"), "{}", stderr(&out));

    // Import each format.
    let csv = dir.join("events.csv");
    let mut text = String::from("type,id,unit,experiment,variant,ts,triggered,event,value,device\n");
    for i in 0..100 {
        let variant = if i % 2 == 0 { "control" } else { "treatment" };
        text.push_str(&format!(
            "exposure,c{i},u{i},ranker-v7,{variant},2026-11-20T10:00:00Z,true,,,mobile\n"
        ));
        text.push_str(&format!("metric,b{i},u{i},,,2026-11-20T11:00:00Z,,booking,1,\n"));
    }
    std::fs::write(&csv, text).expect("write");
    let out = rctgate(&["import", path(&csv), "--db", path(&db)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("200 rows, 200 accepted, 0 duplicates"),
        "{}",
        stdout(&out)
    );
    // The import kept the running trial's unit rows, which its analysis then reads.
    assert!(
        stderr(&out).contains("kept the unit rows of 1 trial not stopped"),
        "{}",
        stderr(&out)
    );
    // (Its analysis says so in its debug log; the rows' numbers equal a recomputation's:
    // `crates/store/tests/analysis.rs`.)
    let reads_kept_rows = |db: &std::path::Path| {
        let out = rctgate_env(
            &["analyze", "ranker-v7", "--db", path(db), "--format", "json"],
            &[("RUST_LOG", "rctgate_store=debug")],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        stderr(&out).contains("kept rows: found")
    };
    assert!(reads_kept_rows(&db));
    let out = rctgate(&["import", path(&csv), "--db", path(&db)]);
    assert!(
        stdout(&out).contains("200 rows, 0 accepted, 200 duplicates"),
        "{}",
        stdout(&out)
    );
    let ndjson = dir.join("events.ndjson");
    std::fs::write(&ndjson, exposures("ranker-v7", 1000, 50)).expect("write");
    let out = rctgate(&["import", path(&ndjson), "--db", path(&db)]);
    assert!(
        stdout(&out).contains("50 rows, 50 accepted"),
        "{} {}",
        stdout(&out),
        stderr(&out)
    );
    assert!(reads_kept_rows(&db));
    // Parquet, written by DuckDB as a warehouse export would be.
    let parquet = dir.join("events.parquet");
    let conn = duckdb::Connection::open_in_memory().expect("duckdb");
    conn.execute_batch(&format!(
        "COPY (SELECT 'exposure' AS type, 'p' || i AS id, 'u' || i AS unit, 'ranker-v7' AS experiment, \
         CASE WHEN i % 2 = 0 THEN 'control' ELSE 'treatment' END AS variant, \
         TIMESTAMP '2026-11-20 10:00:00' + i * INTERVAL 1 SECOND AS ts, true AS triggered, \
         NULL::VARCHAR AS event, NULL::DOUBLE AS value, 'desktop' AS device \
         FROM range(300) t(i)) TO '{}' (FORMAT parquet)",
        path(&parquet)
    ))
    .expect("write parquet");
    let out = rctgate(&["import", path(&parquet), "--db", path(&db)]);
    assert!(
        stdout(&out).contains("300 rows, 300 accepted, 0 duplicates"),
        "{} {}",
        stdout(&out),
        stderr(&out)
    );
    let out = rctgate(&["import", path(&parquet), "--db", path(&db)]);
    assert!(
        stdout(&out).contains("300 rows, 0 accepted, 300 duplicates"),
        "{}",
        stdout(&out)
    );
    // A bad row: exit 2 naming the file and the row.
    let bad = dir.join("bad.ndjson");
    let mut lines: Vec<String> = exposures("ranker-v7", 2000, 5)
        .lines()
        .map(str::to_string)
        .collect();
    lines[3] = lines[3].replace("2026-11-26T12:00:00Z", "not-a-time");
    std::fs::write(&bad, lines.join("\n")).expect("write");
    let out = rctgate(&["import", path(&bad), "--db", path(&db)]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("bad.ndjson") && err.contains('4') && err.contains("ts"),
        "{err}"
    );
    let missing = rctgate(&["import", "/nonexistent/events.csv", "--db", path(&db)]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("/nonexistent/events.csv"));

    // Export: every table, read back by another DuckDB as another tool would.
    let key = create_key(&db, "read");
    let export = dir.join("export");
    let out = rctgate(&["export", path(&export), "--format", "parquet", "--db", path(&db)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("exposures") && stdout(&out).contains("450"),
        "{}",
        stdout(&out)
    );
    let count = |file: &str| -> i64 {
        conn.query_row(
            &format!("SELECT count(*) FROM '{}'", path(&export.join(file))),
            [],
            |row| row.get(0),
        )
        .expect(file)
    };
    assert_eq!(count("exposures.parquet"), 450);
    assert_eq!(count("metric_events.parquet"), 100);
    assert_eq!(count("experiments.parquet"), 1);
    assert_eq!(count("api_keys.parquet"), 1);
    let columns: Vec<String> = conn
        .prepare(&format!(
            "DESCRIBE SELECT * FROM '{}'",
            path(&export.join("api_keys.parquet"))
        ))
        .and_then(|mut statement| statement.query_map([], |row| row.get(0))?.collect())
        .expect("columns");
    assert!(
        columns.contains(&"key_id".to_string()) && !columns.contains(&"key_hash".to_string()),
        "{columns:?}"
    );
    assert!(!std::fs::read(export.join("api_keys.parquet"))
        .expect("file")
        .windows(key.len())
        .any(|w| w == key.as_bytes()));
    let again = rctgate(&["export", path(&export), "--format", "parquet", "--db", path(&db)]);
    assert_eq!(again.status.code(), Some(2), "nothing is overwritten");
    assert!(stderr(&again).contains("exists already"), "{}", stderr(&again));
    let csv_dir = dir.join("export-csv");
    let out = rctgate(&["export", path(&csv_dir), "--format", "csv", "--db", path(&db)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(csv_dir.join("metric_events.csv")).expect("csv");
    assert_eq!(text.lines().count(), 101, "a header and every row");
}

#[test]
fn import_and_commands_through_a_server() {
    let dir = temp_dir("cli-server");
    let db = dir.join("rctgate.duckdb");
    let key = create_key(&db, "admin");
    let server = Server::start(&db);
    let env = [("RCTGATE_API_KEY", key.as_str())];
    let metrics = dir.join("metrics.toml");
    let trial = dir.join("trial.toml");
    std::fs::write(&metrics, METRICS_TOML).expect("write");
    std::fs::write(&trial, TRIAL_TOML).expect("write");
    for file in [&metrics, &trial] {
        let out = rctgate_env(&["apply", path(file), "--server", &server.url], &env);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = rctgate_env(
        &["experiment", "start", "ranker-v7", "--server", &server.url],
        &env,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // While the server holds the file, --db explains the lock.
    let out = rctgate(&["experiment", "list", "--db", path(&db)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--server"), "{}", stderr(&out));
    let ndjson = dir.join("events.ndjson");
    std::fs::write(&ndjson, exposures("ranker-v7", 0, 12_000)).expect("write");
    let out = rctgate_env(&["import", path(&ndjson), "--server", &server.url], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("12000 rows, 12000 accepted, 0 duplicates"),
        "{}",
        stdout(&out)
    );
    let (_, summary) = server.call("GET", "/v1/events/summary?experiment=ranker-v7", Some(&key), None);
    assert_eq!(summary["exposure_events"].as_u64(), Some(12_000));
    // Without a key: one sentence, exit 2.
    let out = rctgate(&["experiment", "list", "--server", &server.url]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("RCTGATE_API_KEY"));
}

#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    use std::io::Read;
    // `rctgate keys list | head`: the reader is gone before the listing is printed.
    let db = temp_dir("closed-stdout").join("rctgate.duckdb");
    create_key(&db, "read");
    let mut child = std::process::Command::new(BIN)
        .args(["keys", "list", "--db", path(&db)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let status = child.wait().expect("wait");
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        status.code().is_some_and(|code| code == 0 || code == 141),
        "{status:?}"
    );
}

#[test]
fn the_memory_limit_variable_is_used_or_refused_naming_itself() {
    let dir = temp_dir("memory-limit");
    let db = dir.join("rctgate.duckdb");
    let out = rctgate_env(
        &["experiment", "list", "--db", path(&db)],
        &[("RCTGATE_MEMORY_LIMIT", "256MiB")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for bad in ["-1", "0GiB", "lots", "300"] {
        let out = rctgate_env(
            &["experiment", "list", "--db", path(&db)],
            &[("RCTGATE_MEMORY_LIMIT", bad)],
        );
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            stderr(&out).contains("RCTGATE_MEMORY_LIMIT"),
            "{bad}: {}",
            stderr(&out)
        );
    }
}
