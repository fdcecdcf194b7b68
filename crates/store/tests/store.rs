//! Tests of the store through its public API, each on its own database file.

use rctgate_domain::{
    from_json_str, parse_event_batch, EventBatch, EventRecordRef, Experiment, KeySpec, Metric, ModelVersion,
    NewModel, OverrideStatus, PromotionRequest, Scope, Scopes, Status, Verdict,
};
use rctgate_store::{
    ErrorKind, ImportProgress, KeyRejection, PromotionOutcome, Store, StoreError, Upserted, LOCAL_ACTOR,
};
use serde_json::json;
use std::path::{Path, PathBuf};

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!("rctgate-store-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn db(&self) -> PathBuf {
        self.file("test.duckdb")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn metric(name: &str) -> Metric {
    from_json_str(&format!(
        r#"{{"name": "{name}", "kind": "proportion", "event": "{name}", "direction": "increase"}}"#
    ))
    .expect("metric parses")
}

fn experiment(key: &str) -> Experiment {
    from_json_str(&format!(
        r#"{{"key": "{key}", "hypothesis": "It helps.",
            "variants": [{{"name": "control", "weight": 0.5}}, {{"name": "treatment", "weight": 0.5}}],
            "metrics": {{"primary": "bookings", "guardrails": ["cancellations"]}}}}"#
    ))
    .expect("experiment parses")
}

/// A store with the metrics `bookings` and `cancellations` and the draft experiment `ranker`.
fn seeded(dir: &TempDir) -> Store {
    let store = Store::open(dir.db()).expect("open");
    store
        .upsert_metric(&metric("bookings"), LOCAL_ACTOR)
        .expect("metric");
    store
        .upsert_metric(&metric("cancellations"), LOCAL_ACTOR)
        .expect("metric");
    store
        .create_experiment(experiment("ranker"), LOCAL_ACTOR)
        .expect("experiment");
    store
}

fn exposure(id: &str, unit: &str, variant: &str) -> String {
    format!(
        r#"{{"type": "exposure", "id": "{id}", "unit": "{unit}", "experiment": "ranker", "variant": "{variant}", "ts": "2026-11-26T12:00:00Z"}}"#
    )
}

fn booking(id: &str, unit: &str) -> String {
    format!(
        r#"{{"type": "metric", "id": "{id}", "unit": "{unit}", "event": "bookings", "ts": "2026-11-26T13:00:00Z"}}"#
    )
}

/// The lines as owned records (what `/v1/decide`'s exposures are), numbered as NDJSON.
fn batch(lines: &[String]) -> EventBatch {
    let body = lines.join("\n");
    let parsed = parse_event_batch(body.as_bytes(), 10_000).expect("batch parses");
    EventBatch {
        records: parsed.records.iter().map(EventRecordRef::to_record).collect(),
        positions: parsed.positions,
        kind: parsed.kind,
    }
}

fn kind(result: Result<impl std::fmt::Debug, StoreError>) -> ErrorKind {
    result.expect_err("expected an error").kind()
}

// ---- keys ----

#[test]
fn keys_are_created_hashed_and_authenticated() {
    let dir = TempDir::new("keys");
    let store = Store::open(dir.db()).expect("open");
    assert_eq!(store.count_keys(), 0);
    let admin = store
        .create_key(&KeySpec::scopes(Scope::Admin), LOCAL_ACTOR)
        .expect("key");
    let ingest = store
        .create_key(&KeySpec::scopes(Scope::Ingest), &admin.key_id)
        .expect("key");
    assert_eq!(store.count_keys(), 2);
    let who = store.authenticate(&ingest.key).expect("valid key");
    assert_eq!(
        (who.key_id.as_str(), who.scopes),
        (ingest.key_id.as_str(), Scopes::of(Scope::Ingest))
    );
    assert!(store.authenticate("rctg_nope").is_err());
    assert!(store.authenticate("").is_err());
    assert!(store.authenticate(&format!("{}x", admin.key)).is_err());
    // Once a key has been checked it is remembered by its tag: it still answers the same,
    // and neither it nor its near misses (one character changed, or cut short) let another in.
    for _ in 0..2 {
        assert_eq!(
            store.authenticate(&ingest.key).map(|who| who.scopes).ok(),
            Some(Scopes::of(Scope::Ingest))
        );
        assert_eq!(
            store.authenticate(&admin.key).map(|who| who.scopes).ok(),
            Some(Scopes::of(Scope::Admin))
        );
    }
    let mut near = ingest.key.clone().into_bytes();
    let last = near.len() - 1;
    near[last] = if near[last] == b'0' { b'1' } else { b'0' };
    assert!(store
        .authenticate(std::str::from_utf8(&near).expect("ascii"))
        .is_err());
    assert!(store.authenticate(&ingest.key[..last]).is_err());

    // The audit log and the file hold the key id and scope, never the key.
    let audit = store.list_audit(10).expect("audit");
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0].action, "key.create");
    assert_eq!(audit[0].key_id, admin.key_id);
    assert!(!serde_json::to_string(&audit).expect("json").contains(&ingest.key));
    drop(store);
    let bytes = std::fs::read(dir.db()).expect("db file");
    let wal = std::fs::read(dir.file("test.duckdb.wal")).unwrap_or_default();
    let secret = admin.key.as_bytes();
    assert!(!bytes.windows(secret.len()).any(|window| window == secret));
    assert!(!wal.windows(secret.len()).any(|window| window == secret));

    // Keys survive a restart.
    let store = Store::open(dir.db()).expect("reopen");
    assert_eq!(store.count_keys(), 2);
    assert_eq!(
        store.authenticate(&admin.key).map(|who| who.scopes).ok(),
        Some(Scopes::of(Scope::Admin))
    );
}

#[test]
fn keys_are_revoked_and_the_last_admin_is_kept() {
    let dir = TempDir::new("revoke");
    let store = Store::open(dir.db()).expect("open");
    let admin = store
        .create_key(&KeySpec::scopes(Scope::Admin), LOCAL_ACTOR)
        .expect("key");
    let reader = store
        .create_key(&KeySpec::scopes(Scope::Read), &admin.key_id)
        .expect("key");
    assert!(store.authenticate(&reader.key).is_ok());
    assert_eq!(
        kind(store.revoke_key(&admin.key_id, LOCAL_ACTOR)),
        ErrorKind::Conflict
    );
    assert_eq!(kind(store.revoke_key("nope", LOCAL_ACTOR)), ErrorKind::NotFound);
    let revoked = store.revoke_key(&reader.key_id, &admin.key_id).expect("revoked");
    assert_eq!(
        (revoked.status, revoked.revoked_by.as_deref()),
        ("revoked", Some(admin.key_id.as_str()))
    );
    assert!(matches!(
        store.authenticate(&reader.key),
        Err(KeyRejection::Revoked { .. })
    ));
    assert!(store.key_identity(&reader.key_id).is_err());
    assert_eq!(
        kind(store.revoke_key(&reader.key_id, LOCAL_ACTOR)),
        ErrorKind::Conflict
    );
    drop(store);
    let store = Store::open(dir.db()).expect("reopen");
    assert!(matches!(
        store.authenticate(&reader.key),
        Err(KeyRejection::Revoked { .. })
    ));
    assert_eq!(store.count_keys(), 2);
}

#[test]
fn an_override_waits_for_every_admin_it_needs() {
    let dir = TempDir::new("override");
    let store = Store::open(dir.db()).expect("open");
    store
        .create_model(
            NewModel {
                name: "ranker".into(),
                description: None,
            },
            "alice",
        )
        .expect("model");
    let version: ModelVersion = serde_json::from_value(json!({"version": "v1"})).expect("version");
    store
        .add_model_version("ranker", version, "alice")
        .expect("version");
    let request = PromotionRequest {
        version: "v1".into(),
        experiment: None,
        override_reason: Some("Shipped before rctgate.".into()),
        holdout: None,
    };
    let Ok(PromotionOutcome::Pending(pending)) = store.promote("ranker", &request, "alice", 3) else {
        panic!("an override needing three admins is pending");
    };
    let field = |result: Result<_, StoreError>| match result {
        Err(StoreError::Invalid(err)) => err.field,
        other => panic!("expected a field error, got {other:?}"),
    };
    assert_eq!(
        field(store.approve_override("ranker", pending.id, "alice")).as_deref(),
        Some("approver")
    );
    let (after_bob, promotion) = store.approve_override("ranker", pending.id, "bob").expect("bob");
    assert_eq!((after_bob.missing(), promotion), (1, None));
    assert_eq!(
        field(store.approve_override("ranker", pending.id, "bob")).as_deref(),
        Some("approver")
    );
    let model = store.get_model("ranker").expect("model");
    assert_eq!(
        (model.production, model.overrides[0].approvals.len()),
        (None, 1),
        "nothing changed"
    );
    let (applied, promotion) = store
        .approve_override("ranker", pending.id, "carol")
        .expect("carol");
    assert_eq!(applied.status, OverrideStatus::Applied);
    let promotion = promotion.expect("promoted");
    assert_eq!(promotion.evidence["approved_by"], json!(["bob", "carol"]));
    assert_eq!(promotion.flag.as_deref(), Some("promoted without RCT evidence"));
    assert_eq!(
        field(store.approve_override("ranker", pending.id, "dave")).as_deref(),
        Some("override")
    );
}

// ---- metrics ----

#[test]
fn metrics_upsert_get_list_with_audit() {
    let dir = TempDir::new("metrics");
    let store = Store::open(dir.db()).expect("open");
    let bookings = metric("bookings");
    assert_eq!(
        store.upsert_metric(&bookings, "k1").expect("create"),
        Upserted::Created
    );
    assert_eq!(
        store.upsert_metric(&bookings, "k1").expect("again"),
        Upserted::Unchanged
    );
    let mut longer = bookings.clone();
    longer.window_hours = 336.0;
    assert_eq!(
        store.upsert_metric(&longer, "k2").expect("update"),
        Upserted::Updated
    );
    assert_eq!(store.get_metric("bookings").expect("get"), longer);
    store.upsert_metric(&metric("clicks"), "k1").expect("create");
    let names: Vec<String> = store
        .list_metrics()
        .expect("list")
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["bookings", "clicks"]);
    assert_eq!(kind(store.get_metric("nope")), ErrorKind::NotFound);

    let mut bad = metric("ratio");
    bad.kind = rctgate_domain::MetricKind::Ratio;
    let err = store.upsert_metric(&bad, "k1").expect_err("invalid");
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::Invalid, Some("denominator_event"))
    );

    let audit = store.list_audit(10).expect("audit");
    let actions: Vec<&str> = audit.iter().map(|entry| entry.action.as_str()).collect();
    assert_eq!(actions, ["metric.create", "metric.update", "metric.create"]);
    let update = &audit[1];
    assert_eq!(update.key_id, "k2");
    assert_eq!(
        update.before.as_ref().map(|before| &before["window_hours"]),
        Some(&json!(168.0))
    );
    assert_eq!(
        update.after.as_ref().map(|after| &after["window_hours"]),
        Some(&json!(336.0))
    );
}

// ---- experiments ----

#[test]
fn experiments_create_get_list_and_validate() {
    let dir = TempDir::new("experiments");
    let store = seeded(&dir);
    let stored = store.get_experiment("ranker").expect("get");
    assert_eq!(stored.status, Status::Draft);
    assert_eq!(stored.seed.as_deref(), Some("ranker"), "seed defaults to the key");
    assert!(stored.created_at.is_some());
    assert_eq!(
        kind(store.create_experiment(experiment("ranker"), "k")),
        ErrorKind::Conflict
    );

    let mut unknown_metric = experiment("other");
    unknown_metric.metrics.primary = "revenue".into();
    let err = store.create_experiment(unknown_metric, "k").expect_err("invalid");
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::Invalid, Some("metrics.primary"))
    );

    store
        .create_experiment(experiment("second"), "k")
        .expect("create");
    let keys: Vec<String> = store
        .list_experiments()
        .expect("list")
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(keys, ["ranker", "second"]);
    assert_eq!(kind(store.get_experiment("nope")), ErrorKind::NotFound);
    assert_eq!(kind(store.start_experiment("nope", "k")), ErrorKind::NotFound);
}

#[test]
fn lifecycle_and_update_rules() {
    let dir = TempDir::new("lifecycle");
    let store = seeded(&dir);

    // A draft may change its weights; the server-owned fields are kept.
    let mut uneven = experiment("ranker");
    uneven.variants[0].weight = 0.8;
    uneven.variants[1].weight = 0.2;
    uneven.status = Status::Stopped;
    let replaced = store
        .replace_experiment("ranker", uneven, "k")
        .expect("draft change");
    assert_eq!(replaced.status, Status::Draft);
    assert_eq!(
        kind(store.replace_experiment("other", experiment("ranker"), "k")),
        ErrorKind::Invalid
    );

    assert_eq!(kind(store.stop_experiment("ranker", "k")), ErrorKind::Conflict);
    let running = store.start_experiment("ranker", "k").expect("start");
    assert_eq!(running.status, Status::Running);
    assert!(running.started_at.is_some());
    assert_eq!(kind(store.start_experiment("ranker", "k")), ErrorKind::Conflict);

    // Running: weights frozen, coverage only grows.
    let mut reweighted = running.clone();
    reweighted.variants[0].weight = 0.5;
    reweighted.variants[1].weight = 0.5;
    let err = store
        .replace_experiment("ranker", reweighted, "k")
        .expect_err("frozen");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().contains("weights"), "{err}");
    let mut smaller = running.clone();
    smaller.coverage = 0.5;
    assert_eq!(
        kind(store.replace_experiment("ranker", smaller.clone(), "k")),
        ErrorKind::Conflict
    );
    let mut clarified = running.clone();
    clarified.hypothesis = "It helps, measurably.".into();
    let clarified = store
        .replace_experiment("ranker", clarified, "k")
        .expect("allowed change");
    assert_eq!(clarified.status, Status::Running);
    assert_eq!(clarified.started_at, running.started_at);

    // Stop freezes results; a stopped experiment changes no more.
    // No exposures were logged, so the frozen verdict is `invalid` and says why.
    let stopped = store.stop_experiment("ranker", "k").expect("stop");
    assert_eq!(stopped.status, Status::Stopped);
    assert!(stopped.stopped_at.is_some());
    let frozen = store
        .frozen_results("ranker")
        .expect("results")
        .expect("frozen on stop");
    let decision = frozen.decision();
    assert_eq!(decision.verdict, Verdict::Invalid, "{decision:?}");
    assert!(decision.reasons[0].contains("No units"), "{decision:?}");
    assert_eq!(kind(store.start_experiment("ranker", "k")), ErrorKind::Conflict);
    let mut late = stopped.clone();
    late.hypothesis = "Rewritten after the fact.".into();
    assert_eq!(
        kind(store.replace_experiment("ranker", late, "k")),
        ErrorKind::Conflict
    );
    let (same, outcome) = store
        .apply_experiment(stopped.clone(), "k")
        .expect("identical apply");
    assert_eq!((same, outcome), (stopped, Upserted::Unchanged));

    let actions: Vec<String> = store
        .list_audit(100)
        .expect("audit")
        .into_iter()
        .rev()
        .map(|entry| entry.action)
        .filter(|action| action.starts_with("experiment"))
        .collect();
    assert_eq!(
        actions,
        [
            "experiment.create",
            "experiment.replace",
            "experiment.start",
            "experiment.replace",
            "experiment.stop",
            "experiment.results_frozen"
        ]
    );
    let frozen_entry = &store.list_audit(1).expect("audit")[0];
    assert_eq!(
        frozen_entry.after.as_ref(),
        store.results("ranker", &Default::default()).ok().as_ref()
    );
    let stop = &store.list_audit(2).expect("audit")[1];
    assert_eq!(
        stop.before.as_ref().map(|before| &before["status"]),
        Some(&json!("running"))
    );
    assert_eq!(
        stop.after.as_ref().map(|after| &after["status"]),
        Some(&json!("stopped"))
    );
}

#[test]
fn overlapping_layers_cannot_run_together() {
    let dir = TempDir::new("layers");
    let store = seeded(&dir);
    for (key, start, end) in [("a", 0.0, 0.5), ("b", 0.4, 1.0), ("c", 0.5, 1.0)] {
        let mut layered = experiment(key);
        layered.layer = Some(rctgate_domain::Layer {
            name: "search".into(),
            start,
            end,
        });
        store.create_experiment(layered, "k").expect("create");
    }
    store.start_experiment("a", "k").expect("start a");
    assert_eq!(kind(store.start_experiment("b", "k")), ErrorKind::Conflict);
    store.start_experiment("c", "k").expect("disjoint range");
}

// ---- events ----

#[test]
fn a_batch_with_one_bad_event_stores_nothing() {
    let dir = TempDir::new("atomic");
    let store = seeded(&dir);
    let lines = [
        exposure("e1", "u1", "control"),
        booking("e2", "u1"),
        exposure("e3", "u2", "treatment-2"),
    ];
    let err = store.ingest(batch(&lines)).expect_err("bad variant");
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::Invalid, Some("line 3: variant"))
    );
    assert_eq!(store.event_count().expect("count"), 0);
    let summary = store.events_summary("ranker").expect("summary");
    assert_eq!(summary.exposure_events, 0);

    let unknown = [exposure("e1", "u1", "control").replace("\"ranker\"", "\"nope\"")];
    let err = store.ingest(batch(&unknown)).expect_err("bad experiment");
    assert_eq!(err.field(), Some("line 1: experiment"));
    let bad_ts = [booking("e1", "u1").replace("2026-11-26T13:00:00Z", "26/11/2026")];
    assert_eq!(
        store.ingest(batch(&bad_ts)).expect_err("bad ts").field(),
        Some("line 1: ts")
    );
}

#[test]
fn ids_are_idempotent_within_across_batches_and_restarts() {
    let dir = TempDir::new("idempotent");
    let store = seeded(&dir);
    let first = [
        exposure("e1", "u1", "control"),
        exposure("e1", "u1", "control"),
        booking("e2", "u1"),
    ];
    let outcome = store.ingest(batch(&first)).expect("ingest");
    assert_eq!((outcome.accepted, outcome.duplicates), (2, 1));
    let second = [booking("e2", "u1"), exposure("e3", "u2", "treatment")];
    let outcome = store.ingest(batch(&second)).expect("ingest");
    assert_eq!((outcome.accepted, outcome.duplicates), (1, 1));
    drop(store);

    let store = Store::open(dir.db()).expect("reopen");
    assert_eq!(store.event_count().expect("count"), 3);
    let outcome = store.ingest(batch(&first)).expect("ingest after restart");
    assert_eq!((outcome.accepted, outcome.duplicates), (0, 3));
    let summary = store.events_summary("ranker").expect("summary");
    assert_eq!(summary.exposure_events, 2);
    assert_eq!(summary.metric_events.get("bookings"), Some(&1));
}

#[test]
fn summary_has_the_spec_shape() {
    let dir = TempDir::new("summary");
    let store = seeded(&dir);
    let lines = [
        exposure("e1", "u1", "control"),
        exposure("e2", "u1", "control"),
        exposure("e3", "u2", "treatment"),
        booking("e4", "u1"),
        booking("e5", "u9"),
    ];
    store.ingest(batch(&lines)).expect("ingest");
    let summary = serde_json::to_value(store.events_summary("ranker").expect("summary")).expect("json");
    assert_eq!(
        summary,
        json!({
            "exposures": {"control": 1, "treatment": 1},
            "exposure_events": 3,
            "metric_events": {"bookings": 1},
            "last_event_ts": "2026-11-26T13:00:00Z"
        })
    );
    store.create_experiment(experiment("empty"), "k").expect("create");
    let empty = serde_json::to_value(store.events_summary("empty").expect("summary")).expect("json");
    assert_eq!(empty["exposures"], json!({"control": 0, "treatment": 0}));
    assert_eq!(empty["last_event_ts"], json!(null));
    assert_eq!(kind(store.events_summary("nope")), ErrorKind::NotFound);
}

// ---- import ----

const CSV: &str = "type,id,unit,experiment,variant,ts,triggered,event,value,device
exposure,c1,u1,ranker,control,2026-11-26T12:00:00Z,true,,,mobile
exposure,c2,u2,ranker,treatment,2026-11-26T12:00:01Z,false,,,desktop
metric,c3,u1,,,2026-11-26T12:30:00Z,,bookings,1.0,
metric,c4,u2,,,2026-11-26T12:31:00Z,,bookings,,
";

fn import(store: &Store, path: &Path) -> Result<rctgate_store::ImportOutcome, StoreError> {
    let mut last = ImportProgress::default();
    let outcome = store.import_file(path, &mut |progress| last = progress)?;
    assert_eq!(last.rows_done, outcome.rows);
    Ok(outcome)
}

#[test]
fn csv_import_is_validated_and_idempotent() {
    let dir = TempDir::new("csv");
    let store = seeded(&dir);
    let path = dir.file("events.csv");
    std::fs::write(&path, CSV).expect("write csv");
    let outcome = import(&store, &path).expect("import");
    assert_eq!((outcome.rows, outcome.accepted, outcome.duplicates), (4, 4, 0));
    let summary = store.events_summary("ranker").expect("summary");
    assert_eq!(summary.exposures.get("treatment"), Some(&1));
    assert_eq!(summary.metric_events.get("bookings"), Some(&2));
    let again = import(&store, &path).expect("re-import");
    assert_eq!((again.accepted, again.duplicates), (0, 4));

    let bad = dir.file("bad.csv");
    std::fs::write(
        &bad,
        CSV.replace("c4,u2,,,2026-11-26T12:31:00Z", "c5,u2,,,not-a-time"),
    )
    .expect("write");
    let err = import(&store, &bad).expect_err("bad row");
    let StoreError::Import(err) = err else {
        panic!("expected an import error, got {err}");
    };
    assert_eq!((err.row, err.field.as_deref()), (Some(4), Some("ts")));
    assert!(err.to_string().contains("bad.csv"), "{err}");
    assert_eq!(
        store.event_count().expect("count"),
        4,
        "nothing of the failed batch is stored"
    );

    let ragged = dir.file("ragged.csv");
    std::fs::write(
        &ragged,
        "type,id,unit,ts\nmetric,x,u,2026-11-26T12:00:00Z,extra\n",
    )
    .expect("write");
    let err = import(&store, &ragged).expect_err("ragged");
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(err.to_string().contains("row 1"), "{err}");
}

#[test]
fn ndjson_import_names_the_line() {
    let dir = TempDir::new("ndjson");
    let store = seeded(&dir);
    let path = dir.file("events.ndjson");
    let lines = [
        exposure("n1", "u1", "control"),
        String::new(),
        booking("n2", "u1"),
    ];
    std::fs::write(&path, lines.join("\n")).expect("write");
    let outcome = import(&store, &path).expect("import");
    assert_eq!((outcome.rows, outcome.accepted), (2, 2));

    let bad = dir.file("bad.jsonl");
    let lines = [
        booking("n3", "u1"),
        booking("n4", "u1").replace("\"event\"", "\"evnt\""),
    ];
    std::fs::write(&bad, lines.join("\n")).expect("write");
    let StoreError::Import(err) = import(&store, &bad).expect_err("typo") else {
        panic!("expected an import error");
    };
    assert_eq!((err.row, err.field.as_deref()), (Some(2), Some("evnt")));
    assert_eq!(store.event_count().expect("count"), 2);

    let missing = import(&store, &dir.file("missing.ndjson")).expect_err("missing");
    assert!(missing.to_string().contains("missing.ndjson"), "{missing}");
    let unknown = import(&store, &dir.file("events.xlsx")).expect_err("format");
    assert_eq!(unknown.kind(), ErrorKind::Invalid);
}

#[test]
fn parquet_import_reads_typed_columns() {
    let dir = TempDir::new("parquet");
    let store = seeded(&dir);
    let path = dir.file("events.parquet");
    let conn = duckdb::Connection::open_in_memory().expect("duckdb");
    conn.execute_batch(&format!(
        "COPY (
            SELECT
                CASE WHEN i % 2 = 0 THEN 'exposure' ELSE 'metric' END AS type,
                'p' || i AS id,
                'u' || (i // 2) AS unit,
                CASE WHEN i % 2 = 0 THEN 'ranker' END AS experiment,
                CASE WHEN i % 2 = 0 THEN (CASE WHEN i % 4 = 0 THEN 'control' ELSE 'treatment' END) END AS variant,
                TIMESTAMP '2026-11-26 12:00:00' + INTERVAL (i) SECOND AS ts,
                CASE WHEN i % 2 = 0 THEN i % 3 = 0 END AS triggered,
                CASE WHEN i % 2 = 1 THEN 'bookings' END AS event,
                CASE WHEN i % 2 = 1 THEN i * 1.5 END AS value,
                i % 7 AS bucket
            FROM range(1000) t(i)
        ) TO '{}' (FORMAT parquet)",
        path.display()
    ))
    .expect("write parquet");
    let mut progress = Vec::new();
    let outcome = store
        .import_file(&path, &mut |step| progress.push(step))
        .expect("import");
    assert_eq!(
        (outcome.rows, outcome.accepted, outcome.duplicates),
        (1000, 1000, 0)
    );
    assert_eq!(progress.last().and_then(|step| step.total_rows), Some(1000));
    let summary = store.events_summary("ranker").expect("summary");
    assert_eq!(summary.exposure_events, 500);
    assert_eq!(summary.exposures.get("control"), Some(&250));
    assert_eq!(summary.metric_events.get("bookings"), Some(&500));
    assert_eq!(
        summary
            .last_event_ts
            .map(rctgate_domain::event::format_ts)
            .as_deref(),
        Some("2026-11-26T12:16:39Z")
    );

    // Typed attributes stay typed; the timestamp is exact.
    let stored: (String, i64) = store
        .read_connection()
        .expect("reader")
        .query_row(
            "SELECT attributes, epoch_us(ts) FROM exposures WHERE id = 'p4'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("row");
    assert_eq!(stored.0, r#"{"bucket":4}"#);
    assert_eq!(stored.1, 1_795_694_404_000_000);

    let again = import(&store, &path).expect("re-import");
    assert_eq!((again.accepted, again.duplicates), (0, 1000));

    let bad = dir.file("bad.parquet");
    conn.execute_batch(&format!(
        "COPY (SELECT 'exposure' AS type, 'q' || i AS id, 'u' AS unit, 'ranker' AS experiment,
                      CASE WHEN i = 41 THEN 'nope' ELSE 'control' END AS variant,
                      '2026-11-26T12:00:00Z' AS ts
               FROM range(100) t(i)) TO '{}' (FORMAT parquet)",
        bad.display()
    ))
    .expect("write parquet");
    let StoreError::Import(err) = import(&store, &bad).expect_err("bad variant") else {
        panic!("expected an import error");
    };
    assert_eq!((err.row, err.field.as_deref()), (Some(42), Some("variant")));
    assert_eq!(store.event_count().expect("count"), 1000);

    let not_parquet = dir.file("fake.parquet");
    std::fs::write(&not_parquet, "hello").expect("write");
    let err = import(&store, &not_parquet).expect_err("not Parquet");
    assert_eq!(err.kind(), ErrorKind::Invalid);
    let message = err.to_string();
    assert!(
        message.contains("fake.parquet") && message.contains("Cannot read it as Parquet"),
        "{message}"
    );
    assert!(
        !message.contains('\n'),
        "one line, without DuckDB's quote of the SQL: {message}"
    );
}

/// id, triggered, model_output, latency_ms, attributes of a stored exposure.
type StoredExposure = (String, Option<bool>, Option<f64>, Option<f64>, Option<String>);

#[test]
fn stored_rows_keep_every_field_even_when_a_chunk_is_rebuilt() {
    let dir = TempDir::new("fields");
    let store = seeded(&dir);
    store.ingest(batch(&[booking("m1", "u1")])).expect("first");
    // m1 is stored already, so the metric chunk of this batch is rebuilt without it.
    let lines = [
        booking("m1", "u1"),
        r#"{"type": "metric", "id": "m2", "unit": "u2", "event": "revenue", "value": 12.5, "ts": "2026-11-26T13:00:00.123456+01:00", "attributes": {"b": 2, "a": "x\"y"}}"#.to_string(),
        r#"{"type": "exposure", "id": "x1", "unit": "u2", "experiment": "ranker", "variant": "treatment", "ts": "2026-11-26T12:00:00Z", "triggered": false, "model_output": 0.25, "latency_ms": 3.5}"#.to_string(),
        exposure("x2", "u3", "control"),
    ];
    let outcome = store.ingest(batch(&lines)).expect("second");
    assert_eq!((outcome.accepted, outcome.duplicates), (3, 1));
    let reader = store.read_connection().expect("reader");
    let metric: (String, f64, i64, Option<String>) = reader
        .query_row(
            "SELECT event, value, epoch_us(ts), attributes FROM metric_events WHERE id = 'm2'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .expect("m2");
    assert_eq!(metric.0, "revenue");
    assert_eq!(metric.1, 12.5);
    assert_eq!(
        metric.2, 1_795_694_400_123_456,
        "converted to UTC, microseconds kept"
    );
    assert_eq!(metric.3.as_deref(), Some(r#"{"a":"x\"y","b":2}"#));
    let exposures: Vec<StoredExposure> = reader
        .prepare("SELECT id, triggered, model_output, latency_ms, attributes FROM exposures ORDER BY id")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
                })?
                .collect()
        })
        .expect("exposures");
    assert_eq!(
        exposures,
        vec![
            ("x1".to_string(), Some(false), Some(0.25), Some(3.5), None),
            ("x2".to_string(), None, None, None, None),
        ]
    );
    let count: i64 = reader
        .query_row("SELECT count(*) FROM metric_events WHERE id = 'm1'", [], |row| {
            row.get(0)
        })
        .expect("count");
    assert_eq!(count, 1);
}

/// `rows` writes strings of up to 12 bytes into DuckDB's vectors inline and longer ones as
/// pointers into its own buffer: both must read back and compare equal, at and around the
/// boundary, with multi-byte characters, through a batch and through an import (whose
/// chunks cross threads and are inserted on two connections).
#[test]
fn strings_of_every_length_read_back_and_compare() {
    let dir = TempDir::new("strings");
    let store = seeded(&dir);
    let long = "x".repeat(100);
    let ids = [
        "a",
        "abcdefghijk",
        "abcdefghijkl",
        "abcdefghijklm",
        "ééééé",
        "éééééé",
        "ééééééé",
        "🎲🎲🎲",
        long.as_str(),
    ];
    let lines = |prefix: &str| -> Vec<String> {
        ids.iter()
            .map(|id| {
                format!(
                    r#"{{"type": "metric", "id": "{prefix}{id}", "unit": "u-{id}", "event": "bookings", "ts": "2026-11-26T13:00:00Z", "attributes": {{"note": "{id}"}}}}"#
                )
            })
            .collect()
    };
    assert_eq!(
        store.ingest(batch(&lines(""))).expect("ingest").accepted,
        ids.len() as u64
    );
    let path = dir.file("strings.ndjson");
    std::fs::write(&path, lines("file-").join("\n")).expect("write");
    assert_eq!(import(&store, &path).expect("import").accepted, ids.len() as u64);
    let reader = store.read_connection().expect("reader");
    for prefix in ["", "file-"] {
        for id in ids {
            let stored_id = format!("{prefix}{id}");
            let (unit, attributes, length): (String, String, i64) = reader
                .query_row(
                    "SELECT unit, attributes, strlen(id) FROM metric_events WHERE id = ?",
                    [&stored_id],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .expect(&stored_id);
            assert_eq!(unit, format!("u-{id}"));
            assert_eq!(attributes, format!(r#"{{"note":"{id}"}}"#));
            assert_eq!(length, stored_id.len() as i64);
        }
    }
    let prefixed: i64 = reader
        .query_row(
            "SELECT count(*) FROM metric_events WHERE id LIKE 'abcdefghijk%'",
            [],
            |row| row.get(0),
        )
        .expect("prefix");
    assert_eq!(prefixed, 3);
}

#[test]
fn concurrent_batches_store_each_id_once() {
    let dir = TempDir::new("concurrent");
    let store = std::sync::Arc::new(seeded(&dir));
    let threads: Vec<_> = (0..4)
        .map(|thread| {
            let store = std::sync::Arc::clone(&store);
            std::thread::spawn(move || {
                let mut accepted = 0;
                for round in 0..5 {
                    // Every thread sends ids 0..300 in a different order: most are duplicates.
                    let lines: Vec<String> = (0..300)
                        .map(|n| (n * 7 + thread * 13 + round * 31) % 300)
                        .map(|n| booking(&format!("c{n}"), "u1"))
                        .collect();
                    accepted += store
                        .ingest(batch(&lines))
                        .map(|outcome| outcome.accepted)
                        .unwrap_or(0);
                }
                accepted
            })
        })
        .collect();
    let accepted: u64 = threads.into_iter().map(|thread| thread.join().unwrap_or(0)).sum();
    assert_eq!(accepted, 300);
    assert_eq!(store.event_count().expect("count"), 300);
}

#[test]
fn a_bad_row_late_in_a_large_file_stores_nothing_of_its_batch() {
    let dir = TempDir::new("large");
    let store = seeded(&dir);
    let path = dir.file("large.parquet");
    let rows = rctgate_store::IMPORT_CHUNK_ROWS * 2 + 1000;
    let conn = duckdb::Connection::open_in_memory().expect("duckdb");
    conn.execute_batch(&format!(
        "COPY (SELECT 'metric' AS type, 'l' || i AS id, 'u' || (i % 97) AS unit,
                      CASE WHEN i = {bad} THEN 'not a time' ELSE '2026-11-26T12:00:00Z' END AS ts,
                      'bookings' AS event
               FROM range({rows}) t(i)) TO '{}' (FORMAT parquet)",
        path.display(),
        bad = rows - 10,
    ))
    .expect("write parquet");
    let StoreError::Import(err) = import(&store, &path).expect_err("bad ts") else {
        panic!("expected an import error");
    };
    assert_eq!(
        (err.row, err.field.as_deref()),
        (Some(rows as u64 - 9), Some("ts"))
    );
    // The fixed file is accepted whole: the ids read before the failure were forgotten.
    let fixed = dir.file("fixed.parquet");
    conn.execute_batch(&format!(
        "COPY (SELECT * REPLACE ('2026-11-26T12:00:00Z' AS ts) FROM '{}') TO '{}' (FORMAT parquet)",
        path.display(),
        fixed.display(),
    ))
    .expect("write the fixed parquet");
    assert_eq!(
        store.event_count().expect("count"),
        0,
        "earlier chunks of the same batch were rolled back"
    );
    let reader = store.read_connection().expect("reader");
    let stored: i64 = reader
        .query_row("SELECT count(*) FROM metric_events", [], |row| row.get(0))
        .expect("count");
    assert_eq!(stored, 0);
    let outcome = import(&store, &fixed).expect("import the fixed file");
    assert_eq!((outcome.accepted, outcome.duplicates), (rows as u64, 0));
    assert_eq!(store.event_count().expect("count"), rows);
}

#[test]
fn in_memory_stores_work_like_files() {
    let store = Store::open_in_memory().expect("open");
    assert_eq!(store.path(), None);
    store
        .upsert_metric(&metric("bookings"), LOCAL_ACTOR)
        .expect("metric");
    store
        .upsert_metric(&metric("cancellations"), LOCAL_ACTOR)
        .expect("metric");
    store
        .create_experiment(experiment("ranker"), LOCAL_ACTOR)
        .expect("experiment");
    let outcome = store
        .ingest(batch(&[exposure("e1", "u1", "control"), booking("e2", "u1")]))
        .expect("ingest");
    assert_eq!(outcome.accepted, 2);
    assert_eq!(
        store.events_summary("ranker").expect("summary").exposure_events,
        1
    );
}
