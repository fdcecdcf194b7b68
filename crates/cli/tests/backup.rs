//! `rctgate backup` of a running server, and the restore docs/backup.md describes: the copy
//! served again gives the same scorecard, and holds every event acknowledged before it.

mod common;

use serde_json::Value;

use common::*;

/// `value` without its `as_of` fields (when each scorecard was computed).
fn without_as_of(mut value: Value) -> Value {
    match &mut value {
        Value::Object(map) => {
            map.remove("as_of");
            for (_, field) in map.iter_mut() {
                *field = without_as_of(field.take());
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                *item = without_as_of(item.take());
            }
        }
        _ => {}
    }
    value
}

#[test]
fn a_backup_of_a_running_server_restores_to_the_same_scorecard() {
    let dir = temp_dir("backup");
    let db = dir.join("rctgate.duckdb");
    let admin = create_key(&db, "admin");
    let server = Server::start(&db);
    let a = Some(admin.as_str());
    define_metrics(&server, &admin);
    let frozen = run_trial(
        &server,
        [&admin, &admin, &admin],
        &experiment_value("backed"),
        1.2,
        1.0,
    );
    // Events acknowledged just before the backup, still in the ingest log or the writer's
    // queue when it is asked for.
    let (status, body) = server.call("POST", "/v1/events", a, Some(&exposures("backed", 90_000, 500)));
    assert_eq!(status, 200, "{body}");
    let (_, summary) = server.call("GET", "/v1/events/summary?experiment=backed", a, None);
    let exposures_stored = summary["exposure_events"].as_u64().expect("a count");

    let to = dir.join("backups").join("one");
    let key = [("RCTGATE_API_KEY", admin.as_str())];
    let args = ["backup", "--to", path(&to), "--server", server.url.as_str()];
    let output = rctgate_env(&args, &key);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("backed up "), "{}", stdout(&output));
    let copy = to.join("rctgate.duckdb");
    assert!(copy.exists());
    // Never over an earlier copy.
    let again = rctgate_env(&args, &key);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("exists already"), "{}", stderr(&again));

    // Restored: the copy served on its own gives the same scorecard and every exposure.
    let restored = Server::start(&copy);
    let (status, scorecard) = restored.call("GET", "/v1/experiments/backed/results", a, None);
    assert_eq!(status, 200, "{scorecard}");
    assert_eq!(without_as_of(scorecard), without_as_of(frozen));
    let (_, summary) = restored.call("GET", "/v1/events/summary?experiment=backed", a, None);
    assert_eq!(summary["exposure_events"].as_u64(), Some(exposures_stored));
    assert!(restored.terminate());

    // Without a server, --db backs up the file directly.
    assert!(server.terminate());
    let local = dir.join("backups").join("two");
    let output = rctgate(&["backup", "--to", path(&local), "--db", path(&db)]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = rctgate(&[
        "analyze",
        "backed",
        "--db",
        path(&local.join("rctgate.duckdb")),
        "--format",
        "json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let analysed: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert!(analysed["decision"]["verdict"].is_string(), "{analysed}");
    assert_eq!(without_as_of(analysed), without_as_of(analysis_of(&db)));
    let _ = std::fs::remove_dir_all(&dir);
}

/// What `rctgate analyze --db` gives on `db`.
fn analysis_of(db: &std::path::Path) -> Value {
    let output = rctgate(&["analyze", "backed", "--db", path(db), "--format", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).expect("JSON")
}
