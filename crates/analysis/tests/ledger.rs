//! The ledger's correlations against scipy (tests/reference/ledger.py writes the goldens).

use rctgate_analysis::ledger::{ledger, LedgerEntry};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn golden() -> Value {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    let path = PathBuf::from(dir).join("../../tests/reference/golden/ledger.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("golden JSON")
}

fn entry(i: usize, gain: f64, lift: f64) -> LedgerEntry {
    LedgerEntry {
        experiment: format!("trial-{i}"),
        model: "ranker".into(),
        control_version: Some(format!("v{i}")),
        treatment_version: format!("v{}", i + 1),
        offline_gain: BTreeMap::from([("auc".to_string(), gain)]),
        primary_metric: Some("bookings".into()),
        lift: Some(lift),
        ci_low: None,
        ci_high: None,
        verdict: "ship".into(),
    }
}

fn close(actual: Option<f64>, expected: &Value, what: &str) {
    let expected = expected.as_f64().expect("number");
    let actual = actual.unwrap_or_else(|| panic!("{what}: null"));
    assert!(
        (actual - expected).abs() <= 1e-9_f64.max(1e-9 * expected.abs()),
        "{what}: {actual} vs scipy {expected}"
    );
}

#[test]
fn correlations_match_scipy() {
    let golden = golden();
    let cases = golden["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 25);
    for (c, case) in cases.iter().enumerate() {
        let x: Vec<f64> = serde_json::from_value(case["x"].clone()).expect("x");
        let y: Vec<f64> = serde_json::from_value(case["y"].clone()).expect("y");
        let result = ledger(
            x.iter()
                .zip(&y)
                .enumerate()
                .map(|(i, (g, l))| entry(i, *g, *l))
                .collect(),
            Vec::new(),
        );
        let auc = &result.correlations[0];
        assert_eq!(auc.offline_metric, "auc");
        assert_eq!(auc.pearson.n, x.len());
        for (name, correlation) in [("pearson", &auc.pearson), ("spearman", &auc.spearman)] {
            let want = &case[name];
            close(correlation.r, &want[0], &format!("case {c} {name} r"));
            close(correlation.ci_low, &want[1], &format!("case {c} {name} ci_low"));
            close(correlation.ci_high, &want[2], &format!("case {c} {name} ci_high"));
        }
    }
}
