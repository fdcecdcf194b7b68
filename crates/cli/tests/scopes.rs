//! Every endpoint against every scope, as `docs/scopes.md` documents it: the test reads the
//! table there and sends each request with no key and with a key of each scope, so the
//! documentation and the server cannot disagree. It also checks that every route of the API
//! router is in the table.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use serde_json::{json, Value};

const SCOPES_DOC: &str = include_str!("../../../docs/scopes.md");
const ROUTER: &str = include_str!("../../server/src/routes/mod.rs");
/// The callers, in the order of the table's status columns.
const CALLERS: [&str; 6] = ["no key", "assign", "ingest", "read", "experiment", "admin"];

/// One documented endpoint: method, path (as written), expected status per caller.
struct Row {
    method: String,
    path: String,
    expected: Vec<String>,
}

fn documented_rows() -> Vec<Row> {
    SCOPES_DOC
        .lines()
        .map(|line| line.trim())
        .filter(|line| {
            line.starts_with("| GET")
                || line.starts_with("| POST")
                || line.starts_with("| PUT")
                || line.starts_with("| DELETE")
        })
        .map(|line| {
            let cells: Vec<String> = line
                .trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().to_string())
                .collect();
            (line, cells)
        })
        .filter(|(_, cells)| cells.len() == 3 + CALLERS.len())
        .map(|(_, cells)| Row {
            method: cells[0].clone(),
            path: cells[1].clone(),
            expected: cells[3..].to_vec(),
        })
        .collect()
}

/// `(method, path)` of every route of the API router, from its source.
fn router_routes() -> Vec<(String, String)> {
    let mut routes = Vec::new();
    let mut rest = ROUTER;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let Some(open) = rest.find('"') else { break };
        let Some(close) = rest[open + 1..].find('"') else {
            break;
        };
        let path = &rest[open + 1..open + 1 + close];
        let end = rest.find("\n        .").unwrap_or(rest.len());
        let handlers = &rest[open + 1 + close..end];
        for (method, marker) in [
            ("GET", "get("),
            ("POST", "post("),
            ("PUT", "put("),
            ("DELETE", "delete("),
        ] {
            if handlers.contains(marker) {
                routes.push((method.to_string(), path.to_string()));
            }
        }
    }
    routes
}

struct Fixture {
    server: Server,
    /// Setup keys (admins) other than the matrix's admin, so an approval by the matrix's admin
    /// is never of its own override.
    setup: String,
    keys: Vec<Option<String>>,
}

impl Fixture {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let text = body.map(Value::to_string);
        let (status, answer) = self.server.call(method, path, Some(&self.setup), text.as_deref());
        assert!(
            (200..300).contains(&status),
            "setup {method} {path}: {status} {answer}"
        );
        answer
    }

    fn draft(&self, key: &str) -> Value {
        let experiment: Value = serde_json::from_str(&experiment_json(key)).expect("JSON");
        self.call("POST", "/v1/experiments", Some(&experiment));
        experiment
    }

    fn register(&self, version: &str) {
        self.call(
            "POST",
            "/v1/models/ranker/versions",
            Some(&json!({"version": version})),
        );
    }

    /// The request of `row`, with whatever it needs created first (the same for every
    /// caller, so a refusal is never a missing resource).
    fn request(&self, row: &Row) -> (String, String, Option<Value>) {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let method = row.method.clone();
        let unit = json!({"context": {"targetingKey": "u1"}});
        let (path, body) = match row.path.as_str() {
            "/healthz" | "/metrics" | "/v1/metrics" | "/v1/experiments" | "/v1/models" | "/v1/ledger"
            | "/v1/audit" | "/v1/keys"
                if method == "GET" =>
            {
                (row.path.clone(), None)
            }
            "/v1/decide" => (row.path.clone(), Some(json!({"unit": "u1"}))),
            // The SDKs put the key in the path; a header's key comes first, and with none this
            // path's is no key.
            "/api/features/{client_key}" => ("/api/features/not-a-key".into(), None),
            "/ofrep/v1/evaluate/flags/{key}" => ("/ofrep/v1/evaluate/flags/base".into(), Some(unit)),
            "/ofrep/v1/evaluate/flags" => (row.path.clone(), Some(unit)),
            "/v1/events" => (row.path.clone(), Some(json!([]))),
            "/v1/events/summary" => ("/v1/events/summary?experiment=base".into(), None),
            "/v1/metrics" => (
                row.path.clone(),
                Some(serde_json::from_str(&metric_json(&format!("m{n}"), "e")).expect("JSON")),
            ),
            "/v1/experiments" => (
                row.path.clone(),
                Some(serde_json::from_str(&experiment_json(&format!("x{n}"))).expect("JSON")),
            ),
            "/v1/experiments/{key}" if method == "GET" => ("/v1/experiments/base".into(), None),
            "/v1/experiments/{key}" => {
                let key = format!("x{n}");
                let experiment = self.draft(&key);
                (format!("/v1/experiments/{key}"), Some(experiment))
            }
            "/v1/experiments/{key}/start" => {
                let key = format!("x{n}");
                self.draft(&key);
                (format!("/v1/experiments/{key}/start"), None)
            }
            "/v1/experiments/{key}/stop" => {
                let key = format!("x{n}");
                self.draft(&key);
                self.call("POST", &format!("/v1/experiments/{key}/start"), None);
                (format!("/v1/experiments/{key}/stop"), None)
            }
            "/v1/experiments/{key}/results" => ("/v1/experiments/base/results".into(), None),
            "/v1/experiments/{key}/distributions" => ("/v1/experiments/base/distributions".into(), None),
            "/v1/experiments/{key}/rollout-check" => ("/v1/experiments/base/rollout-check".into(), None),
            // `base` has no events: its verdict is `invalid`, so Flagger's rollback hook acts.
            "/v1/flagger/{hook}" => (
                "/v1/flagger/rollback".into(),
                Some(json!({"name": "podinfo", "namespace": "test", "metadata": {"experiment": "base"}})),
            ),
            "/v1/models" => (row.path.clone(), Some(json!({"name": format!("m{n}")}))),
            "/v1/models/{name}" => ("/v1/models/ranker".into(), None),
            "/v1/models/{name}/versions" => (
                "/v1/models/ranker/versions".into(),
                Some(json!({"version": format!("r{n}")})),
            ),
            "/v1/models/{name}/promote" => {
                // v1 and v2 both passed trials: promoting the one not in production is a
                // rollback on trial evidence, whatever the previous case left.
                let model = self.call("GET", "/v1/models/ranker", None);
                let other = if model["production"] == "v1" { "v2" } else { "v1" };
                (
                    "/v1/models/ranker/promote".into(),
                    Some(json!({"version": other})),
                )
            }
            "/v1/models/{name}/promote with `override_reason`" => {
                let version = format!("o{n}");
                self.register(&version);
                (
                    "/v1/models/ranker/promote".into(),
                    Some(json!({"version": version, "override_reason": "The scope matrix."})),
                )
            }
            "/v1/models/{name}/overrides/{id}/approve" => {
                let version = format!("q{n}");
                self.register(&version);
                let pending = self.call(
                    "POST",
                    "/v1/models/ranker/promote",
                    Some(&json!({"version": version, "override_reason": "The scope matrix."})),
                );
                let id = pending["override"]["id"].as_i64().expect("a pending override");
                (format!("/v1/models/ranker/overrides/{id}/approve"), None)
            }
            "/v1/models/{name}/monitoring" => ("/v1/models/ranker/monitoring".into(), None),
            "/v1/models/{name}/gate" => ("/v1/models/ranker/gate?version=v1".into(), None),
            "/v1/keys" => (
                row.path.clone(),
                Some(json!({"scopes": ["read"], "name": format!("k{n}")})),
            ),
            "/v1/backup" => {
                let dir =
                    std::env::temp_dir().join(format!("rctgate-scopes-backup-{}-{n}", std::process::id()));
                let _ = std::fs::remove_dir_all(&dir);
                (row.path.clone(), Some(json!({"to": dir})))
            }
            "/v1/keys/{id}" => {
                let key = self.call("POST", "/v1/keys", Some(&json!({"scopes": ["read"]})));
                (format!("/v1/keys/{}", key["key_id"].as_str().expect("id")), None)
            }
            other => panic!("the scope matrix has no request for {method} {other}; add one"),
        };
        (method, path, body)
    }
}

fn send(server: &Server, method: &str, path: &str, key: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let text = body.map(Value::to_string);
    http(method, &format!("{}{path}", server.url), key, text.as_deref())
}

#[test]
fn every_endpoint_answers_every_scope_as_documented() {
    let rows = documented_rows();
    assert!(
        rows.len() >= 29,
        "the table in docs/scopes.md was not found: {} rows",
        rows.len()
    );
    for (method, path) in router_routes() {
        assert!(
            rows.iter().any(|row| row.method == method && row.path == path),
            "{method} {path} is routed but not documented in docs/scopes.md"
        );
    }

    let db = temp_dir("scopes").join("rctgate.duckdb");
    let setup = create_key(&db, "admin");
    let keys: Vec<Option<String>> = CALLERS
        .iter()
        .map(|caller| (*caller != "no key").then(|| create_key(&db, caller)))
        .collect();
    let server = Server::start_with(&db, &["--override-approvals", "2"]);
    let f = Fixture { server, setup, keys };
    for (metric, event) in [("bookings", "booking"), ("clicks", "click")] {
        f.call(
            "POST",
            "/v1/metrics",
            Some(&serde_json::from_str(&metric_json(metric, event)).expect("JSON")),
        );
    }
    f.draft("base");
    f.call("POST", "/v1/experiments/base/start", None);
    f.call("POST", "/v1/models", Some(&json!({"name": "ranker"})));
    f.register("v1");
    f.register("v2");
    let trial = |key: &str, control: Option<&str>, treatment: &str| {
        let experiment = json!({
            "key": key, "hypothesis": "it sells more", "model": "ranker",
            "variants": [{"name": "control", "weight": 0.5, "model_version": control},
                         {"name": "treatment", "weight": 0.5, "model_version": treatment}],
            "metrics": {"primary": "bookings"},
            "analysis": {"method": "frequentist", "start": "2026-10-01T00:00:00Z", "planned_units": 3000}
        });
        let frozen = run_trial(&f.server, [&f.setup, &f.setup, &f.setup], &experiment, 1.6, 1.0);
        assert_eq!(frozen["decision"]["verdict"], "ship", "{}", frozen["decision"]);
        f.call(
            "POST",
            "/v1/models/ranker/promote",
            Some(&json!({"version": treatment})),
        );
    };
    trial("launch", None, "v1");
    trial("second", Some("v1"), "v2");

    let mut checked = 0;
    for row in &rows {
        for (caller, (key, expected)) in CALLERS.iter().zip(f.keys.iter().zip(&row.expected)) {
            let (method, path, body) = f.request(row);
            let (status, answer) = send(&f.server, &method, &path, key.as_deref(), body.as_ref());
            let what = format!("{} {} as {caller}: {status} {answer}", row.method, row.path);
            match expected.as_str() {
                "2xx" => assert!((200..300).contains(&status), "expected 2xx: {what}"),
                "401" => {
                    assert_eq!(status, 401, "{what}");
                    assert!(
                        answer["error"].as_str().is_some_and(|e| e.contains("API key")),
                        "{what}"
                    );
                }
                "403" => {
                    assert_eq!(status, 403, "{what}");
                    assert!(
                        answer["error"].as_str().is_some_and(|e| e.contains("scope")),
                        "{what}"
                    );
                }
                other => panic!("docs/scopes.md has an unknown status {other:?} for {what}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, rows.len() * CALLERS.len());

    // A key with several scopes has each of them, and nothing more.
    let (status, service) = f.server.call(
        "POST",
        "/v1/keys",
        Some(&f.setup),
        Some(r#"{"scopes": ["assign", "ingest"], "name": "ranker service"}"#),
    );
    assert_eq!(status, 201, "{service}");
    let service = service["key"].as_str().expect("key");
    assert_eq!(
        f.server
            .call("POST", "/v1/decide", Some(service), Some(r#"{"unit": "u1"}"#))
            .0,
        200
    );
    assert_eq!(
        f.server.call("POST", "/v1/events", Some(service), Some("[]")).0,
        200
    );
    let (status, body) = f.server.call("GET", "/v1/experiments", Some(service), None);
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("assign,ingest")),
        "{body}"
    );
}
