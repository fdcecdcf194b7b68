//! Triggered units (issue 22.1): `/v1/decide` and OFREP contexts say whether the model changed
//! what a unit saw, a later triggered exposure marks the unit, and the scorecard reports each
//! arm's trigger rate and refuses an analysis whose arms trigger at different rates.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// Decides `unit` in ranker-v7 with `triggered`; the answer's assignment.
fn decide(server: &Server, key: &str, unit: &str, triggered: Option<bool>) -> Value {
    let mut body = json!({"unit": unit, "experiments": ["ranker-v7"]});
    if let Some(triggered) = triggered {
        body["triggered"] = json!(triggered);
    }
    let (status, answer) = server.call("POST", "/v1/decide", Some(key), Some(&body.to_string()));
    assert_eq!(status, 200, "{answer}");
    answer
}

/// The scorecard's trigger rows by variant: (units, triggered, marks_triggers).
fn trigger_rows(card: &Value) -> BTreeMap<String, (u64, u64, bool)> {
    card["triggers"]["variants"]
        .as_array()
        .unwrap_or_else(|| panic!("a triggers section: {card}"))
        .iter()
        .map(|row| {
            (
                row["variant"].as_str().unwrap_or_default().to_string(),
                (
                    row["units"].as_u64().unwrap_or(u64::MAX),
                    row["triggered"].as_u64().unwrap_or(u64::MAX),
                    row["marks_triggers"].as_bool().unwrap_or(false),
                ),
            )
        })
        .collect()
}

#[test]
fn decide_and_ofrep_mark_triggered_units() {
    let mut definition = experiment_value("ranker-v7");
    definition["coverage"] = json!(1.0);
    let Trial {
        server,
        admin,
        assign,
        ..
    } = trial("triggers-decide", &definition, true);

    // 300 units: the first 200 say whether they triggered (every third did), the rest do not.
    let mut expected: BTreeMap<String, (u64, u64, bool)> = BTreeMap::new();
    let mut arm_of = BTreeMap::new();
    for i in 0..300 {
        let unit = format!("u{i}");
        let triggered = (i < 200).then_some(i % 3 == 0);
        let answer = decide(&server, &assign, &unit, triggered);
        assert_eq!(answer["exposures_queued"], 1, "{answer}");
        let variant = answer["assignments"][0]["variant"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let row = expected.entry(variant.clone()).or_insert((0, 0, true));
        row.0 += 1;
        row.1 += u64::from(triggered == Some(true));
        arm_of.insert(unit, variant);
    }
    // u1 said it did not trigger; a later triggered decision is logged (not a repeat) and
    // marks it, while deciding it again untriggered is a repeat.
    assert_eq!(
        decide(&server, &assign, "u1", Some(false))["exposures_repeated"],
        1
    );
    assert_eq!(decide(&server, &assign, "u1", Some(true))["exposures_queued"], 1);
    if let Some(row) = expected.get_mut(&arm_of["u1"]) {
        row.1 += 1;
    }

    // OFREP: the context's `triggered`, which must be a boolean.
    let flag = "/ofrep/v1/evaluate/flags/ranker-v7";
    let context = json!({"context": {"targetingKey": "ofrep-unit", "triggered": true}}).to_string();
    let (status, answer) = server.call("POST", flag, Some(&assign), Some(&context));
    assert_eq!(status, 200, "{answer}");
    let variant = answer["variant"].as_str().unwrap_or_default().to_string();
    if let Some(row) = expected.get_mut(&variant) {
        row.0 += 1;
        row.1 += 1;
    }
    let bad = json!({"context": {"targetingKey": "ofrep-unit", "triggered": "yes"}}).to_string();
    let (status, answer) = server.call("POST", flag, Some(&assign), Some(&bad));
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errorCode"], "INVALID_CONTEXT");
    assert!(answer["errorDetails"]
        .as_str()
        .unwrap_or_default()
        .contains("context.triggered"));
    let (status, answer) = server.call(
        "POST",
        "/v1/decide",
        Some(&assign),
        Some(r#"{"unit": "u1", "triggered": "yes"}"#),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("triggered"), "{answer}");

    let stored = wait_for_exposures(&server, &admin, "ranker-v7", 302, Duration::from_secs(20));
    assert_eq!(stored, 302);
    let (status, card) = server.call("GET", "/v1/experiments/ranker-v7/results", Some(&admin), None);
    assert_eq!(status, 200, "{card}");
    assert_eq!(trigger_rows(&card), expected, "{}", card["triggers"]);
    let triggers = &card["triggers"];
    assert!(
        triggers["p_value"].as_f64().is_some_and(|p| p > 0.0 && p <= 1.0),
        "{triggers}"
    );
    assert_eq!(triggers["ok"], true);
}

/// NDJSON exposures of `experiment`: unit i in control when even, treatment when odd, and
/// triggered for exactly `control_rate` or `treatment_rate` of each arm's every 100 units.
fn triggered_exposures(
    experiment: &str,
    units: usize,
    control_rate: f64,
    treatment_rate: f64,
) -> Vec<String> {
    (0..units)
        .map(|i| {
            let (variant, rate) = if i % 2 == 0 {
                ("control", control_rate)
            } else {
                ("treatment", treatment_rate)
            };
            let triggered = (i / 2) % 100 < (rate * 100.0).round() as usize;
            json!({"type": "exposure", "id": format!("{experiment}-x{i}"), "unit": format!("u{i}"),
                   "experiment": experiment, "variant": variant, "ts": "2026-11-26T12:00:00Z",
                   "triggered": triggered})
            .to_string()
        })
        .collect()
}

#[test]
fn trigger_rates_that_differ_make_the_analysis_invalid() {
    let mut definition = experiment_value("skewed");
    definition["coverage"] = json!(1.0);
    definition["analysis"] = json!({"method": "frequentist", "start": "2026-11-01T00:00:00Z"});
    let Trial {
        server, db, admin, ..
    } = trial("triggers-skewed", &definition, true);
    let mut balanced = experiment_value("balanced");
    balanced["analysis"] = definition["analysis"].clone();
    let a = Some(admin.as_str());
    let (status, body) = server.call("POST", "/v1/experiments", a, Some(&balanced.to_string()));
    assert_eq!(status, 201, "{body}");
    let (status, body) = server.call("POST", "/v1/experiments/balanced/start", a, None);
    assert_eq!(status, 200, "{body}");
    let mut lines = triggered_exposures("skewed", 4000, 0.10, 0.30);
    lines.extend(triggered_exposures("balanced", 4000, 0.20, 0.20));
    let (status, body) = server.call("POST", "/v1/events", a, Some(&lines.join("\n")));
    assert_eq!(status, 200, "{body}");

    let (status, card) = server.call("GET", "/v1/experiments/skewed/results", a, None);
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["triggers"]["ok"], false, "{}", card["triggers"]);
    assert!(card["triggers"]["p_value"].as_f64().is_some_and(|p| p < 1e-6));
    assert_eq!(card["decision"]["verdict"], "invalid", "{}", card["decision"]);
    let reasons = card["decision"]["reasons"].to_string();
    assert!(reasons.contains("Trigger rates differ between arms"), "{reasons}");
    assert!(
        reasons.contains("control 10.00%") && reasons.contains("treatment 30.00%"),
        "{reasons}"
    );
    let kinds: Vec<&str> = card["diagnostics"]
        .as_array()
        .map(|d| d.iter().filter_map(|d| d["kind"].as_str()).collect())
        .unwrap_or_default();
    assert!(kinds.contains(&"trigger_imbalance"), "{kinds:?}");

    let (status, card) = server.call("GET", "/v1/experiments/balanced/results", a, None);
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["triggers"]["ok"], true, "{}", card["triggers"]);
    assert_eq!(
        trigger_rows(&card),
        BTreeMap::from([
            ("control".to_string(), (2000, 400, true)),
            ("treatment".to_string(), (2000, 400, true)),
        ])
    );
    assert_ne!(card["decision"]["verdict"], "invalid", "{}", card["decision"]);

    drop(server);
    let text = stdout(&rctgate(&["analyze", "skewed", "--db", path(&db)]));
    assert!(
        text.contains("triggered units (rates DIFFER across arms"),
        "{text}"
    );
    assert!(
        text.contains("treatment: 600 of 2,000 exposed (30.00%)"),
        "{text}"
    );
    let html = stdout(&rctgate(&[
        "analyze",
        "balanced",
        "--db",
        path(&db),
        "--format",
        "html",
    ]));
    assert!(
        html.contains("Triggered units") && html.contains("20.00%"),
        "the HTML scorecard shows the rates"
    );
}
