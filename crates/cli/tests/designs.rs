//! Booking's designs for model-triggered changes (issue 22.2, 22.3) over HTTP: validation
//! names the field, a seeded C/T1/T2 trial whose candidate helps only triggered units shows
//! the diluted all-units effect and the triggered T1-vs-T2 effect recovering it, the verdict
//! is the deciding contrast's, and the gate promotes on it; the disagreement design reports
//! its disagreement rate and the effect that rate leaves detectable.

mod common;

use common::*;
use rctgate_simulate::{events, Scenario, SimMetric};
use serde_json::{json, Value};

fn start() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-10-01T00:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc)
}

/// Three arms C, T1, T2 with `versions`; the design's keys and the analysis from 2026-10-01.
fn definition(key: &str, design: &str, versions: [Option<&str>; 3]) -> Value {
    let arm = |name: &str, version: Option<&str>| json!({"name": name, "weight": 1.0 / 3.0, "model_version": version, "payload": {"version": version}});
    json!({
        "key": key, "hypothesis": "The candidate books more where it changes the ranking.",
        "model": "ranker", "design": design, "coverage": 1.0,
        "variants": [arm("c", versions[0]), arm("t1", versions[1]), arm("t2", versions[2])],
        "metrics": {"primary": "bookings"},
        "analysis": {"method": "frequentist", "start": "2026-10-01T00:00:00Z"}
    })
}

/// The seeded trial: 30,000 units over the three arms, C never marks triggers, `share` of
/// units trigger, and bookings rise by `lift` in T1 for triggered units only.
fn post_trial(server: &Server, key: &str, experiment: &str, share: f64, lift: f64, seed: u64) {
    let booking = SimMetric {
        event: "booking".into(),
        rate: 0.3,
        lifts: vec![1.0, lift, 1.0],
        value: None,
        window_hours: 168.0,
        pre_days: 0,
        late_share: 0.0,
    };
    let mut scenario = Scenario::two_arms(experiment, 30_000, start(), vec![booking]);
    scenario.variants = vec![("c".into(), 1.0), ("t1".into(), 1.0), ("t2".into(), 1.0)];
    scenario.triggered_share = share;
    scenario.lifts_on_triggered_only = true;
    scenario.unmarked_arms = vec![0];
    scenario.unit_prefix = format!("{experiment}-");
    scenario.seed = seed;
    let lines: Vec<String> = events(&scenario)
        .map(|e| e.to_json(experiment).to_string())
        .collect();
    for chunk in lines.chunks(20_000) {
        let (status, body) = server.call("POST", "/v1/events", Some(key), Some(&chunk.join("\n")));
        assert_eq!(status, 200, "{body}");
    }
}

/// The relative lift of the bookings proportion when a unit's booking rate is multiplied by
/// `lift`: the simulator draws Poisson(0.3 · P · lift) bookings, P lognormal(-0.125, 0.5), and
/// a unit converts when it books at least once. Integrated over P on a fine grid.
fn true_effect(lift: f64) -> f64 {
    let (mut base, mut lifted) = (0.0, 0.0);
    for i in 0..=16_000 {
        let z = -8.0 + f64::from(i) * 0.001;
        let weight = (-z * z / 2.0).exp();
        let propensity = (-0.125 + 0.5 * z).exp();
        base += weight * (1.0 - (-0.3 * propensity).exp());
        lifted += weight * (1.0 - (-0.3 * propensity * lift).exp());
    }
    lifted / base - 1.0
}

/// Registers model `ranker` with `versions`.
fn register(server: &Server, key: &str, versions: &[&str]) {
    let a = Some(key);
    let (status, answer) = server.call(
        "POST",
        "/v1/models",
        a,
        Some(&json!({"name": "ranker"}).to_string()),
    );
    assert_eq!(status, 201, "{answer}");
    for version in versions {
        let body = json!({"version": version}).to_string();
        let (status, answer) = server.call("POST", "/v1/models/ranker/versions", a, Some(&body));
        assert_eq!(status, 201, "{answer}");
    }
}

fn contrast<'a>(card: &'a Value, name: &str) -> &'a Value {
    card["design"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("contrast {name}: {}", card["design"]))
}

/// The primary's treatment row of a contrast: (effect, ci_low, ci_high).
fn primary_effect(contrast: &Value) -> (f64, f64, f64) {
    let row = &contrast["metrics"][0]["variants"][1];
    let get = |field: &str| row[field].as_f64().unwrap_or_else(|| panic!("{field} of {row}"));
    (get("effect"), get("ci_low"), get("ci_high"))
}

#[test]
fn designs_refuse_arms_that_do_not_match_their_roles() {
    let Trial { server, admin, .. } = trial("designs-validation", &experiment_value("plain"), false);
    let a = Some(admin.as_str());
    let mut two_arms = definition("bad1", "c_t1_t2", [None, Some("v1"), Some("v1")]);
    two_arms["variants"].as_array_mut().map(|v| v.pop());
    let mut triggered_only = definition("bad3", "c_t1_t2", [None, Some("v1"), Some("v1")]);
    triggered_only["analysis"]["triggered_only"] = json!(true);
    let mut unknown = definition("bad5", "c_t1_t2", [None, Some("v1"), Some("v1")]);
    unknown["design"] = json!("abc");
    for (body, field) in [
        (two_arms, "variants"),
        (
            definition("bad2", "c_t1_t2", [None, Some("v1"), Some("v2")]),
            "variants[2].model_version",
        ),
        (triggered_only, "analysis.triggered_only"),
        (
            definition("bad4", "disagreement", [Some("v1"), Some("v2"), Some("v2")]),
            "variants[2].model_version",
        ),
        (
            definition("bad6", "disagreement", [Some("v1"), Some("v1"), Some("v1")]),
            "variants[1].model_version",
        ),
        (unknown, "design"),
    ] {
        let (status, answer) = server.call("POST", "/v1/experiments", a, Some(&body.to_string()));
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{answer}");
    }
}

#[test]
fn a_c_t1_t2_trial_recovers_the_diluted_effect_and_decides_the_gate() {
    let Trial { server, admin, .. } = trial("designs-ct1t2", &experiment_value("plain"), false);
    let a = Some(admin.as_str());
    register(&server, &admin, &["v1"]);
    let body = definition("ctt", "c_t1_t2", [None, Some("v1"), Some("v1")]).to_string();
    let (status, answer) = server.call("POST", "/v1/experiments", a, Some(&body));
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = server.call("POST", "/v1/experiments/ctt/start", a, None);
    assert_eq!(status, 200, "{answer}");
    // 20% of units trigger; the feature lifts their booking rate by 40%.
    post_trial(&server, &admin, "ctt", 0.2, 1.4, 7);

    let (status, card) = server.call("GET", "/v1/experiments/ctt/results", a, None);
    assert_eq!(status, 200, "{card}");
    let feature = contrast(&card, "feature");
    assert_eq!(
        (feature["control"].as_str(), feature["treatment"].as_str()),
        (Some("t2"), Some("t1"))
    );
    assert_eq!(feature["triggered_only"], true);
    assert_eq!(feature["decides"], true);
    let (effect, low, high) = primary_effect(feature);
    let truth = true_effect(1.4);
    assert!(
        low < truth && truth < high && low > 0.0,
        "the triggered effect recovers {truth}: {effect} [{low}, {high}]"
    );
    // Over all units, a fifth of them lifted: the total contrast sees about a fifth of it, and
    // its interval is too wide to exclude zero by as much.
    let (total, total_low, total_high) = primary_effect(contrast(&card, "total"));
    assert!(
        total_low < 0.2 * truth && 0.2 * truth < total_high,
        "diluted: {total} [{total_low}, {total_high}]"
    );
    assert!(
        total < effect / 2.0,
        "diluted over all units: {total} against {effect}"
    );
    let (cost, cost_low, cost_high) = primary_effect(contrast(&card, "model_cost"));
    assert!(
        cost_low < 0.0 && 0.0 < cost_high,
        "calling the model alone changes nothing: {cost}"
    );
    // Trigger rates: C never marks; T1 and T2 trigger alike.
    let triggers = &card["triggers"];
    assert_eq!(triggers["variants"][0]["marks_triggers"], false, "{triggers}");
    assert_eq!(triggers["ok"], true, "{triggers}");
    assert_eq!(card["decision"]["verdict"], "ship", "{}", card["decision"]);
    assert_eq!(card["decision"]["variant"], "t1");
    assert!(card["decision"]["reasons"][0]
        .as_str()
        .unwrap_or_default()
        .starts_with("feature (t1 vs t2"));

    // Stopped, the verdict is trial evidence: the gate promotes v1 on it.
    let (status, answer) = server.call("POST", "/v1/experiments/ctt/stop", a, None);
    assert_eq!(status, 200, "{answer}");
    let promote = json!({"version": "v1", "experiment": "ctt"}).to_string();
    let (status, answer) = server.call("POST", "/v1/models/ranker/promote", a, Some(&promote));
    assert_eq!(status, 200, "{answer}");
    let (_, ledger) = server.call("GET", "/v1/ledger", a, None);
    let entries = ledger["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "the deciding arm only: {entries:?}");
    // The ledger's lift is the business-level one, over all units (comparable with other
    // trials'), not the triggered units' effect the verdict read.
    assert!(
        (entries[0]["lift"].as_f64().unwrap_or(0.0) - total).abs() < 1e-12,
        "{entries:?}"
    );
}

#[test]
fn a_disagreement_trial_reports_its_rate_and_the_power_it_leaves() {
    let Trial { server, admin, .. } = trial("designs-disagreement", &experiment_value("plain"), false);
    let a = Some(admin.as_str());
    register(&server, &admin, &["v6", "v7"]);
    let mut body = definition("dis", "disagreement", [Some("v6"), Some("v7"), Some("v6")]);
    body["analysis"]["planned_units"] = json!(60_000);
    let (status, answer) = server.call("POST", "/v1/experiments", a, Some(&body.to_string()));
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = server.call("POST", "/v1/experiments/dis/start", a, None);
    assert_eq!(status, 200, "{answer}");
    // The two models disagree for 10% of units; where they do, v7's booking rate is 50% higher.
    post_trial(&server, &admin, "dis", 0.1, 1.5, 11);

    let (status, card) = server.call("GET", "/v1/experiments/dis/results", a, None);
    assert_eq!(status, 200, "{card}");
    let names: Vec<&str> = card["design"]
        .as_array()
        .map(|all| all.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["candidate", "compute_cost", "total"]);
    let candidate = contrast(&card, "candidate");
    let (effect, low, high) = primary_effect(candidate);
    let truth = true_effect(1.5);
    assert!(
        low < truth && truth < high && low > 0.0,
        "{truth}: {effect} [{low}, {high}]"
    );
    // The disagreement rate is T1's and T2's trigger rate.
    let rates: Vec<f64> = card["triggers"]["variants"]
        .as_array()
        .map(|rows| rows.iter().skip(1).filter_map(|r| r["rate"].as_f64()).collect())
        .unwrap_or_default();
    assert!(
        rates.len() == 2 && rates.iter().all(|r| (r - 0.1).abs() < 0.02),
        "{rates:?}"
    );
    // Planned 60,000 exposed units, 20,000 per arm, about 2,000 of them triggered: the MDE
    // `rctgate power --trigger-rate` gives for that sample.
    let power = &candidate["power"];
    assert_eq!(power["per_arm"], 20_000, "{power}");
    let rate = power["trigger_rate"].as_f64().expect("rate");
    assert_eq!(
        power["triggered_per_arm"].as_u64(),
        Some((20_000.0 * rate).floor() as u64)
    );
    let baseline = candidate["metrics"][0]["variants"][0]["mean"]
        .as_f64()
        .expect("baseline");
    let out = rctgate(&[
        "power",
        "--kind",
        "proportion",
        "--baseline",
        &baseline.to_string(),
        "--per-arm",
        "20000",
        "--trigger-rate",
        &rate.to_string(),
    ]);
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", stderr(&out)));
    let mde = power["mde"].as_f64().expect("mde");
    assert!(
        (cli["mde"].as_f64().unwrap_or(0.0) - mde).abs() < 1e-9 * mde,
        "{cli} vs {power}"
    );
    // 30,000 of 60,000 planned: a win keeps running.
    assert_eq!(
        card["decision"]["verdict"], "keep_running",
        "{}",
        card["decision"]
    );
}

/// The disagreement design without `triggered`: T1 and T2 log both models' outputs
/// (`model_output` served, `shadow_output` computed alongside) and rctgate triggers the units
/// whose outputs differ; C logs only its model's output.
#[test]
fn a_disagreement_is_read_from_the_two_outputs() {
    let Trial { server, admin, .. } = trial("designs-outputs", &experiment_value("plain"), false);
    let a = Some(admin.as_str());
    register(&server, &admin, &["v6", "v7"]);
    let body = definition("outputs", "disagreement", [Some("v6"), Some("v7"), Some("v6")]);
    let (status, answer) = server.call("POST", "/v1/experiments", a, Some(&body.to_string()));
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = server.call("POST", "/v1/experiments/outputs/start", a, None);
    assert_eq!(status, 200, "{answer}");
    // 3,000 units in turn c, t1, t2; in t1 and t2 the models disagree for every fourth unit.
    let lines: Vec<String> = (0..3000)
        .map(|i| {
            let arm = ["c", "t1", "t2"][i % 3];
            let mut exposure = json!({"type": "exposure", "id": format!("x{i}"), "unit": format!("u{i}"),
                                      "experiment": "outputs", "variant": arm, "ts": "2026-10-02T12:00:00Z",
                                      "model_output": 0.5});
            if arm != "c" {
                exposure["shadow_output"] = json!(if (i / 3) % 4 == 0 { 0.9 } else { 0.5 });
            }
            exposure.to_string()
        })
        .collect();
    let (status, answer) = server.call("POST", "/v1/events", a, Some(&lines.join("\n")));
    assert_eq!(status, 200, "{answer}");
    let bad = r#"{"type": "exposure", "id": "bad", "unit": "u1", "experiment": "outputs", "variant": "t1", "ts": "2026-10-02T12:00:00Z", "shadow_output": 0.3}"#;
    let (status, answer) = server.call("POST", "/v1/events", a, Some(bad));
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("shadow_output"), "{answer}");

    let (status, card) = server.call("GET", "/v1/experiments/outputs/results", a, None);
    assert_eq!(status, 200, "{card}");
    let rows: Vec<(String, u64, u64, bool)> = card["triggers"]["variants"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    (
                        r["variant"].as_str().unwrap_or_default().to_string(),
                        r["units"].as_u64().unwrap_or(0),
                        r["triggered"].as_u64().unwrap_or(0),
                        r["marks_triggers"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        rows,
        [
            ("c".to_string(), 1000, 0, false),
            ("t1".to_string(), 1000, 250, true),
            ("t2".to_string(), 1000, 250, true)
        ],
        "{}",
        card["triggers"]
    );
    // The deciding contrast counts the 250 + 250 units where the models disagree.
    let candidate = contrast(&card, "candidate");
    assert_eq!(candidate["units"]["t2"], 250, "{candidate}");
    assert_eq!(candidate["units"]["t1"], 250, "{candidate}");
}
