//! A layer's global holdout over HTTP (issue 23): its control arm's units are kept out of
//! every experiment of the layer (control's payload, `in_experiment: false`, no exposure),
//! everyone else is assigned exactly as GrowthBook would, each unit decided in the layer is
//! exposed to the holdout (also when the client asks for one experiment), OFREP agrees, and
//! stopping the holdout gives the units back; bad definitions are refused naming the field.

mod common;

use std::time::Duration;

use common::*;
use rctgate_assign::{decide, ExperimentConfig, Layer};
use serde_json::{json, Value};

const SHARE: f64 = 0.1;

fn in_layer(key: &str, start: f64, end: f64) -> Value {
    json!({
        "key": key,
        "hypothesis": "A better ranker sells more rooms.",
        "layer": {"name": "search", "start": start, "end": end},
        "variants": [
            {"name": "control", "weight": 0.5, "payload": {"ranker": format!("{key}-control")}},
            {"name": "treatment", "weight": 0.5, "payload": {"ranker": format!("{key}-treatment")}}
        ],
        "metrics": {"primary": "bookings"}
    })
}

fn holdout(key: &str, share: f64) -> Value {
    json!({
        "key": key,
        "hypothesis": "Everything the search layer launched adds bookings.",
        "holds_out_layer": "search",
        "variants": [
            {"name": "holdout", "weight": share},
            {"name": "launched", "weight": 1.0 - share}
        ],
        "metrics": {"primary": "bookings"},
        "analysis": {"method": "sequential"}
    })
}

/// GrowthBook's decision for `unit` in the two-arm experiment `key`.
fn growthbook(key: &str, weights: [f64; 2], layer: Option<(f64, f64)>, unit: &str) -> Option<usize> {
    let mut config = ExperimentConfig::new(key, 2);
    config.weights = Some(weights.to_vec());
    config.layer = layer.map(|(start, end)| Layer::new("search", start, end));
    decide(&config, unit).expect("valid config").variant
}

fn create(server: &Server, admin: &str, body: &Value) -> (u16, Value) {
    server.call("POST", "/v1/experiments", Some(admin), Some(&body.to_string()))
}

fn start(server: &Server, admin: &str, key: &str) -> (u16, Value) {
    server.call("POST", &format!("/v1/experiments/{key}/start"), Some(admin), None)
}

fn decide_all(server: &Server, assign: &str, unit: &str, experiments: Option<&[&str]>) -> Value {
    let mut body = json!({"unit": unit});
    if let Some(keys) = experiments {
        body["experiments"] = json!(keys);
    }
    let (status, answer) = server.call("POST", "/v1/decide", Some(assign), Some(&body.to_string()));
    assert_eq!(status, 200, "{answer}");
    answer
}

fn assignment<'a>(answer: &'a Value, key: &str) -> &'a Value {
    answer["assignments"]
        .as_array()
        .and_then(|all| all.iter().find(|a| a["experiment"] == key))
        .unwrap_or_else(|| panic!("no assignment for {key}: {answer}"))
}

#[test]
fn a_layer_holdout_keeps_its_units_out_of_every_experiment_of_the_layer() {
    let Trial {
        server,
        admin,
        assign,
        read,
        ..
    } = trial("layer-holdout", &in_layer("rank-a", 0.0, 0.5), true);
    assert_eq!(create(&server, &admin, &in_layer("rank-b", 0.5, 1.0)).0, 201);
    assert_eq!(start(&server, &admin, "rank-b").0, 200);

    // Bad definitions name their field and store nothing.
    let mut ranged = holdout("ranged", SHARE);
    ranged["layer"] = json!({"name": "search", "start": 0.0, "end": 0.5});
    let mut too_big = holdout("too-big", 0.6);
    too_big["variants"][1]["weight"] = json!(0.4);
    for (body, field) in [(ranged, "layer"), (too_big, "variants[0].weight")] {
        let (status, answer) = create(&server, &admin, &body);
        assert_eq!((status, answer["field"].as_str()), (400, Some(field)), "{answer}");
        let key = body["key"].as_str().expect("key");
        let (status, _) = server.call("GET", &format!("/v1/experiments/{key}"), Some(&read), None);
        assert_eq!(status, 404, "{key} was not stored");
    }

    assert_eq!(create(&server, &admin, &holdout("search-holdout", SHARE)).0, 201);
    assert_eq!(start(&server, &admin, "search-holdout").0, 200);
    // One global holdout per layer.
    assert_eq!(create(&server, &admin, &holdout("second-holdout", 0.05)).0, 201);
    let (status, answer) = start(&server, &admin, "second-holdout");
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains("already holds out layer search"),
        "{answer}"
    );

    let units: Vec<String> = (0..3000)
        .map(|i| {
            if i % 5 == 0 {
                format!("gäst-{i}")
            } else {
                format!("guest-{i}")
            }
        })
        .collect();
    let (mut held, mut exposed_a, mut exposed_b) = (Vec::new(), 0u64, 0u64);
    for unit in &units {
        let answer = decide_all(&server, &assign, unit, None);
        let is_held = growthbook("search-holdout", [SHARE, 1.0 - SHARE], None, unit) == Some(0);
        let h = assignment(&answer, "search-holdout");
        assert_eq!(
            h["variant"],
            if is_held { "holdout" } else { "launched" },
            "{unit}"
        );
        for (key, range, exposed) in [
            ("rank-a", (0.0, 0.5), &mut exposed_a),
            ("rank-b", (0.5, 1.0), &mut exposed_b),
        ] {
            let got = assignment(&answer, key);
            let want = growthbook(key, [0.5, 0.5], Some(range), unit).filter(|_| !is_held);
            assert_eq!(
                got["in_experiment"].as_bool(),
                Some(want.is_some()),
                "{unit} in {key}: {got}"
            );
            let arm = ["control", "treatment"][want.unwrap_or(0)];
            assert_eq!(got["variant"].as_str(), Some(arm), "{unit} in {key}");
            assert_eq!(
                got["payload"]["ranker"],
                format!("{key}-{arm}"),
                "{unit} in {key}"
            );
            *exposed += u64::from(want.is_some());
        }
        if is_held {
            held.push(unit.clone());
        }
    }
    // 10% held out: within five standard deviations of 300.
    let expected = SHARE * units.len() as f64;
    let sd = (expected * (1.0 - SHARE)).sqrt();
    assert!(
        (held.len() as f64 - expected).abs() < 5.0 * sd,
        "{} held out",
        held.len()
    );

    // Exposures: every unit to the holdout, only the others to the layer's experiments.
    let wait = |experiment: &str, expected: u64| {
        wait_for_exposures(&server, &read, experiment, expected, Duration::from_secs(20))
    };
    assert_eq!(wait("search-holdout", units.len() as u64), units.len() as u64);
    assert_eq!(wait("rank-a", exposed_a), exposed_a);
    assert_eq!(wait("rank-b", exposed_b), exposed_b);

    // A client asking for one experiment gets that one, and the unit still enters the holdout.
    for i in 0..200 {
        let answer = decide_all(&server, &assign, &format!("solo-{i}"), Some(&["rank-a"]));
        assert_eq!(
            answer["assignments"].as_array().map(Vec::len),
            Some(1),
            "{answer}"
        );
    }
    let total = units.len() as u64 + 200;
    assert_eq!(wait("search-holdout", total), total);

    // The holdout's scorecard counts both of its arms.
    let (status, card) = server.call("GET", "/v1/experiments/search-holdout/results", Some(&read), None);
    assert_eq!(status, 200, "{card}");
    let counted: u64 = card["units"]
        .as_object()
        .map_or(0, |arms| arms.values().filter_map(Value::as_u64).sum());
    assert_eq!(counted, total, "{}", card["units"]);

    // The dashboard says what the holdout is.
    let (status, cookie) = login(&server.url, &read);
    assert_eq!(status, 303);
    let (status, _, page) = get(
        &format!("{}/experiments/search-holdout", server.url),
        Some(&session_token(&cookie.expect("a session cookie"))),
    );
    assert_eq!(status, 200);
    assert!(
        page.contains("Global holdout of layer <strong>search</strong>"),
        "{page}"
    );

    // OFREP agrees with /v1/decide for a held-out unit.
    let unit = held
        .iter()
        .find(|u| growthbook("rank-a", [0.5, 0.5], Some((0.0, 0.5)), u).is_some())
        .expect("a held-out unit in rank-a's range");
    let body = json!({"context": {"targetingKey": unit}}).to_string();
    let (status, flag) = server.call(
        "POST",
        "/ofrep/v1/evaluate/flags/rank-a",
        Some(&assign),
        Some(&body),
    );
    assert_eq!(status, 200, "{flag}");
    assert_eq!(
        (flag["reason"].as_str(), flag["variant"].as_str()),
        (Some("DEFAULT"), Some("control")),
        "{flag}"
    );

    // Stopped, the holdout gives its units back to the layer's experiments.
    let (status, answer) = server.call("POST", "/v1/experiments/search-holdout/stop", Some(&admin), None);
    assert_eq!(status, 200, "{answer}");
    let answer = decide_all(&server, &assign, unit, Some(&["rank-a"]));
    assert_eq!(assignment(&answer, "rank-a")["in_experiment"], true, "{answer}");
}
