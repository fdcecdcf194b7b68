//! Every case of GrowthBook's assignment conformance file
//! (`tests/conformance/growthbook-assignment-cases.json` at the repository's root, taken from
//! the JavaScript SDK's `test/cases.json`; source and licence in the README beside it) run
//! against this crate.
//!
//! Floats are compared with a tolerance of 1e-6, as GrowthBook's own tests round to a few
//! decimals (`getEqualWeights` cases are given to 8 decimals, `getBucketRange` ones are
//! sums of products of decimals).

use std::path::PathBuf;

use rctgate_assign::{
    choose_variation, get_bucket_ranges, get_equal_weights, hash, in_namespace, BucketRange,
};
use serde_json::Value;

const TOLERANCE: f64 = 1e-6;

fn cases() -> Value {
    let path = PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join("../../tests/conformance/growthbook-assignment-cases.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn section<'a>(all: &'a Value, name: &str) -> &'a [Value] {
    all[name]
        .as_array()
        .unwrap_or_else(|| panic!("section {name:?} missing or not an array"))
}

fn num(v: &Value, what: &str) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("{what}: expected a number, got {v}"))
}

fn text<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, got {v}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOLERANCE
}

fn ranges(v: &Value, what: &str) -> Vec<BucketRange> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what}: expected ranges, got {v}"))
        .iter()
        .map(|r| BucketRange::new(num(&r[0], what), num(&r[1], what)))
        .collect()
}

/// `[seed, value, version, expected | null]`
fn check_hash(cases: &[Value]) -> usize {
    for c in cases {
        let what = format!("hash {c}");
        let seed = text(&c[0], &what);
        let unit = text(&c[1], &what);
        let version = c[2]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or_else(|| panic!("{what}: bad version"));
        let got = hash(seed, unit, version);
        match c[3].as_f64() {
            None => assert!(c[3].is_null() && got.is_none(), "{what}: got {got:?}"),
            Some(want) => {
                let got = got.unwrap_or_else(|| panic!("{what}: got None"));
                assert!(close(got, want), "{what}: got {got}");
            }
        }
    }
    cases.len()
}

/// `[name, [numVariations, coverage, weights | null], expected ranges]`
fn check_bucket_ranges(cases: &[Value]) -> usize {
    for c in cases {
        let what = format!("getBucketRange {c}");
        let args = &c[1];
        let n = args[0]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or_else(|| panic!("{what}: bad numVariations"));
        let coverage = num(&args[1], &what);
        let weights: Option<Vec<f64>> = args[2]
            .as_array()
            .map(|w| w.iter().map(|x| num(x, &what)).collect());
        let got = get_bucket_ranges(n, coverage, weights.as_deref());
        let want = ranges(&c[2], &what);
        assert_eq!(got.len(), want.len(), "{what}: got {got:?}");
        for (g, w) in got.iter().zip(&want) {
            assert!(
                close(g.start, w.start) && close(g.end, w.end),
                "{what}: got {got:?}"
            );
        }
    }
    cases.len()
}

/// `[name, n, ranges, expected index | -1]`
fn check_choose_variation(cases: &[Value]) -> usize {
    for c in cases {
        let what = format!("chooseVariation {c}");
        let n = num(&c[1], &what);
        let got = choose_variation(n, &ranges(&c[2], &what));
        let want = c[3].as_i64().unwrap_or_else(|| panic!("{what}: bad expected"));
        let want = usize::try_from(want).ok();
        assert_eq!(got, want, "{what}");
    }
    cases.len()
}

/// `[name, unit, [namespace, start, end], expected]`
fn check_in_namespace(cases: &[Value]) -> usize {
    for c in cases {
        let what = format!("inNamespace {c}");
        let unit = text(&c[1], &what);
        let ns = &c[2];
        let got = in_namespace(unit, text(&ns[0], &what), num(&ns[1], &what), num(&ns[2], &what));
        let want = c[3].as_bool().unwrap_or_else(|| panic!("{what}: bad expected"));
        assert_eq!(got, want, "{what}");
    }
    cases.len()
}

/// `[n, expected weights]`
fn check_equal_weights(cases: &[Value]) -> usize {
    for c in cases {
        let what = format!("getEqualWeights {c}");
        let n = c[0].as_i64().unwrap_or_else(|| panic!("{what}: bad n"));
        let got = get_equal_weights(n);
        let want: Vec<f64> = c[1]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: bad expected"))
            .iter()
            .map(|x| num(x, &what))
            .collect();
        assert_eq!(got.len(), want.len(), "{what}: got {got:?}");
        for (g, w) in got.iter().zip(&want) {
            assert!(close(*g, *w), "{what}: got {got:?}");
        }
    }
    cases.len()
}

#[test]
fn growthbook_conformance() {
    let all = cases();
    let counts = [
        ("hash", check_hash(section(&all, "hash"))),
        (
            "getBucketRange",
            check_bucket_ranges(section(&all, "getBucketRange")),
        ),
        (
            "chooseVariation",
            check_choose_variation(section(&all, "chooseVariation")),
        ),
        ("inNamespace", check_in_namespace(section(&all, "inNamespace"))),
        (
            "getEqualWeights",
            check_equal_weights(section(&all, "getEqualWeights")),
        ),
    ];
    for (name, n) in counts {
        eprintln!("conformance: {name}: {n} cases passed");
        assert!(n > 0, "section {name} yielded no cases");
    }
    let total: usize = counts.iter().map(|(_, n)| n).sum();
    eprintln!("conformance: {total} cases passed in all");
    assert!(total > 0, "the conformance file yielded no cases");
}
