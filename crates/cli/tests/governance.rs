//! Governance driven the way teams use it: a deploy pipeline asking the gate before and after
//! a promotion and across a restart, overrides that need a second admin, keys with several
//! scopes that expire and are revoked (also in dashboard sessions), and the dashboard's start
//! and stop buttons.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// `rctgate ARGS` against the server named by `RCTGATE_SERVER` (no `--server`), with `key`.
fn cli(server: &Server, args: &[&str], key: &str) -> std::process::Output {
    rctgate_env(
        args,
        &[("RCTGATE_SERVER", server.url.as_str()), ("RCTGATE_API_KEY", key)],
    )
}

fn gate_check(server: &Server, version: &str, key: &str) -> (Option<i32>, String) {
    let output = cli(
        server,
        &["gate", "check", "--model", "hotel-ranker", "--version", version],
        key,
    );
    (output.status.code(), stdout(&output))
}

/// A trial run by an experimenter (`keys[0]`) on events sent with an ingest key (`keys[1]`).
fn trial(server: &Server, keys: [&str; 2], name: &str, control: Option<&str>, treatment: &str) {
    let experiment = json!({
        "key": name, "hypothesis": format!("{treatment} sells more"), "model": "hotel-ranker",
        "variants": [{"name": "control", "weight": 0.5, "model_version": control},
                     {"name": "treatment", "weight": 0.5, "model_version": treatment}],
        "metrics": {"primary": "bookings", "proxies": ["clicks"]},
        "analysis": {"method": "frequentist", "start": "2026-10-01T00:00:00Z", "planned_units": 3000}
    });
    let frozen = run_trial(server, [keys[0], keys[1], keys[0]], &experiment, 1.6, 1.1);
    assert_eq!(frozen["decision"]["verdict"], "ship", "{}", frozen["decision"]);
}

fn audit_actions(server: &Server, admin: &str) -> Vec<String> {
    let (status, audit) = server.call("GET", "/v1/audit?limit=1000", Some(admin), None);
    assert_eq!(status, 200, "{audit}");
    audit
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn the_pipeline_gate_lets_production_run_and_overrides_need_a_second_admin() {
    let db = temp_dir("pipeline").join("rctgate.duckdb");
    let admin = create_key(&db, "admin");
    let second_admin = create_key(&db, "admin");
    let experimenter = create_key(&db, "experiment");
    let ci = create_key(&db, "read");
    let service = create_key(&db, "assign,ingest");
    let flags = ["--override-approvals", "2"];
    let mut server = Server::start_with(&db, &flags);
    define_metrics(&server, &experimenter);
    for version in ["v1", "v2", "v3"] {
        let output = cli(
            &server,
            &["model", "register", "hotel-ranker", version],
            &experimenter,
        );
        assert!(output.status.success(), "{}", stderr(&output));
    }

    // The experimenter runs the launch trial and promotes on its evidence.
    trial(&server, [&experimenter, &service], "launch", None, "v1");
    let output = cli(
        &server,
        &["model", "promote", "hotel-ranker", "v1"],
        &experimenter,
    );
    assert!(output.status.success(), "{}", stderr(&output));

    // The pipeline's deploy step, after the promotion: the production version may run.
    let (code, out) = gate_check(&server, "v1", &ci);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("production version") && out.contains("launch"),
        "{out}"
    );
    let (status, answer) = server.call("GET", "/v1/models/hotel-ranker/gate?version=v1", Some(&ci), None);
    assert_eq!(status, 200);
    assert_eq!(answer["allowed"], true, "{answer}");
    assert_eq!(answer["evidence"]["basis"], "production", "{answer}");
    assert_eq!(
        answer["evidence"]["promotion"]["evidence"]["experiment"], "launch",
        "{answer}"
    );
    // ... also with the trial named, as a pipeline pinned to it would ask.
    let output = cli(
        &server,
        &[
            "gate",
            "check",
            "--model",
            "hotel-ranker",
            "--version",
            "v1",
            "--experiment",
            "launch",
        ],
        &ci,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    // Promotion keeps its own rules: production is not promoted again.
    let (status, refused) = server.call(
        "POST",
        "/v1/models/hotel-ranker/promote",
        Some(&experimenter),
        Some(r#"{"version": "v1"}"#),
    );
    assert_eq!(status, 409, "{refused}");

    // Again after a restart.
    assert!(server.terminate(), "graceful exit");
    server = Server::start_with(&db, &flags);
    let (code, out) = gate_check(&server, "v1", &ci);
    assert_eq!(code, Some(0), "after a restart: {out}");

    // v2 wins and ships; v1 is now a rollback target, which may run.
    trial(&server, [&experimenter, &service], "v2-trial", Some("v1"), "v2");
    let (code, out) = gate_check(&server, "v2", &ci);
    assert_eq!(code, Some(0), "promotable on trial evidence: {out}");
    let output = cli(
        &server,
        &["model", "promote", "hotel-ranker", "v2"],
        &experimenter,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let (code, out) = gate_check(&server, "v1", &ci);
    assert_eq!(code, Some(0), "a rollback target: {out}");
    assert!(out.contains("rollback"), "{out}");

    // v3 has no evidence: blocked with every reason.
    let (code, out) = gate_check(&server, "v3", &ci);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("blocked") && out.contains("No stopped trial"),
        "{out}"
    );

    // An override needs admin, and with --override-approvals 2 a second admin.
    let override_body = r#"{"version": "v3", "override_reason": "Legal requires the new ranking today."}"#;
    let (status, body) = server.call(
        "POST",
        "/v1/models/hotel-ranker/promote",
        Some(&experimenter),
        Some(override_body),
    );
    assert_eq!(status, 403, "an experimenter cannot override: {body}");
    let output = cli(
        &server,
        &[
            "model",
            "promote",
            "hotel-ranker",
            "v3",
            "--override-reason",
            "Legal requires the new ranking today.",
        ],
        &admin,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("pending"), "{}", stdout(&output));
    let (_, model) = server.call("GET", "/v1/models/hotel-ranker", Some(&ci), None);
    assert_eq!(model["production"], "v2", "nothing promoted yet");
    let id = model["overrides"][0]["id"].as_i64().expect("a pending override");
    assert_eq!(model["overrides"][0]["status"], "pending");
    let (code, out) = gate_check(&server, "v3", &ci);
    assert_eq!(code, Some(1), "the gate stays closed while it is pending: {out}");
    assert!(out.contains("pending"), "{out}");
    let (status, body) = server.call(
        "POST",
        "/v1/models/hotel-ranker/promote",
        Some(&admin),
        Some(override_body),
    );
    assert_eq!(status, 409, "one pending override per version: {body}");
    let session = login(&server, &ci);
    let (_, html) = page(&server, "/models/hotel-ranker", &session);
    assert!(
        html.contains("Overrides awaiting approval")
            && html.contains("Legal requires the new ranking today."),
        "the model page shows the pending override: {html}"
    );

    // The requester cannot approve it; a read or experiment key cannot either.
    let approve = format!("/v1/models/hotel-ranker/overrides/{id}/approve");
    let (status, body) = server.call("POST", &approve, Some(&admin), None);
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("approver")),
        "{body}"
    );
    assert_eq!(server.call("POST", &approve, Some(&experimenter), None).0, 403);
    let (status, body) = server.call(
        "POST",
        "/v1/models/hotel-ranker/overrides/999/approve",
        Some(&second_admin),
        None,
    );
    assert_eq!(status, 404, "{body}");
    let (code, _) = gate_check(&server, "v3", &ci);
    assert_eq!(code, Some(1), "refused approvals change nothing");

    // A second admin approves: the promotion is made, flagged.
    let output = cli(
        &server,
        &["model", "approve-override", "hotel-ranker", &id.to_string()],
        &second_admin,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let (code, out) = gate_check(&server, "v3", &ci);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("promoted without RCT evidence"),
        "the override stays flagged: {out}"
    );
    let (_, model) = server.call("GET", "/v1/models/hotel-ranker", Some(&ci), None);
    assert_eq!(model["production"], "v3");
    assert_eq!(model["production_flag"], "promoted without RCT evidence");
    let last = &model["promotions"][2];
    assert_eq!(last["evidence"]["basis"], "override", "{last}");
    assert_eq!(last["evidence"]["override"], id, "{last}");
    assert_eq!(model["overrides"][0]["status"], "applied");
    let second_id = second_admin
        .trim_start_matches("rctg_")
        .split('_')
        .next()
        .expect("id");
    let (_, html) = page(&server, "/models/hotel-ranker", &session);
    assert!(!html.contains("Overrides awaiting approval"), "{html}");
    assert!(
        html.contains("promoted without RCT evidence")
            && html.contains(&format!("approved by key {second_id}")),
        "the model page shows both steps: {html}"
    );

    // Approving twice: a clear error naming the field, nothing changed.
    let (status, body) = server.call("POST", &approve, Some(&second_admin), None);
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("override")),
        "{body}"
    );
    let (_, after) = server.call("GET", "/v1/models/hotel-ranker", Some(&ci), None);
    assert_eq!(after["promotions"], model["promotions"]);

    // Both steps are in the audit log.
    let actions = audit_actions(&server, &admin);
    for action in [
        "model.override_request",
        "model.override_approve",
        "model.promote",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }
}

#[test]
fn keys_carry_scopes_expire_and_are_revoked() {
    let db = temp_dir("keys").join("rctgate.duckdb");
    let admin = create_key(&db, "admin");
    let server = Server::start(&db);

    // Bad input: one sentence naming the field, nothing created.
    let (_, before) = server.call("GET", "/v1/keys", Some(&admin), None);
    for (body, field) in [
        (r#"{"scopes": ["read", "reader"]}"#, "scopes"),
        (r#"{"scopes": []}"#, "scopes"),
        (r#"{"scope": ""}"#, "scope"),
        (r#"{"scopes": ["read"], "expires_in": "90 days"}"#, "expires_in"),
        (r#"{"scopes": ["read"], "expires_in": "0d"}"#, "expires_in"),
    ] {
        let (status, answer) = server.call("POST", "/v1/keys", Some(&admin), Some(body));
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(
            answer["field"].as_str().is_some_and(|f| f.starts_with(field)),
            "{body}: {answer}"
        );
    }
    let (_, after) = server.call("GET", "/v1/keys", Some(&admin), None);
    assert_eq!(before, after, "nothing created by bad requests");
    for (args, needle) in [
        (vec!["--scope", "read,root"], "--scope"),
        (vec!["--scope", ","], "--scope"),
        (vec!["--scope", "read", "--expires-in", "soon"], "--expires-in"),
    ] {
        let mut all = vec!["keys", "create"];
        all.extend(args);
        let output = cli(&server, &all, &admin);
        assert_eq!(output.status.code(), Some(2), "{all:?}");
        assert!(stderr(&output).contains(needle), "{all:?}: {}", stderr(&output));
    }

    // One key for a model service: assign and ingest, named, expiring in 90 days.
    let output = cli(
        &server,
        &[
            "keys",
            "create",
            "--scope",
            "assign,ingest",
            "--name",
            "ranker service",
            "--expires-in",
            "90d",
        ],
        &admin,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let service = stdout(&output).lines().last().expect("key").trim().to_string();
    assert_eq!(
        server.call("POST", "/v1/events", Some(&service), Some("[]")).0,
        200
    );
    assert_eq!(server.call("GET", "/v1/experiments", Some(&service), None).0, 403);

    // The listing: id, name, scopes, created, expires, last used; never a secret.
    let output = cli(&server, &["keys", "list", "--format", "json"], &admin);
    assert!(output.status.success(), "{}", stderr(&output));
    let listing: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    let entry = listing
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["name"] == "ranker service")
        .expect("the service key is listed")
        .clone();
    assert_eq!(entry["scopes"], json!(["assign", "ingest"]));
    assert_eq!(entry["status"], "active");
    assert!(
        entry["expires_at"].is_string() && entry["last_used_at"].is_string(),
        "{entry}"
    );
    assert!(!stdout(&output).contains(&service) && !stdout(&output).contains(&admin));
    let table = stdout(&cli(&server, &["keys", "list"], &admin));
    assert!(
        table.contains("ranker service") && table.contains("assign,ingest"),
        "{table}"
    );
    assert!(!table.contains("rctg_"), "{table}");

    // A dashboard session of a read key, then both keys revoked: 401 and logged out.
    let (_, reader) = server.call(
        "POST",
        "/v1/keys",
        Some(&admin),
        Some(r#"{"scopes": ["read"], "name": "pm"}"#),
    );
    let reader_key = reader["key"].as_str().expect("key").to_string();
    let cookie = login(&server, &reader_key);
    assert_eq!(page(&server, "/experiments", &cookie).0, 200);
    for id in [
        entry["key_id"].as_str().expect("id"),
        reader["key_id"].as_str().expect("id"),
    ] {
        let output = cli(&server, &["keys", "revoke", id], &admin);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let (status, body) = server.call("POST", "/v1/events", Some(&service), Some("[]"));
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("revoked")),
        "{body}"
    );
    let (status, location) = page(&server, "/experiments", &cookie);
    assert_eq!(
        (status, location.as_str()),
        (303, "/login"),
        "the session is logged out"
    );
    let output = cli(
        &server,
        &["keys", "revoke", reader["key_id"].as_str().expect("id")],
        &admin,
    );
    assert_eq!(output.status.code(), Some(2), "revoking twice is refused");

    // An expired key: 401 on its next request.
    let (_, short) = server.call(
        "POST",
        "/v1/keys",
        Some(&admin),
        Some(r#"{"scopes": ["read"], "expires_in": "2s"}"#),
    );
    let short_key = short["key"].as_str().expect("key");
    assert_eq!(
        server.call("GET", "/v1/experiments", Some(short_key), None).0,
        200
    );
    std::thread::sleep(Duration::from_millis(2200));
    let (status, body) = server.call("GET", "/v1/experiments", Some(short_key), None);
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("expired")),
        "{body}"
    );

    // The last active admin key cannot be revoked; revocations and creations are audited.
    let admin_id = admin.trim_start_matches("rctg_").split('_').next().expect("id");
    let (status, body) = server.call("DELETE", &format!("/v1/keys/{admin_id}"), Some(&admin), None);
    assert_eq!(status, 409, "{body}");
    let actions = audit_actions(&server, &admin);
    assert!(
        actions.iter().filter(|a| *a == "key.revoke").count() == 2,
        "{actions:?}"
    );
    assert!(actions.iter().any(|a| a == "key.create"), "{actions:?}");

    // After a restart, revoked stays revoked and last use was kept.
    assert!(server.terminate());
    let server = Server::start(&db);
    assert_eq!(
        server.call("POST", "/v1/events", Some(&service), Some("[]")).0,
        401
    );
    let (_, keys) = server.call("GET", "/v1/keys", Some(&admin), None);
    let entry = keys
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["name"] == "ranker service")
        .expect("listed");
    assert_eq!(entry["status"], "revoked");
    assert!(entry["last_used_at"].is_string(), "{entry}");
}

#[test]
fn the_dashboard_starts_and_stops_trials_for_experimenters_only() {
    let db = temp_dir("buttons").join("rctgate.duckdb");
    let admin = create_key(&db, "admin");
    let experimenter = create_key(&db, "experiment");
    let reader = create_key(&db, "read");
    let server = Server::start(&db);
    define_trial(&server, &admin, &experiment_json("ranker-v7"));

    // A read-only session sees no buttons and cannot post.
    let read_session = login(&server, &reader);
    let (status, html) = page(&server, "/experiments/ranker-v7", &read_session);
    assert_eq!(status, 200);
    assert!(!html.contains("Start trial") && !html.contains("csrf"), "{html}");
    assert!(
        html.contains("No effect can be estimated yet")
            && !html.contains("Effect of each metric against control"),
        "a draft draws no empty forest plot: {html}"
    );
    let token = csrf_of(&page(&server, "/experiments/ranker-v7", &login(&server, &experimenter)).1);
    let (status, _) = post_form(
        &server,
        "/experiments/ranker-v7/start",
        &read_session,
        &[("csrf", &token)],
    );
    assert_eq!(status, 403);

    // An experimenter starts it from the page, with the page's token only.
    let session = login(&server, &experimenter);
    let (_, html) = page(&server, "/experiments/ranker-v7", &session);
    assert!(html.contains("Start trial"), "{html}");
    let token = csrf_of(&html);
    assert_eq!(
        post_form(
            &server,
            "/experiments/ranker-v7/start",
            &session,
            &[("csrf", "forged")]
        )
        .0,
        403
    );
    assert_eq!(
        post_form(&server, "/experiments/ranker-v7/start", &session, &[]).0,
        403
    );
    let (_, experiment) = server.call("GET", "/v1/experiments/ranker-v7", Some(&reader), None);
    assert_eq!(experiment["status"], "draft", "refused forms change nothing");
    let (status, location) = post_form(
        &server,
        "/experiments/ranker-v7/start",
        &session,
        &[("csrf", &token)],
    );
    assert_eq!((status, location.as_str()), (303, "/experiments/ranker-v7"));
    let (_, experiment) = server.call("GET", "/v1/experiments/ranker-v7", Some(&reader), None);
    assert_eq!(experiment["status"], "running");

    // Stop goes through a confirmation page, then freezes the verdict.
    let (_, html) = page(&server, "/experiments/ranker-v7", &session);
    assert!(html.contains("Stop trial"), "{html}");
    assert_eq!(page(&server, "/experiments/ranker-v7/stop", &read_session).0, 403);
    let (status, confirm) = page(&server, "/experiments/ranker-v7/stop", &session);
    assert_eq!(status, 200);
    assert!(confirm.contains("Stop and freeze the verdict"), "{confirm}");
    let (_, experiment) = server.call("GET", "/v1/experiments/ranker-v7", Some(&reader), None);
    assert_eq!(
        experiment["status"], "running",
        "the confirmation page changes nothing"
    );
    let (status, _) = post_form(
        &server,
        "/experiments/ranker-v7/stop",
        &session,
        &[("csrf", &csrf_of(&confirm))],
    );
    assert_eq!(status, 303);
    let (_, experiment) = server.call("GET", "/v1/experiments/ranker-v7", Some(&reader), None);
    assert_eq!(experiment["status"], "stopped");
    let actions = audit_actions(&server, &admin);
    assert!(actions.iter().any(|a| a == "experiment.stop"), "{actions:?}");
}

// --- a browser's side of the dashboard, over plain HTTP ---

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build(),
    )
}

/// Logs in with `key`; returns the session cookie (`name=value`).
fn login(server: &Server, key: &str) -> String {
    let response = agent()
        .post(format!("{}/login", server.url))
        .send_form([("key", key)])
        .expect("login");
    assert_eq!(response.status().as_u16(), 303, "login");
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie");
    cookie.split(';').next().expect("name=value").to_string()
}

/// GET a page: the status, and the body (or the redirect's location).
fn page(server: &Server, path: &str, cookie: &str) -> (u16, String) {
    let response = agent()
        .get(format!("{}{path}", server.url))
        .header("Cookie", cookie)
        .call()
        .expect("page");
    answer(response)
}

fn post_form(server: &Server, path: &str, cookie: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let response = agent()
        .post(format!("{}{path}", server.url))
        .header("Cookie", cookie)
        .send_form(fields.iter().copied())
        .expect("form");
    answer(response)
}

fn answer(response: ureq::http::Response<ureq::Body>) -> (u16, String) {
    let status = response.status().as_u16();
    if (300..400).contains(&status) {
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        return (status, location);
    }
    (status, response.into_body().read_to_string().unwrap_or_default())
}

/// The CSRF token in a page's form.
fn csrf_of(html: &str) -> String {
    let at = html
        .find(r#"name="csrf" value=""#)
        .expect("a form with a CSRF token")
        + r#"name="csrf" value=""#.len();
    html[at..].split('"').next().expect("token").to_string()
}
