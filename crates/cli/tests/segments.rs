//! Segment heterogeneity (issue 22.4): with a segment split, the scorecard tests whether each
//! metric's effect differs across segments (Cochran's Q, I-squared) and flags the primary's.

mod common;

use common::*;
use serde_json::{json, Value};

/// Exposures (with a `device`) and bookings of `experiment`: unit i is in control when even,
/// treatment when odd, on desktop when i % 4 < 2, else mobile; of each arm and device's every
/// 10 units, `rate(variant, device)` · 10 book.
fn events(experiment: &str, units: usize, rate: impl Fn(&str, &str) -> f64) -> String {
    let mut lines = Vec::new();
    for i in 0..units {
        let variant = if i % 2 == 0 { "control" } else { "treatment" };
        let device = if i % 4 < 2 { "desktop" } else { "mobile" };
        // Mobile units trigger 4 in 10, desktop ones 1 in 10.
        let triggered = (i / 4) % 10 < if device == "mobile" { 4 } else { 1 };
        lines.push(json!({"type": "exposure", "id": format!("{experiment}-x{i}"), "unit": format!("{experiment}-u{i}"),
                          "experiment": experiment, "variant": variant, "ts": "2026-11-26T12:00:00Z",
                          "attributes": {"device": device}, "triggered": triggered}));
        if (i / 4) % 10 < (rate(variant, device) * 10.0).round() as usize {
            lines.push(json!({"type": "metric", "id": format!("{experiment}-b{i}"), "unit": format!("{experiment}-u{i}"),
                              "event": "booking", "ts": "2026-11-26T13:00:00Z"}));
        }
    }
    lines.iter().map(Value::to_string).collect::<Vec<_>>().join("\n")
}

fn diagnostic_kinds(card: &Value) -> Vec<String> {
    card["diagnostics"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|d| d["kind"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn an_effect_that_differs_across_segments_is_flagged() {
    let analysis = json!({"method": "frequentist", "start": "2026-11-01T00:00:00Z"});
    let mut uneven = experiment_value("uneven");
    uneven["analysis"] = analysis.clone();
    let Trial { server, admin, .. } = trial("segments-uneven", &uneven, true);
    let a = Some(admin.as_str());
    let mut even = experiment_value("even");
    even["analysis"] = analysis;
    let (status, body) = server.call("POST", "/v1/experiments", a, Some(&even.to_string()));
    assert_eq!(status, 201, "{body}");
    let (status, body) = server.call("POST", "/v1/experiments/even/start", a, None);
    assert_eq!(status, 200, "{body}");
    // uneven: the candidate helps on mobile and hurts on desktop; even: +50% on both.
    let uneven_rate = |variant: &str, device: &str| match (variant, device) {
        ("control", _) => 0.2,
        (_, "mobile") => 0.4,
        _ => 0.1,
    };
    let even_rate = |variant: &str, _: &str| if variant == "control" { 0.2 } else { 0.3 };
    for body in [
        events("uneven", 8000, uneven_rate),
        events("even", 8000, even_rate),
    ] {
        let (status, answer) = server.call("POST", "/v1/events", a, Some(&body));
        assert_eq!(status, 200, "{answer}");
    }

    let (status, card) = server.call("GET", "/v1/experiments/uneven/results?segment=device", a, None);
    assert_eq!(status, 200, "{card}");
    let tests = card["segments"]["heterogeneity"]
        .as_array()
        .expect("heterogeneity");
    let bookings = tests
        .iter()
        .find(|h| h["metric"] == "bookings" && h["variant"] == "treatment")
        .unwrap_or_else(|| panic!("bookings' test: {tests:?}"));
    assert_eq!(bookings["segments"], 2);
    assert_eq!(bookings["df"], 1.0);
    assert!(
        bookings["p_value"].as_f64().is_some_and(|p| p < 0.001),
        "{bookings}"
    );
    assert!(
        bookings["i_squared"].as_f64().is_some_and(|i| i > 0.9),
        "{bookings}"
    );
    assert!(
        diagnostic_kinds(&card).contains(&"segment_heterogeneity".to_string()),
        "{}",
        card["diagnostics"]
    );
    // Each segment's trigger rates, per arm.
    for segment in card["segments"]["values"].as_array().expect("segments") {
        let want = if segment["value"] == "mobile" { 0.4 } else { 0.1 };
        let rates: Vec<f64> = segment["triggers"]["variants"]
            .as_array()
            .map(|rows| rows.iter().filter_map(|r| r["rate"].as_f64()).collect())
            .unwrap_or_default();
        assert!(
            rates.len() == 2 && rates.iter().all(|r| (r - want).abs() < 1e-12),
            "{segment}"
        );
    }
    // Without a segment, no test.
    let (_, plain) = server.call("GET", "/v1/experiments/uneven/results", a, None);
    assert!(!diagnostic_kinds(&plain).contains(&"segment_heterogeneity".to_string()));

    let (status, card) = server.call("GET", "/v1/experiments/even/results?segment=device", a, None);
    assert_eq!(status, 200, "{card}");
    let bookings = card["segments"]["heterogeneity"]
        .as_array()
        .and_then(|tests| tests.iter().find(|h| h["metric"] == "bookings").cloned())
        .expect("bookings' test");
    assert!(
        bookings["p_value"].as_f64().is_some_and(|p| p > 0.5),
        "{bookings}"
    );
    assert_eq!(bookings["i_squared"], 0.0);
    assert!(!diagnostic_kinds(&card).contains(&"segment_heterogeneity".to_string()));
}
