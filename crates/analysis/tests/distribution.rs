//! The response distribution analysis against `tests/reference/golden/distribution.json`
//! (written by `tests/reference/distribution.py` with numpy and scipy): KS distances and PSIs
//! of histograms, and the shape recognised on generated outputs of each shape.

use rctgate_analysis::distribution::{ks_distance, psi, shape, Histogram, Shape, UNIT_BINS};
use serde_json::Value;

fn golden() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/reference/golden/distribution.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("JSON")
}

fn counts(value: &Value) -> Vec<u64> {
    value
        .as_array()
        .expect("counts")
        .iter()
        .map(|c| c.as_u64().expect("a count"))
        .collect()
}

#[test]
fn ks_and_psi_equal_scipy_and_numpy() {
    let doc = golden();
    let cases = doc["shifts"].as_array().expect("shifts");
    assert!(cases.len() >= 30);
    for case in cases {
        let (a, b) = (counts(&case["a"]), counts(&case["b"]));
        let ks = ks_distance(&a, &b).expect("a distance");
        let expected = case["ks"].as_f64().expect("ks");
        assert!((ks - expected).abs() <= 1e-12, "KS {ks} vs {expected} for {case}");
        let found = psi(&a, &b).expect("a PSI");
        let expected = case["psi"].as_f64().expect("psi");
        assert!(
            (found - expected).abs() <= 1e-9 * expected.abs().max(1.0),
            "PSI {found} vs {expected} for {case}"
        );
    }
}

#[test]
fn each_generated_shape_is_recognised() {
    let doc = golden();
    for case in doc["shapes"].as_array().expect("shapes") {
        let histogram = Histogram {
            edges: Histogram::unit_edges(UNIT_BINS),
            counts: counts(&case["counts"]),
        };
        let found = shape(&histogram);
        let name = serde_json::to_value(&found).expect("JSON")["shape"].clone();
        assert_eq!(name, case["shape"], "{}: {found:?}", case["name"]);
        if let Shape::Bimodal { threshold } = found {
            assert!(
                (0.35..=0.65).contains(&threshold),
                "the valley lies between the modes: {threshold}"
            );
        }
        assert_eq!(
            found.is_suspect(),
            matches!(case["shape"].as_str(), Some("central_mode" | "spike" | "noisy"))
        );
    }
}
