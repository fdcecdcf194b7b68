//! Novelty and primacy (issue 23.3) over HTTP: the scorecard's effect by days since first
//! exposure equals an independent recomputation from the events sent, and a treatment that
//! helps only on the first day raises `novelty_effect`, one that hurts only then
//! `primacy_effect`, and a steady one neither.

mod common;

use common::*;
use serde_json::{json, Value};

const UNITS: u64 = 6000;
const DAYS: usize = 7;

/// A deterministic uniform draw in [0, 1) for (unit, day).
fn draw(unit: u64, day: usize) -> f64 {
    let mut x = unit.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (day as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether `unit` (treatment when odd) books on `day` since its exposure.
type Books = fn(bool, usize) -> f64;

/// Runs a trial whose booking rate per unit and day is `rate(treated, day)`; returns its
/// scorecard and each unit's (treated, bookings per day).
fn scenario(name: &str, rate: Books) -> (Value, Vec<(bool, [f64; DAYS])>) {
    let mut experiment = experiment_value(name);
    experiment["coverage"] = json!(1.0);
    experiment["analysis"] = json!({"start": "2026-10-01T00:00:00Z", "end": "2026-10-20T00:00:00Z"});
    let Trial { server, admin, .. } = trial(name, &experiment, true);
    let mut units = Vec::new();
    let mut lines = Vec::new();
    for unit in 0..UNITS {
        let treated = unit % 2 == 1;
        let variant = if treated { "treatment" } else { "control" };
        let minute = unit % 600;
        lines.push(format!(
            r#"{{"type":"exposure","id":"x{unit}","unit":"u{unit}","experiment":"{name}","variant":"{variant}","ts":"2026-10-01T{:02}:{:02}:00Z"}}"#,
            minute / 60,
            minute % 60
        ));
        let mut days = [0.0; DAYS];
        for (day, booked) in days.iter_mut().enumerate() {
            if draw(unit, day) < rate(treated, day) {
                *booked = 1.0;
                lines.push(format!(
                    r#"{{"type":"metric","id":"b{unit}-{day}","unit":"u{unit}","event":"booking","ts":"2026-10-{:02}T{:02}:{:02}:30Z"}}"#,
                    1 + day + (minute / 60 + 12) as usize / 24,
                    (minute / 60 + 12) % 24,
                    minute % 60
                ));
            }
        }
        units.push((treated, days));
    }
    for chunk in lines.chunks(20_000) {
        let (status, body) = server.call("POST", "/v1/events", Some(&admin), Some(&chunk.join("\n")));
        assert_eq!(status, 200, "{body}");
    }
    let results = |query: &str| {
        let (status, card) = server.call(
            "GET",
            &format!("/v1/experiments/{name}/results{query}"),
            Some(&admin),
            None,
        );
        assert_eq!(status, 200, "{card}");
        card
    };
    let card = results("");
    // A segmented scorecard (the dashboard's default view) carries the trial's novelty too.
    let split = results("?segment=device");
    // Equal up to the order DuckDB sums in.
    assert!(
        close(&split["novelty"], &card["novelty"]),
        "{} against {}",
        split["novelty"],
        card["novelty"]
    );
    (card, units)
}

/// The same JSON, numbers equal at 1e-9 relative.
fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1e-12)
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| close(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
        }
        _ => a == b,
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (n, sum) = values.fold((0.0, 0.0), |(n, s), v| (n + 1.0, s + v));
    sum / n
}

fn kinds(card: &Value) -> Vec<String> {
    card["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter_map(|d| d["kind"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn the_effect_by_day_since_exposure_matches_the_events_and_names_novelty() {
    // +100% bookings on the day of the first exposure, nothing after: novelty.
    let (card, units) = scenario(
        "novelty",
        |treated, day| if treated && day == 0 { 0.3 } else { 0.15 },
    );
    let novelty = &card["novelty"];
    // The metric counts 7 days after exposure, so the split reads 7 days, the first against
    // the other six.
    assert_eq!(
        (novelty["days_observed"].as_i64(), novelty["early_days"].as_i64()),
        (Some(7), Some(1)),
        "{novelty}"
    );
    assert_eq!(novelty["units"], json!([UNITS / 2, UNITS / 2]));
    for day in 0..DAYS {
        let arm = |treated: bool| mean(units.iter().filter(|u| u.0 == treated).map(|u| u.1[day]));
        let expected = (arm(true) - arm(false)) / arm(false);
        let got = novelty["days"][day]["effect"]["effect"].as_f64().expect("effect");
        assert!(
            (got - expected).abs() < 1e-9,
            "day {day}: {got} against {expected}"
        );
    }
    let d = |u: &(bool, [f64; DAYS])| u.1[0] - u.1[1..].iter().sum::<f64>() / 6.0;
    let expected = mean(units.iter().filter(|u| u.0).map(d)) - mean(units.iter().filter(|u| !u.0).map(d));
    let got = novelty["early_minus_late"]["effect"].as_f64().expect("contrast");
    assert!((got - expected).abs() < 1e-9, "{got} against {expected}");
    assert!(
        kinds(&card).contains(&"novelty_effect".to_string()),
        "{}",
        card["diagnostics"]
    );

    // 40% fewer on the first day, then as control: primacy.
    let (card, _) = scenario(
        "primacy",
        |treated, day| if treated && day == 0 { 0.09 } else { 0.15 },
    );
    assert!(
        kinds(&card).contains(&"primacy_effect".to_string()),
        "{}",
        card["diagnostics"]
    );

    // +20% every day: an effect, but the same early and late.
    let (card, _) = scenario("steady", |treated, _| if treated { 0.18 } else { 0.15 });
    let found = kinds(&card);
    assert!(
        !found
            .iter()
            .any(|k| k == "novelty_effect" || k == "primacy_effect"),
        "{found:?}"
    );
    assert!(
        card["novelty"]["days"][3]["effect"]["ci_low"]
            .as_f64()
            .expect("day 3")
            > 0.0
    );
}
