//! OFREP (`specs/ofrep-openapi.yaml`) over HTTP: single and bulk evaluation,
//! the error codes, ETag / If-None-Match, and agreement with `/v1/decide`.

mod common;

use common::*;
use serde_json::{json, Value};

fn raw(
    server: &Server,
    path: &str,
    key: &str,
    body: &str,
    if_none_match: Option<&str>,
) -> (u16, Option<String>, String) {
    let agent =
        ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
    let mut request = agent
        .post(format!("{}{path}", server.url))
        .header("Authorization", format!("Bearer {key}"))
        .header("Content-Type", "application/json");
    if let Some(tag) = if_none_match {
        request = request.header("If-None-Match", tag);
    }
    let response = request.send(body).expect("call");
    let status = response.status().as_u16();
    let etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = response.into_body().read_to_string().unwrap_or_default();
    (status, etag, text)
}

#[test]
fn single_flag_evaluation_agrees_with_decide() {
    let Trial { server, assign, .. } = trial("ofrep-single", &experiment_value("ranker-v7"), true);
    let key = Some(assign.as_str());
    let mut reasons = std::collections::HashSet::new();
    for i in 0..100 {
        let unit = format!("user-{i}");
        let body = json!({"context": {"targetingKey": unit, "country": "CA"}}).to_string();
        let (status, flag) = server.call("POST", "/ofrep/v1/evaluate/flags/ranker-v7", key, Some(&body));
        assert_eq!(status, 200, "{flag}");
        let decide = json!({"unit": unit, "expose": false}).to_string();
        let (_, decided) = server.call("POST", "/v1/decide", key, Some(&decide));
        let a = &decided["assignments"][0];
        assert_eq!(flag["key"], "ranker-v7");
        assert_eq!(flag["variant"], a["variant"], "{unit}");
        assert_eq!(flag["value"], a["payload"], "{unit}");
        let expected = if a["in_experiment"] == Value::Bool(true) {
            "SPLIT"
        } else {
            "DEFAULT"
        };
        assert_eq!(flag["reason"].as_str(), Some(expected));
        reasons.insert(expected);
    }
    assert_eq!(reasons.len(), 2, "coverage 0.5 gives both SPLIT and DEFAULT");
    let (status, body) = server.call(
        "POST",
        "/ofrep/v1/evaluate/flags/nope",
        key,
        Some(r#"{"context": {"targetingKey": "u"}}"#),
    );
    assert_eq!(
        (status, body["errorCode"].as_str()),
        (404, Some("FLAG_NOT_FOUND")),
        "{body}"
    );
    assert_eq!(body["key"], "nope");
    let (status, body) = server.call(
        "POST",
        "/ofrep/v1/evaluate/flags/ranker-v7",
        key,
        Some(r#"{"context": {"country": "CA"}}"#),
    );
    assert_eq!(
        (status, body["errorCode"].as_str()),
        (400, Some("TARGETING_KEY_MISSING")),
        "{body}"
    );
    let (status, body) = server.call("POST", "/ofrep/v1/evaluate/flags/ranker-v7", key, Some("{oops"));
    assert_eq!(
        (status, body["errorCode"].as_str()),
        (400, Some("PARSE_ERROR")),
        "{body}"
    );
    assert_eq!(
        server
            .call("POST", "/ofrep/v1/evaluate/flags/ranker-v7", None, Some("{}"))
            .0,
        401
    );
}

#[test]
fn bulk_evaluation_with_etag() {
    let Trial {
        server,
        admin,
        assign,
        ..
    } = trial("ofrep-bulk", &experiment_value("ranker-v7"), true);
    let body = r#"{"context": {"targetingKey": "user-7"}}"#;
    let (status, etag, text) = raw(&server, "/ofrep/v1/evaluate/flags", &assign, body, None);
    assert_eq!(status, 200, "{text}");
    let flags: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(flags["flags"].as_array().map(Vec::len), Some(1), "{flags}");
    assert_eq!(flags["flags"][0]["key"], "ranker-v7");
    let etag = etag.expect("an ETag");
    let (status, _, text) = raw(&server, "/ofrep/v1/evaluate/flags", &assign, body, Some(&etag));
    assert_eq!(status, 304, "unchanged flags: {text}");
    assert!(text.is_empty());
    // Another context, or a change to the running experiments, is a new ETag.
    let (_, other, _) = raw(
        &server,
        "/ofrep/v1/evaluate/flags",
        &assign,
        r#"{"context": {"targetingKey": "user-8"}}"#,
        None,
    );
    assert_ne!(other.as_deref(), Some(etag.as_str()));
    assert_eq!(
        server
            .call("POST", "/v1/experiments/ranker-v7/stop", Some(&admin), None)
            .0,
        200
    );
    let (status, _, text) = raw(&server, "/ofrep/v1/evaluate/flags", &assign, body, Some(&etag));
    assert_eq!(status, 200, "{text}");
    let flags: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(flags["flags"].as_array().map(Vec::len), Some(0));
    let (status, _, text) = raw(
        &server,
        "/ofrep/v1/evaluate/flags",
        &assign,
        r#"{"context": {}}"#,
        None,
    );
    assert_eq!(status, 400);
    assert!(text.contains("TARGETING_KEY_MISSING"), "{text}");
}

#[test]
fn evaluations_log_exposures_unless_the_experiment_says_not_to() {
    let exposures_after_evaluating = |name: &str, ofrep_exposures: Option<bool>| -> u64 {
        let mut experiment = experiment_value("ranker-v7");
        experiment["coverage"] = 1.0.into();
        if let Some(on) = ofrep_exposures {
            experiment["ofrep_exposures"] = on.into();
        }
        let Trial {
            server,
            admin,
            assign,
            ..
        } = trial(name, &experiment, true);
        for i in 0..20 {
            let body = json!({"context": {"targetingKey": format!("user-{i}")}}).to_string();
            let (status, _) = server.call(
                "POST",
                "/ofrep/v1/evaluate/flags/ranker-v7",
                Some(&assign),
                Some(&body),
            );
            assert_eq!(status, 200);
        }
        // The exposure writer is asynchronous: wait until it is idle.
        wait_for_exposures(
            &server,
            &admin,
            "ranker-v7",
            20,
            std::time::Duration::from_secs(3),
        )
    };
    assert_eq!(exposures_after_evaluating("ofrep-expose-default", None), 20);
    assert_eq!(exposures_after_evaluating("ofrep-expose-off", Some(false)), 0);
}
