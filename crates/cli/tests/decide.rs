//! `POST /v1/decide` over HTTP: GrowthBook-compatible buckets, control's
//! payload outside coverage, exposures logged through the durable path, and
//! a unit keeps its arm when coverage grows.

mod common;

use std::time::Duration;

use common::*;
use rctgate_assign::{decide, ExperimentConfig};
use serde_json::{json, Value};

fn decide_one(server: &Server, key: &str, unit: &str, expose: bool) -> Value {
    let body = json!({"unit": unit, "experiments": ["ranker-v7"], "expose": expose}).to_string();
    let (status, answer) = server.call("POST", "/v1/decide", Some(key), Some(&body));
    assert_eq!(status, 200, "{answer}");
    answer["assignments"][0].clone()
}

#[test]
fn decide_matches_growthbook_buckets_and_logs_exposures() {
    let Trial {
        server,
        admin,
        assign,
        ..
    } = trial("decide", &experiment_value("ranker-v7"), false);
    // Not running yet: no assignments at all.
    let (status, answer) = server.call("POST", "/v1/decide", Some(&assign), Some(r#"{"unit": "u1"}"#));
    assert_eq!(status, 200);
    assert_eq!(
        answer["assignments"].as_array().map(Vec::len),
        Some(0),
        "{answer}"
    );
    assert_eq!(
        server
            .call("POST", "/v1/experiments/ranker-v7/start", Some(&admin), None)
            .0,
        200
    );

    let mut config = ExperimentConfig::new("ranker-v7", 2);
    config.weights = Some(vec![0.5, 0.5]);
    config.coverage = Some(0.5);
    let mut in_experiment = 0;
    let mut arms = Vec::new();
    for i in 0..400 {
        let unit = if i % 7 == 0 {
            format!("ユーザー{i}")
        } else {
            format!("user-{i}")
        };
        let got = decide_one(&server, &assign, &unit, true);
        let want = decide(&config, &unit).expect("valid config");
        assert_eq!(
            got["in_experiment"].as_bool(),
            Some(want.in_experiment()),
            "{unit}: {got}"
        );
        let index = want.variant.unwrap_or(0);
        assert_eq!(got["variant_index"].as_u64(), Some(index as u64), "{unit}");
        let name = ["control", "treatment"][index];
        assert_eq!(got["variant"].as_str(), Some(name));
        assert_eq!(
            got["payload"]["model"].as_str(),
            Some(["v6", "v7"][index]),
            "control's payload when out"
        );
        if want.in_experiment() {
            in_experiment += 1;
        }
        arms.push((unit, got));
    }
    assert!(
        in_experiment > 150 && in_experiment < 250,
        "coverage 0.5: {in_experiment} of 400"
    );
    // Exposures arrive through the durable path: one per in-experiment decision.
    let stored = wait_for_exposures(
        &server,
        &admin,
        "ranker-v7",
        in_experiment,
        Duration::from_secs(20),
    );
    assert_eq!(stored, in_experiment);
    let (_, metrics) = server.call("GET", "/metrics", None, None);
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(
        metrics.contains(&format!("rctgate_exposures_written_total {in_experiment}")),
        "{metrics}"
    );
    assert!(metrics.contains("rctgate_exposures_dropped_total 0"), "{metrics}");

    // Coverage grows while running: every unit that was in keeps its arm.
    let (_, mut experiment) = server.call("GET", "/v1/experiments/ranker-v7", Some(&admin), None);
    experiment["coverage"] = 1.0.into();
    let (status, body) = server.call(
        "PUT",
        "/v1/experiments/ranker-v7",
        Some(&admin),
        Some(&experiment.to_string()),
    );
    assert_eq!(status, 200, "{body}");
    let mut now_in = 0;
    for (unit, before) in &arms {
        let after = decide_one(&server, &assign, unit, false);
        assert_eq!(
            after["in_experiment"].as_bool(),
            Some(true),
            "coverage 1: everyone is in"
        );
        if before["in_experiment"].as_bool() == Some(true) {
            assert_eq!(after["variant"], before["variant"], "{unit} kept its arm");
            now_in += 1;
        }
    }
    assert_eq!(now_in, in_experiment);

    // A unit sent with JSON escapes (clients that escape non-ASCII, quotes) is the same unit.
    for unit in ["ユーザー7", "user-\"7\"", "tab\there"] {
        let escaped: String = unit
            .encode_utf16()
            .map(|u| match u {
                0x20..=0x7e if u != u16::from(b'"') && u != u16::from(b'\\') => {
                    char::from(u as u8).to_string()
                }
                _ => format!("\\u{u:04x}"),
            })
            .collect();
        let body = format!(r#"{{"unit": "{escaped}", "experiments": ["ranker-v7"], "expose": false}}"#);
        let (status, answer) = server.call("POST", "/v1/decide", Some(&assign), Some(&body));
        assert_eq!(status, 200, "{body}: {answer}");
        assert_eq!(
            answer["assignments"][0],
            decide_one(&server, &assign, unit, false),
            "{body}"
        );
    }

    // Errors: an unknown experiment, a missing unit, the wrong scope.
    let (status, body) = server.call(
        "POST",
        "/v1/decide",
        Some(&assign),
        Some(r#"{"unit": "u1", "experiments": ["nope"]}"#),
    );
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["field"].as_str(), Some("experiments[0]"));
    let (status, body) = server.call(
        "POST",
        "/v1/decide",
        Some(&assign),
        Some(r#"{"experiments": []}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"].as_str(), Some("unit"), "{body}");
    // A unit is at most 256 characters, counted as characters, not bytes: 256 two-byte
    // characters (512 bytes) pass, 257 of either kind do not, nor does an empty unit.
    for (unit, allowed) in [
        ("é".repeat(256), true),
        ("u".repeat(256), true),
        ("é".repeat(257), false),
        ("u".repeat(257), false),
        (String::new(), false),
    ] {
        let request = json!({"unit": unit, "expose": false}).to_string();
        let (status, body) = server.call("POST", "/v1/decide", Some(&assign), Some(&request));
        if allowed {
            assert_eq!(status, 200, "{} characters: {body}", unit.chars().count());
        } else {
            assert_eq!(status, 400, "{} characters: {body}", unit.chars().count());
            assert_eq!(body["field"].as_str(), Some("unit"), "{body}");
        }
    }
    // Stopped: no longer assigned.
    assert_eq!(
        server
            .call("POST", "/v1/experiments/ranker-v7/stop", Some(&admin), None)
            .0,
        200
    );
    let (_, answer) = server.call("POST", "/v1/decide", Some(&assign), Some(r#"{"unit": "u1"}"#));
    assert_eq!(
        answer["assignments"].as_array().map(Vec::len),
        Some(0),
        "{answer}"
    );
}

#[test]
fn forced_units_get_their_arm_without_exposures() {
    let Trial { server, admin, .. } = trial("forced", &experiment_value("other"), false);
    let a = Some(admin.as_str());
    let mut experiment = experiment_value("qa-trial");
    experiment["forced"] = json!({"qa-bob": "nope"});
    let (status, body) = server.call("POST", "/v1/experiments", a, Some(&experiment.to_string()));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"].as_str(), Some("forced.qa-bob"), "{body}");
    // Pin testers to both arms; coverage 0.5 would leave some of them out otherwise.
    let testers: Vec<String> = (0..20).map(|i| format!("qa-{i}")).collect();
    let pins: serde_json::Map<String, Value> = testers
        .iter()
        .enumerate()
        .map(|(i, u)| (u.clone(), json!(["control", "treatment"][i % 2])))
        .collect();
    experiment["forced"] = Value::Object(pins);
    assert_eq!(
        server
            .call("POST", "/v1/experiments", a, Some(&experiment.to_string()))
            .0,
        201
    );
    assert_eq!(
        server.call("POST", "/v1/experiments/qa-trial/start", a, None).0,
        200
    );
    for (i, unit) in testers.iter().enumerate() {
        let body = json!({"unit": unit}).to_string();
        let (status, answer) = server.call("POST", "/v1/decide", a, Some(&body));
        assert_eq!(status, 200, "{answer}");
        let got = &answer["assignments"][0];
        assert_eq!(
            got["variant"].as_str(),
            Some(["control", "treatment"][i % 2]),
            "{unit}: {got}"
        );
        assert_eq!(got["in_experiment"].as_bool(), Some(true));
        assert_eq!(
            answer["exposures_queued"].as_u64(),
            Some(0),
            "QA traffic is not an exposure"
        );
    }
}

#[test]
fn a_unit_deciding_again_is_not_logged_again() {
    let Trial {
        server,
        admin,
        assign,
        ..
    } = trial("decide-repeat", &experiment_value("ranker-v7"), true);
    // Coverage 0.5: find a unit inside the experiment.
    let unit = (0..100)
        .map(|i| format!("returning-{i}"))
        .find(|unit| decide_one(&server, &assign, unit, false)["in_experiment"] == true)
        .expect("a unit in the experiment");
    let body = json!({"unit": unit, "experiments": ["ranker-v7"]}).to_string();
    let mut answers = Vec::new();
    for _ in 0..5 {
        let (status, answer) = server.call("POST", "/v1/decide", Some(&assign), Some(&body));
        assert_eq!(status, 200, "{answer}");
        answers.push((
            answer["exposures_queued"].clone(),
            answer["exposures_repeated"].clone(),
        ));
    }
    assert_eq!(answers[0], (json!(1), json!(0)));
    assert!(
        answers[1..].iter().all(|a| *a == (json!(0), json!(1))),
        "{answers:?}"
    );
    let stored = wait_for_exposures(&server, &admin, "ranker-v7", 1, Duration::from_secs(10));
    assert_eq!(stored, 1, "one exposure stored for five decisions");
    let (_, metrics) = server.call("GET", "/metrics", None, None);
    assert!(
        metrics
            .as_str()
            .is_some_and(|text| text.contains("rctgate_exposures_repeated_total 4")),
        "{metrics}"
    );
}
