//! `rctgate serve` driven over HTTP on loopback: auth, the catalog and
//! experiments API, the audit log, and lossless, idempotent event ingestion.

mod common;

use common::*;
use serde_json::Value;

/// A server on a fresh database with one key per scope.
struct Fixture {
    server: Server,
    db: std::path::PathBuf,
    admin: String,
    read: String,
    ingest: String,
    assign: String,
}

fn fixture(name: &str) -> Fixture {
    let db = temp_dir(name).join("rctgate.duckdb");
    let admin = create_key(&db, "admin");
    let read = create_key(&db, "read");
    let ingest = create_key(&db, "ingest");
    let assign = create_key(&db, "assign");
    let server = Server::start(&db);
    Fixture {
        server,
        db,
        admin,
        read,
        ingest,
        assign,
    }
}

/// Metrics and a running experiment to send events to.
fn running_experiment(f: &Fixture, key: &str) {
    let s = &f.server;
    assert_eq!(
        s.call(
            "POST",
            "/v1/metrics",
            Some(&f.admin),
            Some(&metric_json("bookings", "booking"))
        )
        .0,
        201
    );
    assert_eq!(
        s.call(
            "POST",
            "/v1/metrics",
            Some(&f.admin),
            Some(&metric_json("clicks", "click"))
        )
        .0,
        201
    );
    let (status, body) = s.call(
        "POST",
        "/v1/experiments",
        Some(&f.admin),
        Some(&experiment_json(key)),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = s.call(
        "POST",
        &format!("/v1/experiments/{key}/start"),
        Some(&f.admin),
        None,
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn first_start_prints_one_admin_key_and_never_again() {
    let db = temp_dir("first-key").join("rctgate.duckdb");
    let server = Server::start(&db);
    let key = server
        .first_key
        .clone()
        .expect("the first start prints an admin key");
    assert_eq!(server.call("GET", "/v1/audit", Some(&key), None).0, 200);
    assert!(server.terminate(), "graceful exit on SIGTERM");
    let again = Server::start(&db);
    assert!(
        again.first_key.is_none(),
        "a second start prints no key: {:?}",
        again.stdout_lines
    );
    assert_eq!(
        again.call("GET", "/v1/audit", Some(&key), None).0,
        200,
        "the key survives a restart"
    );
}

#[test]
fn auth_matrix() {
    let f = fixture("auth");
    let s = &f.server;
    // No key, unknown key, malformed header: 401 with a JSON sentence.
    let (status, body) = s.call("GET", "/v1/experiments", None, None);
    assert_eq!(status, 401);
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("API key")),
        "{body}"
    );
    assert_eq!(
        s.call("GET", "/v1/experiments", Some("rctg_not-a-key"), None).0,
        401
    );
    assert_eq!(s.call("GET", "/v1/experiments", Some("nonsense"), None).0, 401);
    // X-API-Key works as well as Bearer.
    let (status, _) = {
        let agent =
            ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
        let r = agent
            .get(format!("{}/v1/experiments", s.url))
            .header("X-API-Key", &f.read)
            .call()
            .expect("call");
        (r.status().as_u16(), ())
    };
    assert_eq!(status, 200);
    let m = metric_json("m1", "e1");
    let cases: &[(&str, &str, &str, Option<&str>, u16)] = &[
        // (key, method, path, body, expected)
        (&f.read, "GET", "/v1/experiments", None, 200),
        (&f.read, "GET", "/v1/metrics", None, 200),
        (&f.read, "POST", "/v1/metrics", Some(&m), 403),
        (&f.read, "GET", "/v1/audit", None, 403),
        (&f.read, "POST", "/v1/events", Some("[]"), 403),
        (&f.ingest, "POST", "/v1/events", Some("[]"), 200),
        (&f.ingest, "GET", "/v1/experiments", None, 403),
        (&f.assign, "POST", "/v1/events", Some("[]"), 403),
        (&f.assign, "GET", "/v1/metrics", None, 403),
        (&f.admin, "POST", "/v1/metrics", Some(&m), 201),
        (&f.admin, "GET", "/v1/audit", None, 200),
        (&f.admin, "POST", "/v1/events", Some("[]"), 200),
        (&f.admin, "GET", "/v1/experiments", None, 200),
        (&f.assign, "POST", "/v1/decide", Some(r#"{"unit": "u1"}"#), 200),
        (&f.admin, "POST", "/v1/decide", Some(r#"{"unit": "u1"}"#), 200),
        (&f.read, "POST", "/v1/decide", Some(r#"{"unit": "u1"}"#), 403),
        (&f.ingest, "POST", "/v1/decide", Some(r#"{"unit": "u1"}"#), 403),
    ];
    for (key, method, path, body, expected) in cases {
        let (status, answer) = s.call(method, path, Some(key), *body);
        assert_eq!(status, *expected, "{method} {path}: {answer}");
        if status == 403 {
            assert!(
                answer["error"].as_str().is_some_and(|e| e.contains("scope")),
                "{answer}"
            );
        }
    }
    // /healthz needs no key and touches no database.
    assert_eq!(s.call("GET", "/healthz", None, None).0, 200);
    // The key is never in the audit log, only its id.
    let (_, audit) = s.call("GET", "/v1/audit", Some(&f.admin), None);
    let text = audit.to_string();
    assert!(!text.contains(&f.admin), "the audit log must not hold keys");
    assert!(text.contains("metric"), "{text}");
}

#[test]
fn experiments_lifecycle_validation_and_audit() {
    let f = fixture("lifecycle");
    let s = &f.server;
    let admin = Some(f.admin.as_str());
    // An experiment naming an unknown metric is refused, naming the field.
    let (status, body) = s.call(
        "POST",
        "/v1/experiments",
        admin,
        Some(&experiment_json("ranker-v7")),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["field"].as_str().is_some_and(|f| f.starts_with("metrics")),
        "{body}"
    );
    // Weights that do not sum to 1.
    s.call(
        "POST",
        "/v1/metrics",
        admin,
        Some(&metric_json("bookings", "booking")),
    );
    s.call(
        "POST",
        "/v1/metrics",
        admin,
        Some(&metric_json("clicks", "click")),
    );
    let mut bad: Value = serde_json::from_str(&experiment_json("ranker-v7")).expect("json");
    bad["variants"][1]["weight"] = 0.7.into();
    let (status, body) = s.call("POST", "/v1/experiments", admin, Some(&bad.to_string()));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["field"].as_str().is_some_and(|f| f.starts_with("variants")),
        "{body}"
    );
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("weights sum to 1.2")),
        "{body}"
    );
    // Unknown fields are errors, not silently dropped.
    let mut typo: Value = serde_json::from_str(&experiment_json("ranker-v7")).expect("json");
    typo["coverag"] = 0.5.into();
    let (status, body) = s.call("POST", "/v1/experiments", admin, Some(&typo.to_string()));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"].as_str(), Some("coverag"), "{body}");
    // Create, duplicate key, start.
    let good = experiment_json("ranker-v7");
    assert_eq!(s.call("POST", "/v1/experiments", admin, Some(&good)).0, 201);
    assert_eq!(s.call("POST", "/v1/experiments", admin, Some(&good)).0, 409);
    let (status, body) = s.call("GET", "/v1/experiments/ranker-v7", Some(&f.read), None);
    assert_eq!((status, body["status"].as_str()), (200, Some("draft")), "{body}");
    assert_eq!(s.call("GET", "/v1/experiments/nope", Some(&f.read), None).0, 404);
    assert_eq!(
        s.call("POST", "/v1/experiments/ranker-v7/start", admin, None).0,
        200
    );
    assert_eq!(
        s.call("POST", "/v1/experiments/ranker-v7/start", admin, None).0,
        409
    );
    // While running: weights and seed are frozen; coverage may only grow.
    let (_, mut running) = s.call("GET", "/v1/experiments/ranker-v7", admin, None);
    let mut reweighted = running.clone();
    reweighted["variants"][0]["weight"] = 0.4.into();
    reweighted["variants"][1]["weight"] = 0.6.into();
    let (status, body) = s.call(
        "PUT",
        "/v1/experiments/ranker-v7",
        admin,
        Some(&reweighted.to_string()),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("weight")),
        "{body}"
    );
    let mut reseeded = running.clone();
    reseeded["seed"] = "other".into();
    assert_eq!(
        s.call(
            "PUT",
            "/v1/experiments/ranker-v7",
            admin,
            Some(&reseeded.to_string())
        )
        .0,
        409
    );
    let mut shrunk = running.clone();
    shrunk["coverage"] = 0.25.into();
    assert_eq!(
        s.call(
            "PUT",
            "/v1/experiments/ranker-v7",
            admin,
            Some(&shrunk.to_string())
        )
        .0,
        409
    );
    running["coverage"] = 0.8.into();
    let (status, body) = s.call(
        "PUT",
        "/v1/experiments/ranker-v7",
        admin,
        Some(&running.to_string()),
    );
    assert_eq!((status, body["coverage"].as_f64()), (200, Some(0.8)), "{body}");
    // Stop; a stopped experiment cannot change or restart.
    assert_eq!(
        s.call("POST", "/v1/experiments/ranker-v7/stop", admin, None).0,
        200
    );
    assert_eq!(
        s.call("POST", "/v1/experiments/ranker-v7/start", admin, None).0,
        409
    );
    // Every change is audited with the key id, before and after.
    let (status, audit) = s.call("GET", "/v1/audit", admin, None);
    assert_eq!(status, 200);
    let actions: Vec<&str> = audit
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in ["experiment.create", "experiment.start", "experiment.stop"] {
        assert!(
            actions.iter().any(|a| a.contains(action)),
            "{action} missing from {actions:?}"
        );
    }
    assert!(!audit.to_string().contains(&f.admin));
}

#[test]
fn event_batches_are_atomic_idempotent_and_survive_restart() {
    let f = fixture("events");
    running_experiment(&f, "ranker-v7");
    let s = &f.server;
    let ingest = Some(f.ingest.as_str());
    // NDJSON batch of 10.
    let (status, body) = s.call("POST", "/v1/events", ingest, Some(&exposures("ranker-v7", 0, 10)));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(10), Some(0))
    );
    // The same ids again, plus new ones: only the new ones are stored.
    let (_, body) = s.call("POST", "/v1/events", ingest, Some(&exposures("ranker-v7", 5, 10)));
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(5), Some(5)),
        "{body}"
    );
    // One bad event (line 3: an unknown variant) rejects the whole batch.
    let mut lines: Vec<String> = exposures("ranker-v7", 100, 5)
        .lines()
        .map(str::to_string)
        .collect();
    lines[2] = lines[2].replace("\"control\"", "\"nope\"");
    let (status, body) = s.call("POST", "/v1/events", ingest, Some(&lines.join("\n")));
    assert_eq!(status, 400, "{body}");
    let field = body["field"].as_str().unwrap_or_default();
    assert!(
        field.contains('3') && field.contains("variant"),
        "names the line and field: {body}"
    );
    // A bad timestamp, in a JSON array this time.
    let array = r#"[{"type":"metric","id":"m1","unit":"u1","event":"booking","value":1,"ts":"yesterday"}]"#;
    let (status, body) = s.call("POST", "/v1/events", ingest, Some(array));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["field"].as_str().unwrap_or_default().contains("ts"),
        "{body}"
    );
    // Non-finite values cannot even be written in JSON; a string is refused.
    let array = r#"[{"type":"metric","id":"m1","unit":"u1","event":"booking","value":"NaN","ts":"2026-11-26T12:00:00Z"}]"#;
    assert_eq!(s.call("POST", "/v1/events", ingest, Some(array)).0, 400);
    let (status, summary) = s.call(
        "GET",
        "/v1/events/summary?experiment=ranker-v7",
        Some(&f.read),
        None,
    );
    assert_eq!(status, 200, "{summary}");
    assert_eq!(
        summary["exposure_events"].as_u64(),
        Some(15),
        "nothing of the rejected batches: {summary}"
    );
    assert_eq!(summary["exposures"]["control"].as_u64(), Some(8));
    assert_eq!(summary["exposures"]["treatment"].as_u64(), Some(7));
    // Metric events count toward the summary.
    let metric =
        r#"{"type":"metric","id":"m2","unit":"u1","event":"booking","value":1,"ts":"2026-11-26T13:00:00Z"}"#;
    assert_eq!(s.call("POST", "/v1/events", ingest, Some(metric)).0, 200);
    // Idempotency holds across a restart.
    let Fixture { server, db, read, .. } = f;
    assert!(server.terminate());
    let server = Server::start(&db);
    let (_, body) = server.call("POST", "/v1/events", ingest, Some(&exposures("ranker-v7", 0, 15)));
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(0), Some(15)),
        "{body}"
    );
    let (_, body) = server.call("POST", "/v1/events", ingest, Some(metric));
    assert_eq!(body["duplicates"].as_u64(), Some(1));
    let (_, summary) = server.call(
        "GET",
        "/v1/events/summary?experiment=ranker-v7",
        Some(&read),
        None,
    );
    assert_eq!(summary["metric_events"]["booking"].as_u64(), Some(1), "{summary}");
    // Prometheus counters saw it all.
    let (status, text) = server.call("GET", "/metrics", None, None);
    assert_eq!(status, 200);
    let text = text.as_str().unwrap_or_default().to_string();
    assert!(text.contains("rctgate_events_duplicated_total 16"), "{text}");
    // The summary above waited for the background writer.
    assert!(text.contains("rctgate_events_pending 0"), "{text}");
    assert!(
        text.contains("rctgate_http_requests_total{route=\"/v1/events\",status=\"200\"}"),
        "{text}"
    );
    assert!(
        text.contains("rctgate_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

/// A body of several hundred kilobytes is parsed in parts on two threads (`--parse-threads
/// 2`); it must still be one all-or-nothing batch with the body's own line numbers, its
/// duplicates found across parts, and its length bounded as a whole.
#[test]
fn large_batches_parsed_in_parts_stay_one_batch() {
    let db = temp_dir("parts").join("rctgate.duckdb");
    let key = create_key(&db, "admin");
    let server = Server::start_with(&db, &["--parse-threads", "2", "--max-batch-events", "5000"]);
    define_trial(&server, &key, &experiment_json("ranker-v7"));
    let summary = |server: &Server| {
        let (_, body) = server.call("GET", "/v1/events/summary?experiment=ranker-v7", Some(&key), None);
        body["exposure_events"].as_u64()
    };
    // 4,000 events with a blank line early on and a bad variant late: line 3,601.
    let mut lines: Vec<String> = exposures("ranker-v7", 0, 4000)
        .lines()
        .map(str::to_string)
        .collect();
    lines.insert(10, String::new());
    lines[3600] = lines[3600]
        .replace("\"control\"", "\"nope\"")
        .replace("\"treatment\"", "\"nope\"");
    let body = lines.join("\n");
    assert!(body.len() > 256 * 1024, "big enough to be split: {}", body.len());
    let (status, answer) = server.call("POST", "/v1/events", Some(&key), Some(&body));
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["field"].as_str(), Some("line 3601: variant"), "{answer}");
    assert_eq!(
        summary(&server),
        Some(0),
        "nothing of the refused batch is stored"
    );
    // Valid, with the first 1,000 ids repeated at the end: duplicates across parts.
    let mut lines: Vec<String> = exposures("ranker-v7", 0, 3000)
        .lines()
        .map(str::to_string)
        .collect();
    lines.extend(exposures("ranker-v7", 0, 1000).lines().map(str::to_string));
    let (status, answer) = server.call("POST", "/v1/events", Some(&key), Some(&lines.join("\n")));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["accepted"].as_u64(), answer["duplicates"].as_u64()),
        (Some(3000), Some(1000)),
        "{answer}"
    );
    assert_eq!(summary(&server), Some(3000));
    // 6,000 events: each part is under the limit of 5,000, the batch is not.
    let (status, answer) = server.call(
        "POST",
        "/v1/events",
        Some(&key),
        Some(&exposures("ranker-v7", 10_000, 6000)),
    );
    assert_eq!(status, 413, "{answer}");
    assert_eq!(summary(&server), Some(3000));
}

#[test]
fn limits_answer_413() {
    let db = temp_dir("limits").join("rctgate.duckdb");
    let key = create_key(&db, "admin");
    let server = Server::start_with(&db, &["--max-batch-events", "100", "--max-body-bytes", "65536"]);
    let many = (0..101)
        .map(|i| format!(r#"{{"type":"metric","id":"m{i}","unit":"u","event":"e","value":1,"ts":"2026-11-26T12:00:00Z"}}"#))
        .collect::<Vec<_>>()
        .join("\n");
    let (status, body) = server.call("POST", "/v1/events", Some(&key), Some(&many));
    assert_eq!(status, 413, "{body}");
    let big = format!(
        r#"[{{"type":"metric","id":"{}","unit":"u","event":"e","value":1,"ts":"2026-11-26T12:00:00Z"}}]"#,
        "x".repeat(70_000)
    );
    let (status, body) = server.call("POST", "/v1/events", Some(&key), Some(&big));
    assert_eq!(status, 413, "{body}");
    // An over-long id under the body limit is a 400 naming the field.
    let long = format!(
        r#"[{{"type":"metric","id":"{}","unit":"u","event":"e","value":1,"ts":"2026-11-26T12:00:00Z"}}]"#,
        "x".repeat(5_000)
    );
    let (status, body) = server.call("POST", "/v1/events", Some(&key), Some(&long));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["field"].as_str().unwrap_or_default().contains("id"),
        "{body}"
    );
}

#[test]
fn keys_are_created_through_the_running_server() {
    let db = temp_dir("keys-api").join("rctgate.duckdb");
    let admin = create_key(&db, "admin");
    let ingest = create_key(&db, "ingest");
    let server = Server::start(&db);
    let (status, body) = server.call("POST", "/v1/keys", Some(&ingest), Some(r#"{"scope": "read"}"#));
    assert_eq!(status, 403, "only admin creates keys: {body}");
    let (status, body) = server.call("POST", "/v1/keys", Some(&admin), Some(r#"{"scope": "reader"}"#));
    assert_eq!((status, body["field"].as_str()), (400, Some("scope")), "{body}");
    let (status, created) = server.call("POST", "/v1/keys", Some(&admin), Some(r#"{"scope": "read"}"#));
    assert_eq!(status, 201, "{created}");
    let read = created["key"].as_str().expect("the key, once");
    assert_eq!(server.call("GET", "/v1/experiments", Some(read), None).0, 200);
    assert_eq!(server.call("POST", "/v1/metrics", Some(read), Some("{}")).0, 403);
    let (_, audit) = server.call("GET", "/v1/audit", Some(&admin), None);
    assert!(
        !audit.to_string().contains(read),
        "the key itself is never in the audit log"
    );

    let output = rctgate_env(
        &["keys", "create", "--scope", "ingest", "--server", &server.url],
        &[("RCTGATE_API_KEY", admin.as_str())],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let key = stdout(&output)
        .lines()
        .last()
        .expect("key line")
        .trim()
        .to_string();
    let event =
        r#"{"type": "metric", "id": "k1", "unit": "u1", "event": "booking", "ts": "2026-11-26T12:00:00Z"}"#;
    assert_eq!(server.call("POST", "/v1/events", Some(&key), Some(event)).0, 200);
}
