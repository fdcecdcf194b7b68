//! After the ship (issue 23), over HTTP and the CLI: a promotion keeps a holdout, the launch is
//! watched through it, a lift that is gone raises `lift_reversed` and `lift_decayed` once each
//! as signed `alert` webhook events and Prometheus gauges, and the model's timeline shows its
//! versions' lifts; bad holdout requests are refused with nothing written.

mod common;

use common::*;
use serde_json::{json, Value};

fn register(server: &Server, admin: &str, version: &str, auc: f64) {
    let body = json!({"version": version, "offline_metrics": {"auc": auc}, "payload": {"ranker": version}});
    let (status, answer) = server.call(
        "POST",
        "/v1/models/hotel-ranker/versions",
        Some(admin),
        Some(&body.to_string()),
    );
    assert_eq!(status, 201, "{answer}");
}

fn trial(
    server: &Server,
    admin: &str,
    key: &str,
    control: Option<&str>,
    treatment: &str,
    lift: f64,
) -> Value {
    let experiment = version_trial(
        key,
        control,
        treatment,
        json!({"primary": "bookings", "guardrails": ["clicks"]}),
    );
    run_trial(server, [admin, admin, admin], &experiment, lift, 1.0)
}

fn promote(server: &Server, admin: &str, body: Value) -> (u16, Value) {
    server.call(
        "POST",
        "/v1/models/hotel-ranker/promote",
        Some(admin),
        Some(&body.to_string()),
    )
}

#[test]
fn a_launch_is_watched_through_its_holdout_and_a_lost_lift_raises_alerts() {
    let db = temp_dir("holdouts").join("rctgate.duckdb");
    let admin = create_key(&db, "admin");
    let read = create_key(&db, "read");
    let assign = create_key(&db, "assign");
    let (hook, deliveries) = receiver();
    let server = Server::start_with(&db, &["--webhook-url", &hook, "--webhook-secret", SECRET]);
    let a = Some(admin.as_str());
    define_metrics(&server, &admin);
    let (status, body) = server.call("POST", "/v1/models", a, Some(r#"{"name": "hotel-ranker"}"#));
    assert_eq!(status, 201, "{body}");
    register(&server, &admin, "v1", 0.80);
    register(&server, &admin, "v2", 0.82);

    // The first version has no previous one to hold out: refused, nothing written.
    let launch = trial(&server, &admin, "launch", None, "v1", 1.4);
    assert_eq!(launch["decision"]["verdict"], "ship", "{}", launch["decision"]);
    let (status, body) = promote(&server, &admin, json!({"version": "v1", "holdout": 0.05}));
    assert_eq!((status, body["field"].as_str()), (400, Some("holdout")), "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("no previous production version"),
        "{body}"
    );
    let (_, model) = server.call("GET", "/v1/models/hotel-ranker", Some(&read), None);
    assert_eq!(model["production"], Value::Null, "{model}");
    let (status, _) = server.call(
        "GET",
        "/v1/experiments/hotel-ranker-v1-holdout",
        Some(&read),
        None,
    );
    assert_eq!(status, 404);
    let (status, body) = promote(&server, &admin, json!({"version": "v1"}));
    assert_eq!(status, 200, "{body}");

    // v2 wins its trial; a holdout share outside (0, 0.5] is refused by the API and the CLI.
    let second = trial(&server, &admin, "ranker-v2", Some("v1"), "v2", 1.3);
    assert_eq!(second["decision"]["verdict"], "ship", "{}", second["decision"]);
    for share in [json!(0.6), json!(0), json!(-0.1), json!("a tenth")] {
        let (status, body) = promote(&server, &admin, json!({"version": "v2", "holdout": share}));
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some("holdout")),
            "{share}: {body}"
        );
    }
    let cli = |args: &[&str], key: &str| {
        let mut all = args.to_vec();
        all.extend(["--server", &server.url]);
        rctgate_env(&all, &[("RCTGATE_API_KEY", key)])
    };
    let refused = cli(
        &["model", "promote", "hotel-ranker", "v2", "--holdout", "0.75"],
        &admin,
    );
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("holdout"), "{}", stderr(&refused));
    let promoted = cli(
        &["model", "promote", "hotel-ranker", "v2", "--holdout", "0.1"],
        &admin,
    );
    assert!(promoted.status.success(), "{}", stderr(&promoted));
    assert!(
        stdout(&promoted).contains("holdout hotel-ranker-v2-holdout started: 10% of units stay on v1"),
        "{}",
        stdout(&promoted)
    );

    // The holdout is a running experiment that assignment serves at once.
    let key = "hotel-ranker-v2-holdout";
    let (status, holdout) = server.call("GET", &format!("/v1/experiments/{key}"), Some(&read), None);
    assert_eq!(status, 200, "{holdout}");
    assert_eq!(holdout["status"], "running");
    assert_eq!(holdout["analysis"]["method"], "sequential");
    assert_eq!(holdout["holdout"]["previous"], "v1");
    assert_eq!(holdout["holdout"]["trial"], "ranker-v2");
    let arms: Vec<(Value, Value, Value)> = holdout["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .map(|v| (v["name"].clone(), v["weight"].clone(), v["payload"].clone()))
        .collect();
    assert_eq!(
        arms,
        vec![
            (json!("holdout"), json!(0.1), json!({"ranker": "v1"})),
            (json!("production"), json!(0.9), json!({"ranker": "v2"}))
        ]
    );
    let body = json!({"unit": "someone", "experiments": [key], "expose": false}).to_string();
    let (status, answer) = server.call("POST", "/v1/decide", Some(&assign), Some(&body));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["assignments"][0]["experiment"], key, "{answer}");
    // A client cannot make an experiment a holdout by hand.
    let mut forged = experiment_value("forged");
    forged["holdout"] = holdout["holdout"].clone();
    let (status, body) = server.call("POST", "/v1/experiments", a, Some(&forged.to_string()));
    assert_eq!((status, body["field"].as_str()), (400, Some("holdout")), "{body}");

    // Before any data: watched, nothing to alert about.
    let (status, watched) = server.call("GET", "/v1/models/hotel-ranker/monitoring", Some(&read), None);
    assert_eq!(status, 200, "{watched}");
    assert_eq!(watched["holdout"]["experiment"], key);
    assert_eq!(watched["alerts"], json!([]));

    // After the launch v2 does 30% worse than v1 over the held-out units. The simulated days
    // lie before now, so the holdout counts exposures from their start (a backfill).
    let mut backfill = holdout.clone();
    backfill["analysis"]["start"] = json!("2026-10-01T00:00:00Z");
    let (status, body) = server.call(
        "PUT",
        &format!("/v1/experiments/{key}"),
        a,
        Some(&backfill.to_string()),
    );
    assert_eq!(status, 200, "{body}");
    let mut scenario = rctgate_simulate::Scenario::two_arms(
        key,
        4000,
        chrono::DateTime::parse_from_rfc3339("2026-10-01T00:00:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc),
        vec![rctgate_simulate::SimMetric {
            event: "booking".into(),
            rate: 0.3,
            lifts: vec![1.0, 0.7],
            value: None,
            window_hours: 168.0,
            pre_days: 0,
            late_share: 0.0,
        }],
    );
    scenario.variants = vec![("holdout".into(), 0.3), ("production".into(), 0.7)];
    scenario.unit_prefix = "after-".into();
    let lines: Vec<String> = rctgate_simulate::events(&scenario)
        .map(|e| e.to_json(key).to_string())
        .collect();
    for chunk in lines.chunks(10_000) {
        let (status, body) = server.call("POST", "/v1/events", a, Some(&chunk.join("\n")));
        assert_eq!(status, 200, "{body}");
    }

    let (status, watched) = server.call("GET", "/v1/models/hotel-ranker/monitoring", Some(&read), None);
    assert_eq!(status, 200, "{watched}");
    let primary = &watched["holdout"]["metrics"][0];
    assert_eq!(primary["name"], "bookings");
    let series = primary["series"].as_array().expect("series");
    assert!(series.len() >= 10, "{primary}");
    assert_eq!(watched["holdout"]["metrics"][1]["name"], "clicks");
    let kinds: Vec<&str> = watched["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter_map(|alert| alert["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"lift_reversed") && kinds.contains(&"lift_decayed"),
        "{watched}"
    );
    // Each alert is raised at the first daily look where its interval excludes.
    let trial_low = watched["holdout"]["trial_interval"]["ci_low"]
        .as_f64()
        .expect("trial interval");
    for alert in watched["alerts"].as_array().expect("alerts") {
        let bound = if alert["kind"] == "lift_decayed" {
            trial_low
        } else {
            0.0
        };
        let first = series
            .iter()
            .find(|p| p["ci_high"].as_f64().is_some_and(|high| high < bound))
            .expect("a look that excludes");
        assert_eq!(alert["date"], first["date"], "{alert}");
        assert_eq!(alert["active"], true);
    }
    // Each alert is announced once, signed.
    let mut announced: Vec<String> = (0..2)
        .map(|_| {
            let event = delivery(&deliveries, "alert");
            assert_eq!(event["data"]["model"], "hotel-ranker");
            assert_eq!(event["data"]["version"], "v2");
            event["data"]["kind"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    announced.sort();
    assert_eq!(announced, vec!["lift_decayed", "lift_reversed"]);
    let (_, again) = server.call("GET", "/v1/models/hotel-ranker/monitoring", Some(&read), None);
    assert_eq!(again["alerts"], watched["alerts"], "stored once, as first raised");
    assert!(
        deliveries
            .recv_timeout(std::time::Duration::from_secs(2))
            .is_err(),
        "a second watch announces nothing new"
    );

    // Prometheus gauges per model, version and metric.
    let (_, metrics) = server.call("GET", "/metrics", None, None);
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(
        metrics.contains(r#"rctgate_holdout_lift{model="hotel-ranker",version="v2",metric="bookings"} -0."#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"rctgate_alert_active{model="hotel-ranker",version="v2",metric="bookings",kind="lift_decayed"} 1"#),
        "{metrics}"
    );

    // The timeline: both trials in order, v2's long-term lift from its holdout, production's
    // compounded lift.
    let timeline = &watched["timeline"];
    let versions: Vec<&str> = timeline["trials"]
        .as_array()
        .expect("trials")
        .iter()
        .filter_map(|t| t["version"].as_str())
        .collect();
    assert_eq!(versions, vec!["v1", "v2"], "{timeline}");
    assert_eq!(timeline["trials"][1]["long_term"]["experiment"], key);
    assert!(
        timeline["trials"][1]["long_term"]["effect"]
            .as_f64()
            .expect("effect")
            < 0.0
    );
    assert_eq!(
        timeline["trials"][1]["offline_gain"]["auc"]
            .as_f64()
            .map(|g| (g * 1e4).round()),
        Some(250.0)
    );
    let production: Vec<&str> = timeline["production"]
        .as_array()
        .expect("production")
        .iter()
        .filter_map(|s| s["version"].as_str())
        .collect();
    assert_eq!(production, vec!["v1", "v2"]);
    assert!(
        timeline["cumulative_lift"].as_f64().expect("compounded") > 0.3,
        "{timeline}"
    );

    // The model page shows the alerts, the holdout and the timeline.
    let (_, cookie) = login(&server.url, &read);
    let token = session_token(&cookie.expect("a session cookie"));
    let (status, _, page) = get(&format!("{}/models/hotel-ranker", server.url), Some(&token));
    assert_eq!(status, 200);
    for expected in [
        "aria-label=\"alerts\"",
        "lift_decayed",
        "aria-label=\"holdout\"",
        "over its holdout",
        "aria-label=\"value timeline\"",
    ] {
        assert!(page.contains(expected), "{expected} missing");
    }

    // Bad input on the monitoring route.
    let (status, body) = server.call(
        "GET",
        "/v1/models/hotel-ranker/monitoring?trials=0",
        Some(&read),
        None,
    );
    assert_eq!((status, body["field"].as_str()), (400, Some("trials")), "{body}");
    let (status, _) = server.call("GET", "/v1/models/nobody/monitoring", Some(&read), None);
    assert_eq!(status, 404);
}
