//! The scorecard the way users get it: `GET /v1/experiments/{key}/results` and
//! `rctgate analyze`, on simulated trials posted through `/v1/events`; the cache; the frozen
//! scorecard on stop.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use rctgate_simulate::{events, Scenario, SimAttribute, SimMetric};
use serde_json::{json, Value};

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-10-01T00:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

fn metric(event: &str, rate: f64, lift: f64) -> SimMetric {
    SimMetric {
        event: event.into(),
        rate,
        lifts: vec![1.0, lift],
        value: None,
        window_hours: 168.0,
        pre_days: 0,
        late_share: 0.1,
    }
}

/// Posts the scenario's events in NDJSON batches.
fn post_events(server: &Server, key: &str, scenario: &Scenario) {
    let lines: Vec<String> = events(scenario)
        .map(|e| e.to_json(&scenario.experiment).to_string())
        .collect();
    post_lines(server, key, &lines);
}

/// Posts NDJSON lines in batches of 10,000.
fn post_lines(server: &Server, key: &str, lines: &[String]) {
    for chunk in lines.chunks(10_000) {
        let (status, body) = server.call("POST", "/v1/events", Some(key), Some(&chunk.join("\n")));
        assert_eq!(status, 200, "{body}");
    }
}

/// GET with the cache header.
fn results(server: &Server, key: &str, path: &str) -> (u16, Option<String>, Value) {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build(),
    );
    let response = agent
        .get(format!("{}{path}", server.url))
        .header("X-API-Key", key)
        .call()
        .expect("request");
    let status = response.status().as_u16();
    let cache = response
        .headers()
        .get("x-rctgate-cache")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = response.into_body().read_to_string().expect("body");
    (
        status,
        cache,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The kinds of a scorecard's (or distributions') diagnostics, in order.
fn diagnostic_kinds(card: &Value) -> Vec<&str> {
    card["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter_map(|d| d["kind"].as_str())
        .collect()
}

fn experiment(key: &str) -> Value {
    let mut experiment = experiment_value(key);
    experiment["analysis"] = json!({"method": "sequential", "start": "2026-10-01T00:00:00Z"});
    experiment
}

#[test]
fn results_verdicts_cache_and_the_frozen_scorecard() {
    let Trial {
        server,
        db,
        admin,
        assign,
        read,
    } = trial("analyze", &experiment("ranker-v7"), true);
    let a = Some(admin.as_str());
    let (status, body) = server.call(
        "POST",
        "/v1/experiments",
        a,
        Some(&experiment("ranker-v8").to_string()),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        server.call("POST", "/v1/experiments/ranker-v8/start", a, None).0,
        200
    );

    // v7 wins on bookings; v8 lifts clicks but not bookings.
    let mut v7 = Scenario::two_arms(
        "ranker-v7",
        3000,
        start(),
        vec![metric("booking", 0.3, 1.6), metric("click", 2.0, 1.2)],
    );
    v7.attribute = Some(SimAttribute {
        name: "device".into(),
        values: vec![("mobile".into(), 0.7), ("desktop".into(), 0.3)],
    });
    post_events(&server, &admin, &v7);
    let mut v8 = Scenario::two_arms(
        "ranker-v8",
        3000,
        start(),
        vec![metric("booking", 0.3, 1.0), metric("click", 2.0, 1.4)],
    );
    v8.unit_prefix = "v8-".into();
    v8.seed = 8;
    post_events(&server, &admin, &v8);

    // Auth: read scope or more.
    assert_eq!(
        server
            .call("GET", "/v1/experiments/ranker-v7/results", None, None)
            .0,
        401
    );
    assert_eq!(
        server
            .call("GET", "/v1/experiments/ranker-v7/results", Some(&assign), None)
            .0,
        403
    );
    let (status, body) = server.call("GET", "/v1/experiments/nope/results", Some(&read), None);
    assert_eq!(status, 404, "{body}");

    let (status, cache, card) = results(&server, &read, "/v1/experiments/ranker-v7/results");
    assert_eq!(status, 200, "{card}");
    assert_eq!(cache.as_deref(), Some("miss"));
    assert_eq!(card["experiment"], "ranker-v7");
    assert_eq!(card["decision"]["verdict"], "ship", "{}", card["decision"]);
    assert_eq!(card["decision"]["variant"], "treatment");
    assert_eq!(card["metrics"][0]["name"], "bookings");
    assert_eq!(card["metrics"][0]["role"], "primary");
    assert!(card["metrics"][0]["variants"][1]["p_value_adjusted"].is_number());
    assert!(card["srm"]["ok"].as_bool().expect("srm"));
    assert!(!card["cumulative"].as_array().expect("series").is_empty());
    let (_, cache, again) = results(&server, &read, "/v1/experiments/ranker-v7/results");
    assert_eq!(cache.as_deref(), Some("hit"));
    assert_eq!(again, card);

    // New events for it invalidate the cache.
    let late = r#"{"type":"metric","id":"late-1","unit":"u1","event":"booking","ts":"2026-10-02T00:00:00Z"}"#;
    assert_eq!(server.call("POST", "/v1/events", a, Some(late)).0, 200);
    let (_, cache, _) = results(&server, &read, "/v1/experiments/ranker-v7/results");
    assert_eq!(cache.as_deref(), Some("miss"));

    // Segments, and bad parameters named.
    let (status, _, split) = results(&server, &read, "/v1/experiments/ranker-v7/results?segment=device");
    assert_eq!(status, 200, "{split}");
    let values: Vec<&str> = split["segments"]["values"]
        .as_array()
        .expect("values")
        .iter()
        .filter_map(|v| v["value"].as_str())
        .collect();
    assert_eq!(values, ["mobile", "desktop"]);
    let (status, body) = server.call(
        "GET",
        "/v1/experiments/ranker-v7/results?segment=a%20b",
        Some(&read),
        None,
    );
    assert_eq!((status, body["field"].as_str()), (400, Some("segment")), "{body}");
    let (status, body) = server.call(
        "GET",
        "/v1/experiments/ranker-v7/results?segmnt=device",
        Some(&read),
        None,
    );
    assert_eq!((status, body["field"].as_str()), (400, Some("segment")), "{body}");

    // The proxy moved, the business did not.
    let (_, _, v8_card) = results(&server, &read, "/v1/experiments/ranker-v8/results");
    assert_ne!(v8_card["decision"]["verdict"], "ship");
    let kinds = diagnostic_kinds(&v8_card);
    assert!(
        kinds.contains(&"proxy_over_optimization"),
        "{}",
        v8_card["diagnostics"]
    );

    // The CLI through the server: table, JSON, HTML.
    let env = [("RCTGATE_API_KEY", read.as_str())];
    let output = rctgate_env(&["analyze", "ranker-v7", "--server", &server.url], &env);
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    assert!(table.contains("VERDICT: SHIP (treatment)"), "{table}");
    assert!(
        table.contains("bookings") && table.contains("primary") && table.contains('▲'),
        "{table}"
    );
    let output = rctgate_env(
        &[
            "analyze",
            "ranker-v7",
            "--server",
            &server.url,
            "--format",
            "json",
        ],
        &env,
    );
    let json: Value = serde_json::from_str(&stdout(&output)).expect("json output");
    assert_eq!(json["decision"]["verdict"], "ship");
    let page = temp_dir("analyze-html").join("ranker-v7.html");
    let output = rctgate_env(
        &[
            "analyze",
            "ranker-v7",
            "--server",
            &server.url,
            "--format",
            "html",
            "--output",
            path(&page),
        ],
        &env,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let html = std::fs::read_to_string(&page).expect("html written");
    assert!(
        html.to_lowercase().starts_with("<!doctype html>")
            && html.contains("<span class=\"badge ship\">ship</span>"),
        "{html}"
    );
    // Self-contained: no scripts, no fetched resources (an SVG namespace is not a fetch).
    assert!(!html.contains("<script") && !html.contains(" src=") && !html.contains("<link"));
    assert!(html.contains("<svg"), "the charts are inline");
    let output = rctgate_env(&["analyze", "nope", "--server", &server.url], &env);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("nope"), "{}", stderr(&output));

    // Stop freezes the scorecard: later events change nothing, and the audit log has it.
    let (status, body) = server.call("POST", "/v1/experiments/ranker-v7/stop", a, None);
    assert_eq!(status, 200, "{body}");
    let (_, _, frozen) = results(&server, &read, "/v1/experiments/ranker-v7/results");
    assert_eq!(frozen["status"], "stopped");
    assert_eq!(frozen["decision"]["verdict"], "ship");
    let after =
        r#"{"type":"metric","id":"after-stop","unit":"u2","event":"booking","ts":"2026-10-03T00:00:00Z"}"#;
    assert_eq!(server.call("POST", "/v1/events", a, Some(after)).0, 200);
    let (_, _, still) = results(&server, &read, "/v1/experiments/ranker-v7/results");
    assert_eq!(still, frozen);
    let (_, audit) = server.call("GET", "/v1/audit", a, None);
    let entry = audit
        .as_array()
        .and_then(|entries| {
            entries
                .iter()
                .find(|e| e["action"] == "experiment.results_frozen")
        })
        .expect("frozen scorecard in the audit log");
    assert_eq!(entry["after"], frozen);

    // Offline, on the file: the same frozen scorecard.
    assert!(server.terminate());
    let output = rctgate(&["analyze", "ranker-v7", "--db", path(&db), "--format", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let offline: Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(offline, frozen);
}

/// A latency guardrail as a user sets one up: a p95 and a mean over the exposures'
/// `latency_ms` (no extra events) and a median over metric values, through the API; the slower
/// arm breaches the guardrail, the scorecard shows each arm's latency, and bad definitions are
/// refused naming the field.
#[test]
fn latency_guardrails_and_quantiles_through_the_api_and_the_cli() {
    let mut definition = experiment("ranker-latency");
    definition["metrics"] = json!({"primary": "bookings",
                                   "guardrails": ["p95_latency", "mean_latency"],
                                   "secondary": ["median_basket"]});
    definition["analysis"] = json!({"method": "frequentist", "start": "2026-10-01T00:00:00Z"});
    let db = temp_dir("latency").join("rctgate.duckdb");
    let admin = create_key(&db, "admin");
    let server = Server::start(&db);
    let a = Some(admin.as_str());
    let metrics = [
        json!({"name": "bookings", "kind": "proportion", "event": "booking", "direction": "increase"}),
        json!({"name": "p95_latency", "kind": "quantile", "quantile": 0.95, "source": "exposure_latency",
               "direction": "decrease"}),
        json!({"name": "mean_latency", "kind": "mean", "source": "exposure_latency", "direction": "decrease"}),
        json!({"name": "median_basket", "kind": "quantile", "quantile": 0.5, "event": "basket",
               "direction": "increase"}),
    ];
    for metric in &metrics {
        let (status, body) = server.call("POST", "/v1/metrics", a, Some(&metric.to_string()));
        assert_eq!(status, 201, "{body}");
    }
    for (bad, field) in [
        (
            json!({"name": "p", "kind": "quantile", "quantile": 1.5, "source": "exposure_latency",
                "direction": "decrease"}),
            "quantile",
        ),
        (
            json!({"name": "p", "kind": "quantile", "event": "basket", "direction": "decrease"}),
            "quantile",
        ),
        (
            json!({"name": "p", "kind": "count", "source": "exposure_latency", "direction": "decrease"}),
            "kind",
        ),
        (
            json!({"name": "p", "kind": "mean", "event": "x", "source": "exposure_latency",
                "direction": "decrease"}),
            "event",
        ),
    ] {
        let (status, body) = server.call("POST", "/v1/metrics", a, Some(&bad.to_string()));
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["field"], field, "{body}");
    }
    let mut as_primary = definition.clone();
    as_primary["key"] = json!("latency-decides");
    as_primary["metrics"] = json!({"primary": "p95_latency"});
    let (status, body) = server.call("POST", "/v1/experiments", a, Some(&as_primary.to_string()));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "metrics.primary", "{body}");

    let (status, body) = server.call("POST", "/v1/experiments", a, Some(&definition.to_string()));
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        server
            .call("POST", "/v1/experiments/ranker-latency/start", a, None)
            .0,
        200
    );
    let mut basket = metric("basket", 1.5, 1.0);
    basket.value = Some((3.0, 0.5));
    let mut scenario = Scenario::two_arms(
        "ranker-latency",
        3000,
        start(),
        vec![metric("booking", 0.3, 1.0), basket],
    );
    scenario.repeat_exposures = 3;
    scenario.latency = Some(rctgate_simulate::SimLatency {
        mu: 3.9,
        sigma: 0.4,
        multipliers: vec![1.0, 1.4],
    });
    post_events(&server, &admin, &scenario);

    let (status, _, card) = results(&server, &admin, "/v1/experiments/ranker-latency/results");
    assert_eq!(status, 200, "{card}");
    let metric_row = |name: &str| {
        card["metrics"]
            .as_array()
            .and_then(|all| all.iter().find(|m| m["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {card}"))
    };
    for name in ["p95_latency", "mean_latency"] {
        let row = metric_row(name);
        let effect = row["variants"][1]["effect"].as_f64().expect("an effect");
        assert!((effect - 0.4).abs() < 0.1, "{name}: 40% slower, got {effect}");
        assert_eq!(row["guardrail"][0]["breached"], true, "{row}");
    }
    let basket_row = metric_row("median_basket");
    assert!(
        basket_row["variants"][0]["mean"]
            .as_f64()
            .is_some_and(|m| m > 10.0),
        "{basket_row}"
    );
    assert!(
        basket_row["variants"][1]["p_value"].as_f64().is_some(),
        "{basket_row}"
    );
    assert_ne!(
        card["decision"]["verdict"], "ship",
        "a breached guardrail blocks shipping"
    );
    let latency = card["latency"].as_array().expect("latency section");
    assert_eq!(latency.len(), 2);
    let p95 = |i: usize| latency[i]["p95"].as_f64().expect("p95");
    assert!(p95(1) > p95(0) * 1.25, "{latency:?}");

    drop(server);
    let text = rctgate(&["analyze", "ranker-latency", "--db", path(&db)]);
    assert!(text.status.success(), "{}", stderr(&text));
    let out = stdout(&text);
    assert!(out.contains("model latency per request (ms)"), "{out}");
    assert!(out.contains("p95_latency"), "{out}");
    let html = rctgate(&["analyze", "ranker-latency", "--db", path(&db), "--format", "html"]);
    assert!(stdout(&html).contains("Model latency per request"));
}

/// Counts of a scenario's control outputs on 20 bins of [0, 1]: a reference distribution as a
/// team would register it from validation data.
fn reference_counts(scenario: &Scenario) -> Vec<u64> {
    let mut counts = vec![0u64; 20];
    for event in events(scenario) {
        if let rctgate_simulate::SimEvent::Exposure {
            model_output: Some(output),
            variant,
            ..
        } = event
        {
            if variant == "control" {
                counts[((output * 20.0) as usize).min(19)] += 1;
            }
        }
    }
    counts
}

/// The model outputs as a user reads them: a treatment whose model emits a constant for a
/// third of requests is flagged on the scorecard and in `/distributions`, shifted from its
/// version's reference, and shown by `rctgate analyze --distributions`; a reference whose
/// counts do not fit its edges is refused naming the field.
#[test]
fn output_distributions_flag_a_spike_and_a_shift() {
    use rctgate_simulate::SimOutputs;
    let db = temp_dir("outputs").join("rctgate.duckdb");
    let admin = create_key(&db, "admin");
    let server = Server::start(&db);
    let a = Some(admin.as_str());
    let (status, body) = server.call(
        "POST",
        "/v1/metrics",
        a,
        Some(
            &json!({"name": "bookings", "kind": "proportion", "event": "booking", "direction": "increase"})
                .to_string(),
        ),
    );
    assert_eq!(status, 201, "{body}");
    let mut validation = Scenario::two_arms("validation", 4000, start(), vec![]);
    validation.outputs = Some(vec![SimOutputs::Bimodal, SimOutputs::Bimodal]);
    validation.seed = 99;
    let edges: Vec<f64> = (0..=20).map(|i| f64::from(i) / 20.0).collect();
    let reference = json!({"edges": edges, "counts": reference_counts(&validation)});
    let (status, body) = server.call(
        "POST",
        "/v1/models",
        a,
        Some(&json!({"name": "scorer"}).to_string()),
    );
    assert_eq!(status, 201, "{body}");
    let bad = json!({"version": "v0", "reference_distribution": {"edges": [0.0, 0.5, 1.0], "counts": [3]}});
    let (status, body) = server.call("POST", "/v1/models/scorer/versions", a, Some(&bad.to_string()));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "reference_distribution.counts", "{body}");
    for version in ["v1", "v2"] {
        let definition = json!({"version": version, "reference_distribution": reference});
        let (status, body) = server.call(
            "POST",
            "/v1/models/scorer/versions",
            a,
            Some(&definition.to_string()),
        );
        assert_eq!(status, 201, "{body}");
    }
    let mut definition = experiment("scorer-v2");
    definition["model"] = json!("scorer");
    definition["variants"] = json!([{"name": "control", "weight": 0.5, "model_version": "v1"},
                                    {"name": "treatment", "weight": 0.5, "model_version": "v2"}]);
    definition["metrics"] = json!({"primary": "bookings"});
    let (status, body) = server.call("POST", "/v1/experiments", a, Some(&definition.to_string()));
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        server.call("POST", "/v1/experiments/scorer-v2/start", a, None).0,
        200
    );
    let mut trial = Scenario::two_arms("scorer-v2", 3000, start(), vec![metric("booking", 0.3, 1.0)]);
    trial.outputs = Some(vec![
        SimOutputs::Bimodal,
        SimOutputs::Spike { at: 0.5, share: 0.35 },
    ]);
    post_events(&server, &admin, &trial);

    let (status, _, found) = results(&server, &admin, "/v1/experiments/scorer-v2/distributions");
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["binning"], "unit");
    assert_eq!(found["edges"].as_array().map(Vec::len), Some(21));
    assert_eq!(found["arms"][0]["shape"]["shape"], "bimodal", "{found}");
    let threshold = found["arms"][0]["shape"]["threshold"]
        .as_f64()
        .expect("a threshold");
    assert!((0.35..=0.65).contains(&threshold), "{threshold}");
    assert_eq!(found["arms"][1]["shape"]["shape"], "spike", "{found}");
    assert!((found["arms"][1]["shape"]["at"].as_f64().unwrap_or(0.0) - 0.525).abs() < 1e-9);
    let psi = |arm: usize| {
        found["arms"][arm]["against_reference"]["psi"]
            .as_f64()
            .expect("psi")
    };
    assert!(psi(0) < 0.1, "control is like its reference: {}", psi(0));
    assert!(psi(1) > 0.25, "the spiking treatment is not: {}", psi(1));
    assert!(found["arms"][1]["against_control"]["ks"]
        .as_f64()
        .is_some_and(|ks| ks > 0.1));
    assert!(!found["days"].as_array().expect("days").is_empty());
    let kinds = diagnostic_kinds(&found);
    assert_eq!(kinds, ["output_spike", "output_shift"], "{found}");

    let (_, _, card) = results(&server, &admin, "/v1/experiments/scorer-v2/results");
    let on_card = diagnostic_kinds(&card);
    assert!(
        on_card.contains(&"output_spike") && on_card.contains(&"output_shift"),
        "{on_card:?}"
    );

    drop(server);
    let table = rctgate(&["analyze", "scorer-v2", "--distributions", "--db", path(&db)]);
    assert!(table.status.success(), "{}", stderr(&table));
    let out = stdout(&table);
    assert!(
        out.contains("spike") && out.contains("bimodal") && out.contains("output_shift"),
        "{out}"
    );
    let json_out = rctgate(&[
        "analyze",
        "scorer-v2",
        "--distributions",
        "--format",
        "json",
        "--db",
        path(&db),
    ]);
    let parsed: Value = serde_json::from_slice(&json_out.stdout).expect("JSON");
    assert_eq!(parsed["arms"][1]["shape"]["shape"], "spike");
}

/// Booking's latency-cost experiment through the API: two arms that add 100 and 300 ms on
/// purpose get a latency-cost section, with intervals at the Šidák-corrected alpha (wider than
/// the scorecard's), the latency change read from the exposures, and the fitted cost.
#[test]
fn arms_that_add_latency_get_a_latency_cost_section() {
    let mut definition = experiment("latency-cost");
    definition["variants"] = json!([
        {"name": "control", "weight": 0.34},
        {"name": "plus100", "weight": 0.33, "payload": {"added_latency_ms": 100}},
        {"name": "plus300", "weight": 0.33, "payload": {"added_latency_ms": 300}}
    ]);
    definition["metrics"] = json!({"primary": "bookings"});
    definition["analysis"] = json!({"method": "frequentist", "start": "2026-10-01T00:00:00Z"});
    let Trial {
        server, db, admin, ..
    } = trial("latency-cost", &definition, true);
    let mut scenario = Scenario::two_arms("latency-cost", 9000, start(), vec![metric("booking", 0.4, 1.0)]);
    scenario.variants = vec![
        ("control".into(), 0.34),
        ("plus100".into(), 0.33),
        ("plus300".into(), 0.33),
    ];
    scenario.metrics[0].lifts = vec![1.0, 0.96, 0.85];
    scenario.latency = Some(rctgate_simulate::SimLatency {
        mu: 4.6,
        sigma: 0.3,
        multipliers: vec![1.0, 1.9, 3.7],
    });
    post_events(&server, &admin, &scenario);

    let (status, _, card) = results(&server, &admin, "/v1/experiments/latency-cost/results");
    assert_eq!(status, 200, "{card}");
    let cost = &card["latency_cost"];
    let alpha = cost["alpha"].as_f64().expect("alpha");
    assert!(
        (alpha - (1.0 - 0.95f64.sqrt())).abs() < 1e-12,
        "Šidák for two arms: {alpha}"
    );
    let arms = cost["arms"].as_array().expect("arms");
    assert_eq!(arms.len(), 2);
    let latency = card["latency"].as_array().expect("latency");
    for (i, arm) in arms.iter().enumerate() {
        let mean = |j: usize| latency[j]["mean"].as_f64().expect("mean");
        let expected = (mean(i + 1) - mean(0)) / mean(0);
        assert!(
            (arm["latency"]["effect"].as_f64().unwrap_or(0.0) - expected).abs() < 1e-9,
            "{arm}"
        );
        let scorecard = &card["metrics"][0]["variants"][i + 1];
        assert!(
            (arm["primary"]["effect"].as_f64().unwrap_or(0.0) - scorecard["effect"].as_f64().unwrap_or(1.0))
                .abs()
                < 1e-12
        );
        let width = |low: &Value, high: &Value| high.as_f64().unwrap_or(0.0) - low.as_f64().unwrap_or(0.0);
        assert!(
            width(&arm["primary"]["ci_low"], &arm["primary"]["ci_high"])
                > width(&scorecard["ci_low"], &scorecard["ci_high"]),
            "the corrected interval is wider"
        );
    }
    assert!(
        arms[1]["latency"]["effect"].as_f64().unwrap_or(0.0)
            > arms[0]["latency"]["effect"].as_f64().unwrap_or(1.0)
    );
    let fitted = cost["cost_per_10_percent_latency"]
        .as_f64()
        .expect("a fitted cost");
    assert!(
        fitted < 0.0 && fitted > -0.05,
        "bookings fall with latency: {fitted}"
    );

    // Stopped, the trial's arms join the ledger's latency cost across trials: with one
    // trial, its fit is the scorecard's.
    let (status, body) = server.call("POST", "/v1/experiments/latency-cost/stop", Some(&admin), None);
    assert_eq!(status, 200, "{body}");
    let (status, _, ledger) = results(&server, &admin, "/v1/ledger");
    assert_eq!(status, 200, "{ledger}");
    let portfolio = &ledger["latency_cost"];
    let points = portfolio["points"].as_array().expect("points");
    assert_eq!(points.len(), 2, "{portfolio}");
    assert_eq!(points[1]["experiment"], "latency-cost");
    assert_eq!(points[1]["primary_metric"], "bookings");
    assert_eq!(points[1]["variant"], "plus300");
    assert_eq!(points[1]["added_latency_ms"], 300.0);
    let fits = portfolio["fits"].as_array().expect("fits");
    assert_eq!(fits.len(), 1, "{portfolio}");
    assert_eq!(
        (fits[0]["trials"].as_u64(), fits[0]["arms"].as_u64()),
        (Some(1), Some(2))
    );
    let across = fits[0]["cost_per_10_percent_latency"].as_f64().expect("a fit");
    assert!((across - fitted).abs() < 1e-12, "{across} vs {fitted}");

    drop(server);
    let text = stdout(&rctgate(&["analyze", "latency-cost", "--db", path(&db)]));
    assert!(
        text.contains("latency cost") && text.contains("plus300 (+300 ms)"),
        "{text}"
    );
    let html = stdout(&rctgate(&[
        "analyze",
        "latency-cost",
        "--db",
        path(&db),
        "--format",
        "html",
    ]));
    assert!(html.contains("What latency costs"));
}

/// Every number of two scorecards, equal at 1e-9 relative (`as_of` aside).
fn assert_same_numbers(a: &Value, b: &Value, path: &str) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().expect("number"), y.as_f64().expect("number"));
            assert!(
                (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1e-6),
                "{path}: {x} against {y}"
            );
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{path}: lengths");
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                assert_same_numbers(x, y, &format!("{path}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{path}"
            );
            for (key, value) in x.iter().filter(|(key, _)| *key != "as_of") {
                assert_same_numbers(value, &y[key], &format!("{path}.{key}"));
            }
        }
        _ => assert_eq!(a, b, "{path}"),
    }
}

/// A running trial's results come from the unit rows the server keeps, refreshed with what
/// arrived since: after more traffic (new units, new events of kept units, an earlier exposure
/// that moves a unit's t0 and one in the other arm), `GET /results` equals the scorecard
/// `rctgate analyze --db` recomputes from the events alone (on a copy of the file without the
/// kept rows).
#[test]
fn results_after_new_traffic_equal_a_recomputation() {
    let Trial {
        server,
        db,
        admin,
        read,
        ..
    } = trial("kept-rows", &experiment("ranker-v7"), true);
    let mut scenario = Scenario::two_arms(
        "ranker-v7",
        2000,
        start(),
        vec![metric("booking", 0.3, 1.3), metric("click", 2.0, 1.2)],
    );
    scenario.repeat_exposures = 2;
    let lines: Vec<String> = events(&scenario)
        .map(|e| e.to_json(&scenario.experiment).to_string())
        .collect();
    let (first, rest) = lines.split_at(lines.len() * 2 / 3);
    post_lines(&server, &admin, first);
    let (status, _, before) = results(&server, &read, "/v1/experiments/ranker-v7/results");
    assert_eq!(status, 200, "{before}");
    // That request found no rows kept; the server keeps them after answering it.
    let kept = || {
        let (_, metrics) = server.call("GET", "/metrics", None, None);
        metrics
            .as_str()
            .is_some_and(|text| text.lines().any(|line| line == "rctgate_unit_rows_kept_total 1"))
    };
    let waited = (0..300).find(|_| {
        kept() || {
            std::thread::sleep(Duration::from_millis(100));
            false
        }
    });
    assert!(
        waited.is_some(),
        "the trial's unit rows were not kept within 30 s"
    );
    let mut more: Vec<String> = rest.to_vec();
    more.push(
        r#"{"type":"exposure","id":"early-u1","experiment":"ranker-v7","variant":"control","unit":"u1","ts":"2026-10-01T00:00:01Z"}"#
            .into(),
    );
    more.push(
        r#"{"type":"exposure","id":"other-u2","experiment":"ranker-v7","variant":"treatment","unit":"u2","ts":"2026-10-05T00:00:00Z"}"#
            .into(),
    );
    more.push(
        r#"{"type":"metric","id":"late-u3","unit":"u3","event":"booking","ts":"2026-10-06T00:00:00Z"}"#
            .into(),
    );
    post_lines(&server, &admin, &more);
    let (_, cache, refreshed) = results(&server, &read, "/v1/experiments/ranker-v7/results");
    assert_eq!(cache.as_deref(), Some("miss"));
    assert_ne!(refreshed["units"], before["units"], "the new traffic counts");
    assert!(server.terminate());

    let copy = db.with_file_name("recomputed.duckdb");
    std::fs::copy(&db, &copy).expect("copy the file");
    {
        let conn = duckdb::Connection::open(&copy).expect("open the copy");
        let tables: Vec<String> = conn
            .prepare(
                "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'unit\\_s%\\_%' ESCAPE '\\'",
            )
            .and_then(|mut s| s.query_map([], |row| row.get(0))?.collect())
            .expect("kept tables");
        assert_eq!(
            tables.len(),
            2,
            "the trial's unit rows and daily rows: {tables:?}"
        );
        // Dropped by hand, as docs/data.md allows: the analysis computes from the events.
        for table in tables {
            conn.execute_batch(&format!("DROP TABLE {table}")).expect("drop");
        }
    }
    // A running trial's window ends when it is analysed; nothing was exposed since.
    let without_end = |mut card: Value| {
        card["window"]["end"] = Value::Null;
        card
    };
    let analyze = |file: &std::path::Path| -> Value {
        let output = rctgate(&["analyze", "ranker-v7", "--db", path(file), "--format", "json"]);
        assert!(output.status.success(), "{}", stderr(&output));
        without_end(serde_json::from_str(&stdout(&output)).expect("json"))
    };
    let refreshed = without_end(refreshed);
    let recomputed = analyze(&copy);
    assert_same_numbers(&refreshed, &recomputed, "served against recomputed");
    // Offline, the kept rows are read (and refreshed in memory) the same way.
    assert_same_numbers(&analyze(&db), &recomputed, "read against recomputed");
}

/// Every running trial's unit rows are kept fresh off any request (`--keep-rows-every-secs`):
/// computed once events arrive, refreshed as more do, without anyone asking for results.
#[test]
fn the_server_keeps_running_trials_rows_fresh_on_its_own() {
    let Trial {
        server, db, admin, ..
    } = trial("keeper", &experiment("ranker-v7"), true);
    assert!(server.terminate());
    let server = Server::start_with(&db, &["--keep-rows-every-secs", "1"]);
    let counter = |name: &str| -> u64 {
        let (_, metrics) = server.call("GET", "/metrics", None, None);
        metrics
            .as_str()
            .and_then(|text| {
                text.lines()
                    .find_map(|line| line.strip_prefix(&format!("{name} ")))
            })
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    };
    let wait_for = |name: &str, at_least: u64| {
        let reached = (0..300).any(|_| {
            counter(name) >= at_least || {
                std::thread::sleep(Duration::from_millis(100));
                false
            }
        });
        assert!(reached, "{name} did not reach {at_least} within 30 s");
    };
    let scenario = Scenario::two_arms("ranker-v7", 500, start(), vec![metric("booking", 0.3, 1.2)]);
    let lines: Vec<String> = events(&scenario)
        .map(|e| e.to_json(&scenario.experiment).to_string())
        .collect();
    let (first, rest) = lines.split_at(lines.len() / 2);
    post_lines(&server, &admin, first);
    wait_for("rctgate_unit_rows_kept_total", 1);
    let refreshed = counter("rctgate_unit_rows_refreshed_total");
    post_lines(&server, &admin, rest);
    wait_for("rctgate_unit_rows_refreshed_total", refreshed + 2);
    assert_eq!(
        counter("rctgate_unit_rows_kept_total"),
        1,
        "computed once, then refreshed"
    );
    assert_eq!(counter("rctgate_unit_rows_failed_total"), 0);
    assert!(server.terminate());
    let conn = duckdb::Connection::open(&db).expect("open the file");
    let kept: i64 = conn
        .query_row(
            "SELECT count(*) FROM unit_states WHERE experiment = 'ranker-v7'",
            [],
            |row| row.get(0),
        )
        .expect("unit_states");
    assert_eq!(kept, 1);
}

/// Argo Rollouts' web metric and Flagger's webhooks, with the requests they send: a trial that
/// ships passes (Flagger may promote, not roll back), one that breaches a guardrail fails
/// (Flagger rolls back, may not promote), one without enough evidence waits (neither).
#[test]
fn progressive_delivery_asks_the_trial_the_way_argo_and_flagger_do() {
    let Trial {
        server, admin, read, ..
    } = trial("rollout", &experiment("ranker-v7"), true);
    let a = Some(admin.as_str());
    let mut guarded = experiment("ranker-g");
    guarded["metrics"] = json!({"primary": "bookings", "guardrails": ["clicks"]});
    for created in [guarded, experiment("ranker-w")] {
        let (status, body) = server.call("POST", "/v1/experiments", a, Some(&created.to_string()));
        assert_eq!(status, 201, "{body}");
        let path = format!(
            "/v1/experiments/{}/start",
            created["key"].as_str().unwrap_or_default()
        );
        assert_eq!(server.call("POST", &path, a, None).0, 200);
    }
    let scenario = |key: &str, units, booking_lift, click_lift, seed| {
        let mut scenario = Scenario::two_arms(
            key,
            units,
            start(),
            vec![
                metric("booking", 0.3, booking_lift),
                metric("click", 2.0, click_lift),
            ],
        );
        scenario.unit_prefix = format!("{key}-");
        scenario.seed = seed;
        scenario
    };
    post_events(&server, &admin, &scenario("ranker-v7", 3000, 1.6, 1.0, 7));
    post_events(&server, &admin, &scenario("ranker-g", 3000, 1.0, 0.5, 9));
    post_events(&server, &admin, &scenario("ranker-w", 40, 1.0, 1.0, 11));

    // Argo Rollouts' web provider: a GET with the template's headers; `result.phase` decides.
    let check = |key: &str| {
        let (status, body) = server.call(
            "GET",
            &format!("/v1/experiments/{key}/rollout-check"),
            Some(&read),
            None,
        );
        assert_eq!(status, 200, "{body}");
        body
    };
    let shipped = check("ranker-v7");
    assert_eq!(
        (shipped["phase"].as_str(), shipped["verdict"].as_str()),
        (Some("pass"), Some("ship")),
        "{shipped}"
    );
    assert!(shipped["srm_p_value"].is_number());
    assert_eq!(shipped["guardrails_breached"], json!([]));
    let breached = check("ranker-g");
    assert_eq!(breached["phase"], "fail", "{breached}");
    assert_eq!(breached["guardrails_breached"], json!(["clicks"]));
    assert!(!breached["reasons"].as_array().expect("reasons").is_empty());
    let waiting = check("ranker-w");
    assert_eq!(
        (waiting["phase"].as_str(), waiting["verdict"].as_str()),
        (Some("wait"), Some("keep_running")),
        "{waiting}"
    );
    assert_eq!(
        server
            .call("GET", "/v1/experiments/nope/rollout-check", Some(&read), None)
            .0,
        404
    );
    assert_eq!(
        server
            .call("GET", "/v1/experiments/ranker-v7/rollout-check", None, None)
            .0,
        401
    );

    // Flagger posts its payload and sends no header of its own: the key is in the metadata.
    let flagger = |hook: &str, experiment: &str| {
        let payload = json!({
            "name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "85d557f47b",
            "metadata": {"experiment": experiment, "api_key": read}
        });
        server.call(
            "POST",
            &format!("/v1/flagger/{hook}"),
            None,
            Some(&payload.to_string()),
        )
    };
    for (experiment, promote, roll_back) in [
        ("ranker-v7", 200, 409),
        ("ranker-g", 409, 200),
        ("ranker-w", 409, 409),
    ] {
        let (status, body) = flagger("confirm-promotion", experiment);
        assert_eq!(status, promote, "confirm-promotion of {experiment}: {body}");
        let (status, body) = flagger("rollback", experiment);
        assert_eq!(status, roll_back, "rollback of {experiment}: {body}");
        assert!(body["phase"].is_string(), "{body}");
    }
    let (status, body) = server.call(
        "POST",
        "/v1/flagger/rollback",
        Some(&read),
        Some(r#"{"name": "podinfo", "namespace": "test", "phase": "Progressing", "metadata": {}}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "metadata.experiment", "{body}");
    let (status, _) = server.call(
        "POST",
        "/v1/flagger/rollback",
        None,
        Some(r#"{"name": "podinfo", "namespace": "test", "metadata": {"experiment": "ranker-v7"}}"#),
    );
    assert_eq!(status, 401);
    assert_eq!(flagger("pre-rollout", "ranker-v7").0, 404);
}
