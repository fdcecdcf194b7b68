//! MLflow follows the gate, against a real `mlflow server` (issue 25): `rctgate model
//! import-mlflow` registers its versions with their runs' metrics, `serve --mlflow-uri` points
//! the `champion` alias at each promoted version and at nothing else, and while MLflow is down
//! a promotion stands, the sync is retried (across a restart) and reported, then done.
//!
//! `.ci/run` starts the server (PyPI `mlflow`, SQLite backend, loopback) and runs this file
//! with `RCTGATE_MLFLOW_URI`; without it the tests say so and pass.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// The MLflow server of this run, or `None` (and a note on stderr) without one.
fn mlflow_uri(test: &str) -> Option<String> {
    match std::env::var("RCTGATE_MLFLOW_URI") {
        Ok(uri) if !uri.is_empty() => Some(uri.trim_end_matches('/').to_string()),
        _ => {
            eprintln!(
                "skipping {test}: RCTGATE_MLFLOW_URI is not set (.ci/run starts an mlflow server and sets it)"
            );
            None
        }
    }
}

/// One call to MLflow's REST API; panics on anything but a 200.
fn mlflow(uri: &str, method: &str, endpoint: &str, body: Option<Value>) -> Value {
    let body = body.map(|b| b.to_string());
    let url = format!("{uri}/api/2.0/mlflow/{endpoint}");
    let (status, answer) = http(method, &url, None, body.as_deref());
    assert_eq!(status, 200, "{method} {endpoint}: {answer}");
    answer
}

/// A registered model of a unique name with one version per AUC, each logged by its own run.
fn registered_model(uri: &str, prefix: &str, aucs: &[f64]) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!("{prefix}-{}-{nanos}", std::process::id());
    mlflow(
        uri,
        "POST",
        "registered-models/create",
        Some(json!({"name": name})),
    );
    for auc in aucs {
        let run = mlflow(
            uri,
            "POST",
            "runs/create",
            Some(json!({"experiment_id": "0", "start_time": 1_790_000_000_000_i64})),
        );
        let run_id = run["run"]["info"]["run_id"]
            .as_str()
            .expect("a run id")
            .to_string();
        for (key, value, step) in [("auc", auc - 0.05, 0), ("auc", *auc, 1), ("ndcg", auc / 2.0, 0)] {
            mlflow(
                uri,
                "POST",
                "runs/log-metric",
                Some(json!({"run_id": run_id, "key": key, "value": value,
                            "timestamp": 1_790_000_000_000_i64 + step, "step": step})),
            );
        }
        mlflow(
            uri,
            "POST",
            "model-versions/create",
            Some(json!({"name": name, "source": format!("runs:/{run_id}/model"), "run_id": run_id})),
        );
    }
    name
}

/// A registered model in MLflow, imported into a new rctgate file with two keys.
struct Imported {
    name: String,
    db: std::path::PathBuf,
    admin: String,
    read: String,
    /// What the import printed.
    out: String,
}

fn imported(uri: &str, prefix: &str, aucs: &[f64]) -> Imported {
    let name = registered_model(uri, prefix, aucs);
    let db = temp_dir(&format!("mlflow-{prefix}")).join("rctgate.duckdb");
    let admin = create_key(&db, "admin");
    let read = create_key(&db, "read");
    let import = rctgate(&[
        "model",
        "import-mlflow",
        &name,
        "--mlflow-uri",
        uri,
        "--db",
        path(&db),
    ]);
    assert!(import.status.success(), "{}", stderr(&import));
    Imported {
        out: stdout(&import),
        name,
        db,
        admin,
        read,
    }
}

/// The version `alias` of `name` points at in MLflow, if any.
fn alias_of(uri: &str, name: &str, alias: &str) -> Option<String> {
    let url = format!("{uri}/api/2.0/mlflow/registered-models/alias?name={name}&alias={alias}");
    let (status, answer) = http("GET", &url, None, None);
    (status == 200).then(|| answer["model_version"]["version"].as_str().map(str::to_string))?
}

/// Polls until `check` holds or `timeout` passes; returns whether it held.
fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    check()
}

/// The audit entries about the alias of `model`, oldest first: (action, after).
fn alias_audit(server: &Server, admin: &str, model: &str) -> Vec<(String, Value)> {
    let (status, entries) = server.call("GET", "/v1/audit?limit=1000", Some(admin), None);
    assert_eq!(status, 200, "{entries}");
    let mut found: Vec<(String, Value)> = entries
        .as_array()
        .or_else(|| entries["entries"].as_array())
        .expect("audit entries")
        .iter()
        .filter(|e| {
            e["target"] == model && e["action"].as_str().is_some_and(|a| a.starts_with("model.alias"))
        })
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_string(),
                e["after"].clone(),
            )
        })
        .collect();
    found.reverse();
    found
}

/// The value of an unlabelled series in `/metrics`.
fn gauge(server: &Server, name: &str) -> f64 {
    let (_, text) = server.call("GET", "/metrics", None, None);
    let text = text.as_str().expect("the exposition text").to_string();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
}

/// Bookings and clicks, then a stopped trial of `treatment` against `control` of `model`.
fn trial(
    server: &Server,
    admin: &str,
    read: &str,
    model: &str,
    key: &str,
    versions: (Option<&str>, &str),
    lift: f64,
) -> Value {
    let mut experiment = version_trial(
        key,
        versions.0,
        versions.1,
        json!({"primary": "bookings", "proxies": ["clicks"]}),
    );
    experiment["model"] = json!(model);
    run_trial(server, [admin, admin, read], &experiment, lift, 1.1)
}

#[test]
fn the_champion_alias_follows_the_gate_and_nothing_else() {
    let Some(uri) = mlflow_uri("the_champion_alias_follows_the_gate_and_nothing_else") else {
        return;
    };
    // Version 2 is the better model offline; the trial decides.
    let Imported {
        name,
        db,
        admin,
        read,
        out,
    } = imported(&uri, "ranker", &[0.80, 0.95]);
    assert!(
        out.contains(&format!("registered {name} 1 (auc 0.8, ndcg 0.4)")),
        "{out}"
    );
    assert!(
        out.contains(&format!("registered {name} 2 (auc 0.95, ndcg 0.475)")),
        "{out}"
    );
    let again = rctgate(&[
        "model",
        "import-mlflow",
        &name,
        "--mlflow-uri",
        &uri,
        "--db",
        path(&db),
    ]);
    assert!(
        stdout(&again).contains("0 of 2 MLflow version(s)"),
        "{}",
        stdout(&again)
    );

    let server = Server::start_with(&db, &["--mlflow-uri", &uri]);
    let (_, model) = server.call("GET", &format!("/v1/models/{name}"), Some(&read), None);
    assert_eq!(
        model["versions"][1]["artifact_uri"],
        format!("models:/{name}/2"),
        "{model}"
    );
    assert_eq!(model["versions"][1]["offline_metrics"]["auc"], 0.95, "{model}");
    assert!(
        model["versions"][1]["payload"]["mlflow"]["run_id"].is_string(),
        "{model}"
    );
    define_metrics(&server, &admin);
    assert_eq!(alias_of(&uri, &name, "champion"), None);

    // A winning trial, a promotion: the alias follows.
    let launch = trial(&server, &admin, &read, &name, "launch", (None, "1"), 1.6);
    assert_eq!(launch["decision"]["verdict"], "ship", "{}", launch["decision"]);
    let promote = |version: &str, extra: Value| {
        let mut body = json!({"version": version});
        body.as_object_mut()
            .expect("object")
            .extend(extra.as_object().cloned().unwrap_or_default());
        server.call(
            "POST",
            &format!("/v1/models/{name}/promote"),
            Some(&admin),
            Some(&body.to_string()),
        )
    };
    let (status, promoted) = promote("1", json!({}));
    assert_eq!(status, 200, "{promoted}");
    assert!(
        eventually(Duration::from_secs(30), || alias_of(&uri, &name, "champion")
            .as_deref()
            == Some("1")),
        "champion never pointed at 1"
    );
    let audit = alias_audit(&server, &admin, &name);
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].0, "model.alias_set");
    assert_eq!(audit[0].1["registered_version"], "1");
    assert_eq!(audit[0].1["attempts"], 1);

    // Version 2 loses its trial: the gate refuses it, and the alias stays on 1.
    let next = trial(&server, &admin, &read, &name, "next", (Some("1"), "2"), 0.7);
    assert_ne!(next["decision"]["verdict"], "ship", "{}", next["decision"]);
    let (status, refused) = promote("2", json!({}));
    assert_eq!(status, 409, "{refused}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(alias_of(&uri, &name, "champion").as_deref(), Some("1"));
    assert_eq!(gauge(&server, "rctgate_mlflow_alias_syncs_total"), 1.0);
    assert_eq!(gauge(&server, "rctgate_mlflow_alias_syncs_pending"), 0.0);

    // A version linked to no MLflow version, promoted by an admin's override: it is
    // production in rctgate, the alias does not move to anything, and the audit says why.
    let (status, body) = server.call(
        "POST",
        &format!("/v1/models/{name}/versions"),
        Some(&admin),
        Some(&json!({"version": "v3-hotfix", "artifact_uri": "s3://models/hotfix"}).to_string()),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = promote("v3-hotfix", json!({"override_reason": "incident 42"}));
    assert_eq!(status, 200, "{body}");
    assert!(
        eventually(Duration::from_secs(15), || alias_audit(&server, &admin, &name)
            .len()
            == 2),
        "no audit entry for the unlinked version"
    );
    let audit = alias_audit(&server, &admin, &name);
    assert_eq!(audit[1].0, "model.alias_sync_failed", "{audit:?}");
    assert!(
        audit[1].1["error"]
            .as_str()
            .is_some_and(|e| e.contains("v3-hotfix")),
        "{audit:?}"
    );
    assert_eq!(alias_of(&uri, &name, "champion").as_deref(), Some("1"));
    assert_eq!(gauge(&server, "rctgate_mlflow_alias_sync_failures_total"), 1.0);

    // A rollback to version 1 is a promotion through the gate: the alias follows it too
    // (it is already there, and is set again).
    let (status, body) = promote("1", json!({}));
    assert_eq!(status, 200, "{body}");
    assert!(
        eventually(Duration::from_secs(15), || alias_audit(&server, &admin, &name)
            .len()
            == 3),
        "the rollback was not followed"
    );
    assert_eq!(alias_of(&uri, &name, "champion").as_deref(), Some("1"));
}

/// A TCP relay to MLflow that can be down (it accepts and closes every connection at once,
/// as a server that is restarting does) or up.
struct Relay {
    url: String,
    up: Arc<AtomicBool>,
}

impl Relay {
    fn start(upstream: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let upstream = upstream.trim_start_matches("http://").to_string();
        let up = Arc::new(AtomicBool::new(false));
        let serving = Arc::clone(&up);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !serving.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                pipe(&client, &server);
                pipe(&server, &client);
            }
        });
        Relay { url, up }
    }
}

/// Copies `from` to `to` on a thread until either closes.
fn pipe(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        while let Ok(read) = from.read(&mut buffer) {
            if read == 0 || to.write_all(&buffer[..read]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

#[test]
fn while_mlflow_is_down_the_promotion_stands_and_the_alias_follows_when_it_returns() {
    let Some(uri) =
        mlflow_uri("while_mlflow_is_down_the_promotion_stands_and_the_alias_follows_when_it_returns")
    else {
        return;
    };
    let Imported {
        name,
        db,
        admin,
        read,
        ..
    } = imported(&uri, "down", &[0.9]);

    let relay = Relay::start(&uri);
    let server = Server::start_with(&db, &["--mlflow-uri", &relay.url]);
    define_metrics(&server, &admin);
    let launch = trial(&server, &admin, &read, &name, "launch", (None, "1"), 1.6);
    assert_eq!(launch["decision"]["verdict"], "ship", "{}", launch["decision"]);
    let (status, promoted) = server.call(
        "POST",
        &format!("/v1/models/{name}/promote"),
        Some(&admin),
        Some(&json!({"version": "1"}).to_string()),
    );
    assert_eq!(
        status, 200,
        "the promotion stands whatever MLflow says: {promoted}"
    );

    // Reported: the first failure in the audit log, every attempt in /metrics.
    assert!(
        eventually(Duration::from_secs(15), || {
            alias_audit(&server, &admin, &name)
                .iter()
                .any(|(action, _)| action == "model.alias_sync_retrying")
        }),
        "no retry in the audit log"
    );
    let audit = alias_audit(&server, &admin, &name);
    assert!(
        audit[0].1["error"]
            .as_str()
            .is_some_and(|e| e.contains("unreachable") || e.contains("answer")),
        "{audit:?}"
    );
    assert!(gauge(&server, "rctgate_mlflow_alias_sync_retries_total") >= 1.0);
    assert_eq!(gauge(&server, "rctgate_mlflow_alias_syncs_pending"), 1.0);
    let (_, model) = server.call("GET", &format!("/v1/models/{name}"), Some(&read), None);
    assert_eq!(model["production"], "1", "{model}");

    // Still due after a restart: nothing about it lived only in the stopped process.
    assert!(server.terminate(), "the server did not stop cleanly");
    let server = Server::start_with(&db, &["--mlflow-uri", &relay.url]);
    assert!(
        eventually(Duration::from_secs(15), || gauge(
            &server,
            "rctgate_mlflow_alias_sync_retries_total"
        ) >= 1.0),
        "the restarted server did not try again"
    );
    assert_eq!(alias_of(&uri, &name, "champion"), None);

    relay.up.store(true, Ordering::SeqCst);
    assert!(
        eventually(Duration::from_secs(40), || alias_of(&uri, &name, "champion")
            .as_deref()
            == Some("1")),
        "the alias never followed once MLflow was back"
    );
    assert!(
        eventually(Duration::from_secs(10), || gauge(
            &server,
            "rctgate_mlflow_alias_syncs_pending"
        ) == 0.0),
        "still pending"
    );
    let audit = alias_audit(&server, &admin, &name);
    let (action, detail) = audit.last().expect("entries");
    assert_eq!(action, "model.alias_set", "{audit:?}");
    assert!(detail["attempts"].as_u64().is_some_and(|n| n >= 2), "{detail}");
}
