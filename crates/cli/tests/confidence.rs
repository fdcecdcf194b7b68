//! The uncanny valley (issue 22.5): the primary's effect by decile of the model's output, and
//! a diagnostic when the most confident decile does significantly worse than the middle ones.

mod common;

use common::*;
use rctgate_simulate::{events, Scenario, SimMetric, SimOutputs};
use serde_json::{json, Value};

/// A two-arm trial of 40,000 units whose exposures carry bimodal model scores; the treatment
/// raises the booking rate by 30%, except, with `uncanny`, for units whose first score is at
/// least 0.92 (about the top decile), where it lowers it by 20%.
fn scorecard(server: &Server, key: &str, experiment: &str, uncanny: bool) -> Value {
    let mut definition = experiment_value(experiment);
    definition["coverage"] = json!(1.0);
    definition["analysis"] = json!({"method": "frequentist", "start": "2026-10-01T00:00:00Z"});
    let a = Some(key);
    let (status, body) = server.call("POST", "/v1/experiments", a, Some(&definition.to_string()));
    assert_eq!(status, 201, "{body}");
    let (status, body) = server.call("POST", &format!("/v1/experiments/{experiment}/start"), a, None);
    assert_eq!(status, 200, "{body}");
    let start = chrono::DateTime::parse_from_rfc3339("2026-10-01T00:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    let booking = SimMetric {
        event: "booking".into(),
        rate: 0.3,
        lifts: vec![1.0, 1.3],
        value: None,
        window_hours: 168.0,
        pre_days: 0,
        late_share: 0.0,
    };
    let mut scenario = Scenario::two_arms(experiment, 40_000, start, vec![booking]);
    scenario.outputs = Some(vec![SimOutputs::Bimodal, SimOutputs::Bimodal]);
    scenario.unit_prefix = format!("{experiment}-");
    scenario.seed = 5;
    if uncanny {
        scenario.uncanny_above = Some(0.92);
        scenario.uncanny_lift = 0.8;
    }
    let lines: Vec<String> = events(&scenario)
        .map(|e| e.to_json(experiment).to_string())
        .collect();
    for chunk in lines.chunks(20_000) {
        let (status, body) = server.call("POST", "/v1/events", a, Some(&chunk.join("\n")));
        assert_eq!(status, 200, "{body}");
    }
    let (status, card) = server.call("GET", &format!("/v1/experiments/{experiment}/results"), a, None);
    assert_eq!(status, 200, "{card}");
    card
}

fn has_diagnostic(card: &Value, kind: &str) -> bool {
    card["diagnostics"]
        .as_array()
        .is_some_and(|all| all.iter().any(|d| d["kind"] == kind))
}

#[test]
fn the_most_confident_decile_doing_worse_is_the_uncanny_valley() {
    let Trial { server, admin, .. } = trial("confidence", &experiment_value("plain"), false);

    let card = scorecard(&server, &admin, "valley", true);
    let confidence = &card["confidence"];
    let buckets = confidence["buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 10, "{confidence}");
    assert_eq!(confidence["metric"], "bookings");
    assert_eq!(confidence["variant"], "treatment");
    // Deciles are ordered by output and share the units about evenly.
    let low = |b: &Value| b["output_low"].as_f64().unwrap_or(f64::NAN);
    assert!(
        buckets.windows(2).all(|w| low(&w[0]) <= low(&w[1])),
        "{confidence}"
    );
    let units: u64 = buckets
        .iter()
        .map(|b| b["units"][0].as_u64().unwrap_or(0) + b["units"][1].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        units,
        card["units"]["control"].as_u64().unwrap_or(0) + card["units"]["treatment"].as_u64().unwrap_or(0)
    );
    let top = buckets[9]["effect"]["effect"].as_f64().expect("top effect");
    let middle = confidence["middle"]["effect"].as_f64().expect("middle effect");
    assert!(top < 0.0 && middle > 0.15, "top {top}, middle {middle}");
    assert!(
        confidence["top_vs_middle_p_value"]
            .as_f64()
            .is_some_and(|p| p < 0.001),
        "{confidence}"
    );
    assert!(has_diagnostic(&card, "uncanny_valley"), "{}", card["diagnostics"]);

    // The same trial without the valley: the deciles agree, nothing is raised.
    let card = scorecard(&server, &admin, "even", false);
    assert!(
        card["confidence"]["top_vs_middle_p_value"]
            .as_f64()
            .is_some_and(|p| p > 0.05),
        "{}",
        card["confidence"]
    );
    assert!(
        !has_diagnostic(&card, "uncanny_valley"),
        "{}",
        card["diagnostics"]
    );
}

/// The decile edges are outputs of the scored units (rank ceil(n·i/10)), and units whose output
/// equals an edge stay together in the lower decile. With outputs on a 0.01 grid, 1,999 units
/// put an edge on a value many units share; DuckDB's interpolated quantile made that edge one
/// ulp below the value, and moved those units to the decile above (Spark did not).
#[test]
fn decile_edges_are_outputs_and_ties_at_an_edge_stay_in_the_lower_decile() {
    let mut definition = experiment_value("ties");
    definition["analysis"] = json!({"method": "frequentist", "start": "2026-10-01T00:00:00Z"});
    let Trial { server, admin, .. } = trial("confidence-ties", &definition, true);
    let a = Some(admin.as_str());
    let units = 1999;
    // Three decimals, read back as the JSON text says (the scorecard rounds its bounds).
    let outputs: Vec<f64> = (0..units)
        .map(|i| {
            let output = format!("{:.3}", f64::from((i * 37) % 23) * 0.01 + 0.013);
            output.parse().expect("a number")
        })
        .collect();
    let lines: Vec<String> = outputs
        .iter()
        .enumerate()
        .map(|(i, output)| {
            let variant = if i % 2 == 0 { "control" } else { "treatment" };
            json!({"type": "exposure", "id": format!("x{i}"), "unit": format!("u{i}"), "experiment": "ties",
                   "variant": variant, "ts": "2026-10-02T12:00:00Z", "model_output": output})
            .to_string()
        })
        .collect();
    let (status, body) = server.call("POST", "/v1/events", a, Some(&lines.join("\n")));
    assert_eq!(status, 200, "{body}");
    let (status, card) = server.call("GET", "/v1/experiments/ties/results", a, None);
    assert_eq!(status, 200, "{card}");

    let mut sorted = outputs.clone();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let edges: Vec<f64> = (1..10).map(|i| sorted[(n * i).div_ceil(10) - 1]).collect();
    let buckets = card["confidence"]["buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 10, "{}", card["confidence"]);
    let mut low = f64::NEG_INFINITY;
    for (i, bucket) in buckets.iter().enumerate() {
        let high = edges.get(i).copied().unwrap_or(f64::INFINITY);
        let expected = outputs.iter().filter(|o| **o > low && **o <= high).count() as u64;
        let counted = bucket["units"][0].as_u64().unwrap_or(0) + bucket["units"][1].as_u64().unwrap_or(0);
        assert_eq!(counted, expected, "decile {}: {bucket}", i + 1);
        if let Some(edge) = edges.get(i) {
            assert_eq!(
                bucket["output_high"].as_f64(),
                Some(*edge),
                "decile {}: {bucket}",
                i + 1
            );
        }
        low = high;
    }
}
