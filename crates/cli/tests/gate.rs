//! The mandatory gate, driven the way a CI pipeline and an ML team would: register versions,
//! run trials, stop them, `rctgate gate check`, promote, get refused, roll back, override;
//! the ledger; the signed webhook.

mod common;

use common::*;
use serde_json::{json, Value};

struct Registry {
    server: Server,
    admin: String,
    read: String,
    db: std::path::PathBuf,
}

impl Registry {
    fn cli(&self, args: &[&str], key: &str) -> std::process::Output {
        let mut all = args.to_vec();
        all.extend(["--server", &self.server.url]);
        rctgate_env(&all, &[("RCTGATE_API_KEY", key)])
    }

    fn register(&self, version: &str, auc: f64) {
        let auc = format!("auc={auc}");
        let output = self.cli(
            &[
                "model",
                "register",
                "hotel-ranker",
                version,
                "--offline-metric",
                &auc,
                "--artifact",
                &format!("s3://models/hotel-ranker/{version}"),
            ],
            &self.admin,
        );
        assert!(output.status.success(), "{}", stderr(&output));
    }

    /// A trial of `treatment` against `control`, run on simulated events and stopped.
    fn trial(
        &self,
        key: &str,
        control: Option<&str>,
        treatment: &str,
        booking_lift: f64,
        click_lift: f64,
    ) -> Value {
        let experiment = version_trial(
            key,
            control,
            treatment,
            json!({"primary": "bookings", "proxies": ["clicks"]}),
        );
        run_trial(
            &self.server,
            [&self.admin, &self.admin, &self.read],
            &experiment,
            booking_lift,
            click_lift,
        )
    }

    fn gate_check(&self, version: &str) -> (Option<i32>, String) {
        let output = self.cli(
            &["gate", "check", "--model", "hotel-ranker", "--version", version],
            &self.read,
        );
        (output.status.code(), stdout(&output))
    }

    fn promote(&self, body: Value) -> (u16, Value) {
        self.server.call(
            "POST",
            "/v1/models/hotel-ranker/promote",
            Some(&self.admin),
            Some(&body.to_string()),
        )
    }
}

#[test]
fn no_promotion_without_a_passing_trial() {
    let db = temp_dir("gate").join("rctgate.duckdb");
    let admin = create_key(&db, "admin");
    let read = create_key(&db, "read");
    let (hook, deliveries) = receiver();
    let server = Server::start_with(&db, &["--webhook-url", &hook, "--webhook-secret", SECRET]);
    let registry = Registry {
        server,
        admin,
        read,
        db,
    };
    let a = Some(registry.admin.as_str());
    define_metrics(&registry.server, &registry.admin);

    // Experiments must name registered models and versions.
    let unregistered = json!({"key": "early", "hypothesis": "h", "model": "hotel-ranker",
        "variants": [{"name": "control", "weight": 0.5}, {"name": "treatment", "weight": 0.5, "model_version": "v1"}],
        "metrics": {"primary": "bookings"}});
    let (status, body) = registry
        .server
        .call("POST", "/v1/experiments", a, Some(&unregistered.to_string()));
    assert_eq!((status, body["field"].as_str()), (400, Some("model")), "{body}");
    registry.register("v1", 0.80);
    let mut unknown = unregistered.clone();
    unknown["variants"][1]["model_version"] = json!("v99");
    let (status, body) = registry
        .server
        .call("POST", "/v1/experiments", a, Some(&unknown.to_string()));
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("variants[1].model_version")),
        "{body}"
    );

    // The first version, trialled against the behaviour before the model.
    let (code, out) = registry.gate_check("v1");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("No stopped trial"), "{out}");
    let launch = registry.trial("launch", None, "v1", 1.6, 1.2);
    assert_eq!(launch["decision"]["verdict"], "ship", "{}", launch["decision"]);
    let verdict = delivery(&deliveries, "verdict");
    assert_eq!(verdict["data"]["experiment"], "launch");
    assert_eq!(verdict["data"]["decision"]["verdict"], "ship");
    let (code, out) = registry.gate_check("v1");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("allowed") && out.contains("launch"), "{out}");
    let (status, promoted) = registry.promote(json!({"version": "v1"}));
    assert_eq!(status, 200, "{promoted}");
    assert_eq!(promoted["evidence"]["basis"], "trial");
    assert_eq!(promoted["evidence"]["verdict"], "ship");
    assert!(promoted["evidence"]["primary"]["effect"].as_f64().expect("lift") > 0.0);
    let promotion = delivery(&deliveries, "promotion");
    assert_eq!(promotion["data"]["promotion"]["version"], "v1");

    // v7: +3% offline AUC, clicks up, bookings flat: no_ship, and the gate says why.
    registry.register("v7", 0.824);
    let v7 = registry.trial("v7-trial", Some("v1"), "v7", 1.0, 1.4);
    assert_eq!(v7["decision"]["verdict"], "no_ship", "{}", v7["decision"]);
    let (code, out) = registry.gate_check("v7");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("Trial v7-trial decided no_ship"), "{out}");
    let (status, refused) = registry.promote(json!({"version": "v7"}));
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["reasons"][0]
            .as_str()
            .expect("reason")
            .contains("v7-trial decided no_ship"),
        "{refused}"
    );
    let (status, refused) = registry.promote(json!({"version": "v7", "experiment": "launch"}));
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["reasons"][0]
            .as_str()
            .expect("reason")
            .contains("does not compare v7"),
        "{refused}"
    );
    let output = registry.cli(&["model", "promote", "hotel-ranker", "v7"], &registry.admin);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("v7-trial decided no_ship"),
        "{}",
        stderr(&output)
    );
    let (status, _) = registry.server.call(
        "POST",
        "/v1/models/hotel-ranker/promote",
        Some(&registry.read),
        Some(r#"{"version": "v7"}"#),
    );
    assert_eq!(status, 403, "promotion needs admin");

    // v8 wins and is promoted through the CLI; then a rollback to v1, which once passed.
    registry.register("v8", 0.81);
    let v8 = registry.trial("v8-trial", Some("v1"), "v8", 1.6, 1.1);
    assert_eq!(v8["decision"]["verdict"], "ship", "{}", v8["decision"]);
    let output = registry.cli(&["model", "promote", "hotel-ranker", "v8"], &registry.admin);
    assert!(output.status.success(), "{}", stderr(&output));
    let (status, rollback) = registry.promote(json!({"version": "v1"}));
    assert_eq!(status, 200, "{rollback}");
    assert_eq!(rollback["evidence"]["basis"], "rollback");
    assert_eq!(rollback["previous"], "v8");

    // An override needs a reason and stays flagged.
    registry.register("v9", 0.9);
    let (status, refused) = registry.promote(json!({"version": "v9", "override_reason": " "}));
    assert_eq!(
        (status, refused["field"].as_str()),
        (400, Some("override_reason")),
        "{refused}"
    );
    let (status, forced) =
        registry.promote(json!({"version": "v9", "override_reason": "Hotfix for a legal issue."}));
    assert_eq!(status, 200, "{forced}");
    assert_eq!(forced["flag"], "promoted without RCT evidence");
    let (_, model) = registry
        .server
        .call("GET", "/v1/models/hotel-ranker", Some(&registry.read), None);
    assert_eq!(model["production"], "v9");
    assert_eq!(model["production_flag"], "promoted without RCT evidence");
    assert_eq!(model["versions"].as_array().map(Vec::len), Some(4));
    let (_, audit) = registry.server.call("GET", "/v1/audit?limit=1000", a, None);
    let flagged = audit
        .as_array()
        .expect("audit")
        .iter()
        .filter(|e| e["action"] == "model.promote" && e["after"]["flag"] == "promoted without RCT evidence")
        .count();
    assert_eq!(flagged, 1);

    // Two promotions at once serialize: each sees the other's pointer.
    let handles: Vec<_> = ["v1", "v8"]
        .into_iter()
        .map(|version| {
            let url = registry.server.url.clone();
            let key = registry.admin.clone();
            std::thread::spawn(move || {
                http(
                    "POST",
                    &format!("{url}/v1/models/hotel-ranker/promote"),
                    Some(&key),
                    Some(&json!({"version": version, "override_reason": "Race test."}).to_string()),
                )
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().expect("thread").0, 200);
    }
    let (_, model) = registry
        .server
        .call("GET", "/v1/models/hotel-ranker", Some(&registry.read), None);
    let promotions = model["promotions"].as_array().expect("promotions");
    for pair in promotions.windows(2) {
        assert_eq!(
            pair[1]["previous"], pair[0]["version"],
            "no lost update: {pair:?}"
        );
    }
    assert_eq!(model["production"], promotions.last().expect("last")["version"]);

    // The ledger: offline gain beside business lift.
    let (status, ledger) = registry
        .server
        .call("GET", "/v1/ledger", Some(&registry.read), None);
    assert_eq!(status, 200, "{ledger}");
    let entries = ledger["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 3);
    let v7_entry = entries
        .iter()
        .find(|e| e["experiment"] == "v7-trial")
        .expect("v7 in the ledger");
    assert!((v7_entry["offline_gain"]["auc"].as_f64().expect("gain") - 0.03).abs() < 1e-9);
    assert!(
        entries[0]["offline_gain"].as_object().expect("gains").is_empty(),
        "a first version has no baseline"
    );
    assert_eq!(ledger["correlations"][0]["pearson"]["n"], 2);
    let output = registry.cli(&["ledger"], &registry.read);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("v7-trial") && stdout(&output).contains("pearson"),
        "{}",
        stdout(&output)
    );

    // Offline, on the file: the same answers.
    assert!(registry.server.terminate());
    let output = rctgate(&[
        "gate",
        "check",
        "--model",
        "hotel-ranker",
        "--version",
        "v7",
        "--db",
        path(&registry.db),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let output = rctgate(&[
        "gate",
        "check",
        "--model",
        "nope",
        "--version",
        "v7",
        "--db",
        path(&registry.db),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("nope"), "{}", stderr(&output));
}
