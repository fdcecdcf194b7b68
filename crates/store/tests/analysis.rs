//! The scorecard against an independent computation.
//!
//! `rctgate-simulate` generates a trial with known effects and every awkward case at once:
//! events on the window's edges and after it, a CUPED pre-period, ratio and count metrics,
//! per-metric windows, repeated exposures, untriggered units, units in two variants,
//! exposures after the analysis end. The events go through the store's real ingestion; the
//! scorecard comes from the generated SQL. The reference below recomputes every unit's value
//! in plain Rust from the generated events, sums per variant, and runs the stats crate; the
//! two must agree at 1e-6.

use chrono::{DateTime, Duration, Utc};
use rctgate_domain::{from_json_value, parse_event_batch, Experiment, Metric, MetricKind, MetricSource};
use rctgate_simulate::showcase::sim_metric;
use rctgate_simulate::{Scenario, SimAttribute, SimEvent};
use rctgate_stats::request::{Kind, Method, MetricSpec, StatsRequest, VariantInput};
use rctgate_store::{AnalyzeOptions, KeepRows, KeptUnits, RowsKept, Store, LOCAL_ACTOR};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const TOLERANCE: f64 = 1e-6;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("time")
        .with_timezone(&Utc)
}

fn scenario() -> Scenario {
    rctgate_simulate::showcase::scenario()
}

fn metrics() -> Vec<Metric> {
    rctgate_simulate::showcase::metrics()
        .into_iter()
        .map(|value| from_json_value(value).expect("metric"))
        .collect()
}

fn experiment(triggered_only: bool) -> Experiment {
    from_json_value(rctgate_simulate::showcase::experiment(triggered_only)).expect("experiment")
}

/// A store holding the scenario's events and the draft experiment.
fn loaded(events: &[SimEvent]) -> Store {
    let store = Store::open_in_memory().expect("store");
    for metric in metrics() {
        store.upsert_metric(&metric, LOCAL_ACTOR).expect("metric");
    }
    store
        .create_experiment(experiment(false), LOCAL_ACTOR)
        .expect("experiment");
    for chunk in events.chunks(20_000) {
        let body: String = chunk
            .iter()
            .map(|e| e.to_json("trial").to_string() + "\n")
            .collect();
        let batch = parse_event_batch(body.as_bytes(), 50_000).expect("valid events");
        store.ingest(batch).expect("ingest");
    }
    store
}

/// What the reference knows of one unit.
#[derive(Default)]
struct UnitView {
    variants: BTreeSet<String>,
    t0: Option<DateTime<Utc>>,
    /// The attribute value of the first counted exposure (the scenario has one attribute).
    segment: Option<String>,
    events: Vec<(String, DateTime<Utc>, f64)>,
    /// The latencies of its exposures inside the window.
    latencies: Vec<(DateTime<Utc>, f64)>,
}

/// Every unit's exposures inside the window and all its metric events.
fn units(events: &[SimEvent], triggered_only: bool) -> BTreeMap<String, UnitView> {
    let (start, end) = (at("2026-10-01T00:00:00Z"), at("2026-10-11T00:00:00Z"));
    let mut units: BTreeMap<String, UnitView> = BTreeMap::new();
    for event in events {
        match event {
            SimEvent::Exposure {
                unit,
                variant,
                ts,
                triggered,
                attributes,
                latency_ms,
                ..
            } => {
                if *ts < start || *ts >= end {
                    continue;
                }
                let view = units.entry(unit.clone()).or_default();
                view.variants.insert(variant.clone());
                view.latencies.extend(latency_ms.map(|latency| (*ts, latency)));
                if (*triggered == Some(true) || !triggered_only) && view.t0.is_none_or(|t0| *ts < t0) {
                    view.t0 = Some(*ts);
                    view.segment = attributes.first().map(|(_, v)| v.clone());
                }
            }
            SimEvent::Metric {
                unit,
                event,
                ts,
                value,
                ..
            } => {
                units
                    .entry(unit.clone())
                    .or_default()
                    .events
                    .push((event.clone(), *ts, value.unwrap_or(1.0)))
            }
        }
    }
    units.retain(|_, view| view.t0.is_some());
    units
}

/// One unit's value of `metric` over `[from, to)` relative to t0.
fn value(view: &UnitView, event: &str, kind: MetricKind, from: Duration, to: Duration) -> f64 {
    let t0 = view.t0.expect("included units have t0");
    let inside: Vec<f64> = view
        .events
        .iter()
        .filter(|(name, ts, _)| name == event && *ts >= t0 + from && *ts < t0 + to)
        .map(|(_, _, value)| *value)
        .collect();
    match kind {
        MetricKind::Proportion => f64::from(u8::from(!inside.is_empty())),
        MetricKind::Count => inside.len() as f64,
        MetricKind::Mean | MetricKind::Ratio | MetricKind::Quantile => inside.iter().sum(),
    }
}

/// A unit's values of a quantile or latency metric inside its window: event values, or the
/// latencies of its exposures.
fn values_of(view: &UnitView, metric: &Metric) -> Vec<f64> {
    let t0 = view.t0.expect("included units have t0");
    let end = t0 + Duration::microseconds((metric.window_hours * 3.6e9).round() as i64);
    match metric.source {
        MetricSource::ExposureLatency => view
            .latencies
            .iter()
            .filter(|(ts, _)| *ts >= t0 && *ts < end)
            .map(|(_, latency)| *latency)
            .collect(),
        MetricSource::Events => view
            .events
            .iter()
            .filter(|(name, ts, _)| *name == metric.event && *ts >= t0 && *ts < end)
            .map(|(_, _, value)| *value)
            .collect(),
    }
}

/// One arm of a quantile metric, computed from the values of its units (one `Vec` per unit):
/// the quantile at rank ceil(n·ν), its bounds at ranks ceil(n·ν ∓ 1.96·√(n·ν(1-ν))), and the
/// per-unit counts of values at or below it.
fn quantile_input(name: &str, per_unit: &[Vec<f64>], level: f64) -> VariantInput {
    let mut sorted: Vec<f64> = per_unit.iter().flatten().copied().collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let spread = 1.959963984540054 * (n as f64 * level * (1.0 - level)).sqrt();
    let at = |position: f64| sorted[(position.ceil().clamp(1.0, n as f64) as usize) - 1];
    let hat = at(n as f64 * level);
    let mut input = VariantInput {
        name: name.to_string(),
        n: n as u64,
        n_star: Some(n as u64),
        quantile_hat: Some(hat),
        quantile_lower: Some(at(n as f64 * level - spread)),
        quantile_upper: Some(at(n as f64 * level + spread)),
        main_sum: Some(0.0),
        main_sum_squares: Some(0.0),
        denominator_sum: Some(0.0),
        denominator_sum_squares: Some(0.0),
        main_denominator_sum_product: Some(0.0),
        n_clusters: Some(0),
        ..VariantInput::default()
    };
    for values in per_unit.iter().filter(|values| !values.is_empty()) {
        let below = values.iter().filter(|v| **v <= hat).count() as f64;
        let count = values.len() as f64;
        *input.main_sum.get_or_insert(0.0) += below;
        *input.main_sum_squares.get_or_insert(0.0) += below * below;
        *input.denominator_sum.get_or_insert(0.0) += count;
        *input.denominator_sum_squares.get_or_insert(0.0) += count * count;
        *input.main_denominator_sum_product.get_or_insert(0.0) += below * count;
        *input.n_clusters.get_or_insert(0) += 1;
    }
    input
}

/// The reference sums of `metric` per variant, over units passing `keep`.
fn reference_request(
    units: &BTreeMap<String, UnitView>,
    metric: &Metric,
    keep: impl Fn(&UnitView) -> bool,
) -> StatsRequest {
    let window = Duration::microseconds((metric.window_hours * 3.6e9).round() as i64);
    let zero = Duration::zero();
    let counted = |name: &str| {
        units
            .values()
            .filter(|v| v.variants.len() == 1 && v.variants.contains(name) && keep(v))
            .collect::<Vec<_>>()
    };
    let latency_mean = metric.source == MetricSource::ExposureLatency && metric.kind == MetricKind::Mean;
    let variants = ["control", "fast", "slow"].map(|name| {
        if metric.kind == MetricKind::Quantile {
            let per_unit: Vec<Vec<f64>> = counted(name).iter().map(|view| values_of(view, metric)).collect();
            return quantile_input(name, &per_unit, metric.quantile.expect("a level"));
        }
        let mut input = VariantInput {
            name: name.to_string(),
            n: 0,
            sum: Some(0.0),
            sum_squares: Some(0.0),
            ..VariantInput::default()
        };
        for view in counted(name) {
            if latency_mean {
                // The mean per request: Σ latency over the count of requests, per unit.
                let latencies = values_of(view, metric);
                let (y, d) = (latencies.iter().sum::<f64>(), latencies.len() as f64);
                input.n += 1;
                *input.sum.get_or_insert(0.0) += y;
                *input.sum_squares.get_or_insert(0.0) += y * y;
                *input.den_sum.get_or_insert(0.0) += d;
                *input.den_sum_squares.get_or_insert(0.0) += d * d;
                *input.num_den_sum_product.get_or_insert(0.0) += y * d;
                continue;
            }
            let y = value(view, &metric.event, metric.kind, zero, window);
            input.n += 1;
            *input.sum.get_or_insert(0.0) += y;
            *input.sum_squares.get_or_insert(0.0) += y * y;
            if let Some(denominator) = &metric.denominator_event {
                let d = value(view, denominator, MetricKind::Mean, zero, window);
                *input.den_sum.get_or_insert(0.0) += d;
                *input.den_sum_squares.get_or_insert(0.0) += d * d;
                *input.num_den_sum_product.get_or_insert(0.0) += y * d;
            }
            if let Some(days) = metric.cuped_days {
                let x = value(
                    view,
                    &metric.event,
                    metric.kind,
                    -Duration::days(i64::from(days)),
                    zero,
                );
                *input.pre_sum.get_or_insert(0.0) += x;
                *input.pre_sum_squares.get_or_insert(0.0) += x * x;
                *input.post_pre_sum_product.get_or_insert(0.0) += y * x;
            }
        }
        input
    });
    StatsRequest {
        metric: MetricSpec {
            kind: match metric.kind {
                MetricKind::Proportion => Kind::Proportion,
                MetricKind::Mean if latency_mean => Kind::Ratio,
                MetricKind::Mean | MetricKind::Count => Kind::Mean,
                MetricKind::Ratio => Kind::Ratio,
                MetricKind::Quantile => Kind::Quantile,
            },
            quantile: metric.quantile,
            cuped: metric.cuped_days.is_some(),
            direction: Default::default(),
        },
        method: Method::Frequentist,
        difference: Default::default(),
        alternative: Default::default(),
        alpha: 0.05,
        sequential_tuning: 5000.0,
        expected_weights: Some(vec![0.4, 0.3, 0.3]),
        variants: variants.to_vec(),
    }
}

fn close(actual: &Value, expected: Option<f64>, what: &str) {
    match (actual.as_f64(), expected) {
        (None, None) => {}
        (Some(a), Some(e)) => assert!(
            (a - e).abs() <= TOLERANCE * e.abs().max(1e-6),
            "{what}: scorecard {a} vs reference {e}"
        ),
        (a, e) => panic!("{what}: scorecard {a:?} vs reference {e:?}"),
    }
}

/// Compares a scorecard's metric rows with the reference, metric by metric. In a segment
/// (`whole` false) quantile metrics say they are not computed.
fn assert_matches(
    card_metrics: &Value,
    units: &BTreeMap<String, UnitView>,
    keep: impl Fn(&UnitView) -> bool + Copy,
    whole: bool,
) {
    for metric in metrics() {
        let row = card_metrics
            .as_array()
            .and_then(|all| all.iter().find(|m| m["name"] == metric.name.as_str()))
            .unwrap_or_else(|| panic!("{} in the scorecard", metric.name));
        if !whole && metric.kind == MetricKind::Quantile {
            assert!(
                row["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("not per segment")),
                "{row}"
            );
            continue;
        }
        let reference = reference_request(units, &metric, keep)
            .analyse()
            .expect("reference analyses");
        for (i, expected) in reference.variants.iter().enumerate() {
            let actual = &row["variants"][i];
            let what = |field: &str| format!("{} {} {field}", metric.name, expected.name);
            assert_eq!(actual["name"], expected.name.as_str());
            assert_eq!(actual["n"].as_u64(), Some(expected.n), "{}", what("n"));
            close(&actual["mean"], Some(expected.mean), &what("mean"));
            close(&actual["variance"], Some(expected.variance), &what("variance"));
            if let Some(c) = &expected.comparison {
                close(&actual["effect"], c.effect, &what("effect"));
                close(&actual["ci_low"], c.ci_low, &what("ci_low"));
                close(&actual["ci_high"], c.ci_high, &what("ci_high"));
                close(&actual["p_value"], c.p_value, &what("p_value"));
            }
        }
    }
}

#[test]
fn the_scorecard_equals_an_independent_computation() {
    let scenario = scenario();
    let events: Vec<SimEvent> = rctgate_simulate::events(&scenario).collect();
    let store = loaded(&events);

    for triggered_only in [false, true] {
        if triggered_only {
            store
                .replace_experiment("trial", experiment(true), LOCAL_ACTOR)
                .expect("draft accepts new analysis settings");
        }
        let card = serde_json::to_value(store.analyze("trial", &Default::default()).expect("analyze"))
            .expect("json");
        let units = units(&events, triggered_only);
        let excluded = units.values().filter(|v| v.variants.len() > 1).count() as u64;
        assert!(excluded > 0, "the scenario has units in two variants");
        assert_eq!(card["excluded_units"].as_u64(), Some(excluded));
        assert_matches(&card["metrics"], &units, |_| true, true);

        // Each arm's latency over every exposure of the window that carries one.
        let latency = card["latency"].as_array().expect("a latency section");
        assert_eq!(latency.len(), 3);
        let (start, end) = (at("2026-10-01T00:00:00Z"), at("2026-10-11T00:00:00Z"));
        for (row, name) in latency.iter().zip(["control", "fast", "slow"]) {
            assert_eq!(row["variant"], name);
            let mut all: Vec<f64> = events
                .iter()
                .filter_map(|e| match e {
                    SimEvent::Exposure {
                        variant,
                        ts,
                        latency_ms,
                        ..
                    } if variant == name && *ts >= start && *ts < end => *latency_ms,
                    _ => None,
                })
                .collect();
            all.sort_by(f64::total_cmp);
            assert_eq!(row["requests"].as_u64(), Some(all.len() as u64));
            close(
                &row["mean"],
                Some(all.iter().sum::<f64>() / all.len() as f64),
                "mean latency",
            );
            // Linear interpolation between closest ranks, as numpy's default.
            let interpolated = |q: f64| {
                let position = q * (all.len() - 1) as f64;
                let (low, high) = (position.floor() as usize, position.ceil() as usize);
                all[low] + (all[high] - all[low]) * (position - low as f64)
            };
            close(&row["p50"], Some(interpolated(0.5)), "p50");
            close(&row["p95"], Some(interpolated(0.95)), "p95");
            close(&row["p99"], Some(interpolated(0.99)), "p99");
        }
        let p95 = |i: usize| latency[i]["p95"].as_f64().expect("p95");
        assert!(p95(2) > p95(0) * 1.2, "the slow arm is slower: {latency:?}");

        // Units per variant and SRM against the weights.
        let counts: Vec<f64> = ["control", "fast", "slow"]
            .iter()
            .map(|name| {
                units
                    .values()
                    .filter(|v| v.variants.len() == 1 && v.variants.contains(*name))
                    .count() as f64
            })
            .collect();
        for (name, n) in ["control", "fast", "slow"].iter().zip(&counts) {
            assert_eq!(card["units"][name].as_f64(), Some(*n));
        }
        close(
            &card["srm"]["p_value"],
            Some(rctgate_stats::srm::srm_p_value(&counts, &[0.4, 0.3, 0.3])),
            "srm",
        );

        // Holm over the primary and secondary metrics and both treatments.
        let family: Vec<f64> = card["metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .filter(|m| m["role"] == "primary" || m["role"] == "secondary")
            .flat_map(|m| {
                m["variants"].as_array().expect("rows")[1..]
                    .iter()
                    .map(|row| row["p_value"].as_f64().expect("p"))
            })
            .collect();
        assert_eq!(family.len(), 8);
        let adjusted = rctgate_stats::adjust::holm(&family);
        let reported: Vec<f64> = card["metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .filter(|m| m["role"] == "primary" || m["role"] == "secondary")
            .flat_map(|m| {
                m["variants"].as_array().expect("rows")[1..]
                    .iter()
                    .map(|row| row["p_value_adjusted"].as_f64().expect("adjusted"))
            })
            .collect();
        assert_eq!(reported, adjusted);

        // The cumulative series ends where the scorecard is (every event is in the past).
        let last = card["cumulative"]
            .as_array()
            .and_then(|points| points.last())
            .expect("series")
            .clone();
        let primary_fast = &card["metrics"][0]["variants"][1];
        close(
            &last["effects"][0]["effect"],
            primary_fast["effect"].as_f64(),
            "cumulative effect",
        );
        close(
            &last["effects"][0]["ci_low"],
            primary_fast["ci_low"].as_f64(),
            "cumulative ci_low",
        );
        assert_eq!(
            last["units"].as_u64(),
            Some(counts.iter().sum::<f64>() as u64),
            "the series' last point counts every unit"
        );
    }

    // Segments: the mobile segment equals the reference over mobile units only.
    let card = serde_json::to_value(
        store
            .analyze(
                "trial",
                &AnalyzeOptions {
                    segment: Some("device"),
                    series: false,
                    ..AnalyzeOptions::default()
                },
            )
            .expect("segments"),
    )
    .expect("json");
    let units = units(&events, true);
    let segments = card["segments"]["values"].as_array().expect("segment values");
    let labels: Vec<&str> = segments.iter().filter_map(|s| s["value"].as_str()).collect();
    assert_eq!(labels, ["mobile", "desktop", "tablet"]);
    assert_matches(
        &segments[0]["metrics"],
        &units,
        |v| v.segment.as_deref() == Some("mobile"),
        false,
    );
    assert_matches(
        &segments[2]["metrics"],
        &units,
        |v| v.segment.as_deref() == Some("tablet"),
        false,
    );
}

#[test]
fn segments_show_the_top_20_values_and_pool_the_rest() {
    let mut scenario = Scenario::two_arms(
        "trial",
        3000,
        at("2026-10-01T00:00:00Z"),
        vec![sim_metric("booking", 0.4, [1.0, 1.1, 1.0], 168.0, 0)],
    );
    scenario.variants = vec![
        ("control".into(), 0.4),
        ("fast".into(), 0.3),
        ("slow".into(), 0.3),
    ];
    scenario.attribute = Some(SimAttribute {
        name: "country".into(),
        values: (0..25).map(|i| (format!("c{i:02}"), f64::from(25 - i))).collect(),
    });
    let events: Vec<SimEvent> = rctgate_simulate::events(&scenario).collect();
    let store = loaded(&events);
    let card = serde_json::to_value(
        store
            .analyze(
                "trial",
                &AnalyzeOptions {
                    segment: Some("country"),
                    series: false,
                    ..AnalyzeOptions::default()
                },
            )
            .expect("segments"),
    )
    .expect("json");

    // Units per country from the generated exposures inside the window.
    let mut per_value: BTreeMap<String, u64> = BTreeMap::new();
    for view in units(&events, false).values() {
        *per_value
            .entry(view.segment.clone().unwrap_or_default())
            .or_default() += 1;
    }
    let mut ranked: Vec<(String, u64)> = per_value.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top: Vec<&str> = ranked[..20].iter().map(|(v, _)| v.as_str()).collect();
    let pooled: u64 = ranked[20..].iter().map(|(_, n)| n).sum();

    let values = card["segments"]["values"].as_array().expect("values");
    assert_eq!(values.len(), 21, "20 named values and (other)");
    let labels: Vec<&str> = values[..20].iter().filter_map(|v| v["value"].as_str()).collect();
    assert_eq!(labels, top);
    assert_eq!(values[20]["value"], "(other)");
    let total = |segment: &Value| -> u64 {
        segment["units"]
            .as_object()
            .expect("units")
            .values()
            .filter_map(Value::as_u64)
            .sum()
    };
    assert_eq!(total(&values[20]), pooled);
    for (segment, (_, n)) in values[..20].iter().zip(&ranked) {
        assert_eq!(total(segment), *n, "{}", segment["value"]);
    }
    // Holm runs across every segment's primary comparisons.
    let adjusted = values
        .iter()
        .flat_map(|s| s["metrics"][0]["variants"].as_array().expect("rows")[1..].to_vec())
        .filter(|row| row["p_value_adjusted"].is_number())
        .count();
    assert_eq!(adjusted, 42);
}

/// Every number of two scorecards, equal at 1e-9 relative; the times they were computed at
/// may differ.
fn assert_same_numbers(kept: &Value, full: &Value, path: &str) {
    match (kept, full) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().expect("number"), b.as_f64().expect("number"));
            assert!(
                (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-6),
                "{path}: {a} from the kept rows, {b} recomputed"
            );
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: lengths");
            for (i, (a, b)) in a.iter().zip(b).enumerate() {
                assert_same_numbers(a, b, &format!("{path}[{i}]"));
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            let keys = |o: &serde_json::Map<String, Value>| o.keys().cloned().collect::<BTreeSet<_>>();
            assert_eq!(keys(a), keys(b), "{path}: fields");
            for (key, value) in a {
                if key != "as_of" {
                    assert_same_numbers(value, &b[key], &format!("{path}.{key}"));
                }
            }
        }
        _ => assert_eq!(kept, full, "{path}"),
    }
}

/// The server keeps each running trial's unit rows and refreshes only the units that new
/// events touch (`trials::unit_state`). Events arrive here in a shuffled order, so that later
/// batches bring units' earlier exposures (a new t0), their second variant, and metric events
/// of units already kept; the analysis end then moves back and forth over exposures. After
/// every step, the scorecard from the kept rows (written back, and read without writing)
/// equals a recomputation from every event.
#[test]
fn kept_unit_rows_give_the_scorecard_of_a_full_recomputation() {
    let mut scenario = scenario();
    scenario.units = 1500;
    let mut events: Vec<SimEvent> = rctgate_simulate::events(&scenario).collect();
    // A fixed shuffle: sorted by a multiplicative hash of the position.
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|i| (*i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20);
    let shuffled: Vec<SimEvent> = order.iter().map(|i| events[*i].clone()).collect();
    events = shuffled;
    let store = loaded(&[]);
    let compare = |step: &str| {
        let options = |kept| AnalyzeOptions {
            kept,
            ..AnalyzeOptions::default()
        };
        let analyse = |kept| {
            serde_json::to_value(store.analyze("trial", &options(kept)).expect("analyze")).expect("json")
        };
        // Read first: it refreshes in memory what the write-back then writes.
        let read = analyse(KeptUnits::Read);
        let kept = analyse(KeptUnits::Keep);
        let full = analyse(KeptUnits::Ignore);
        assert_same_numbers(&kept, &full, step);
        assert_same_numbers(&read, &full, step);
        // Segmented scorecards group the kept rows by the segment.
        let segmented = |kept| {
            let options = AnalyzeOptions {
                segment: Some("device"),
                kept,
                ..AnalyzeOptions::default()
            };
            serde_json::to_value(store.analyze("trial", &options).expect("analyze")).expect("json")
        };
        assert_same_numbers(&segmented(KeptUnits::Keep), &segmented(KeptUnits::Ignore), step);
        full
    };
    let mut last = Value::Null;
    for (i, chunk) in events.chunks(events.len() / 4 + 1).enumerate() {
        let body: String = chunk
            .iter()
            .map(|e| e.to_json("trial").to_string() + "\n")
            .collect();
        store
            .ingest(parse_event_batch(body.as_bytes(), 50_000).expect("valid events"))
            .expect("ingest");
        // Computed after the first batch (kept rows are left alone when only missing ones
        // are asked for), refreshed off the analyses after the third; the analyses refresh
        // (and write back) the others.
        assert_eq!(
            store.keep_unit_rows("trial", KeepRows::Missing).expect("keep"),
            if i == 0 {
                RowsKept::Computed
            } else {
                RowsKept::LeftAsKept
            },
            "batch {i}"
        );
        if i == 2 {
            assert_eq!(
                store
                    .keep_unit_rows("trial", KeepRows::MissingOrStale)
                    .expect("keep"),
                RowsKept::Refreshed
            );
        }
        last = compare(&format!("after batch {i}"));
    }
    assert!(
        last["excluded_units"].as_u64() > Some(0),
        "units in two variants: {last}"
    );
    // A draft replaced, then its rows kept as the server's timer keeps them.
    let replace_and_keep = |changed| {
        store
            .replace_experiment("trial", changed, LOCAL_ACTOR)
            .expect("draft accepts");
        store
            .keep_unit_rows("trial", KeepRows::MissingOrStale)
            .expect("keep")
    };
    // The analysis end moves back over exposures, then forward again; then the plan changes.
    for (end, triggered_only) in [
        ("2026-10-06T00:00:00Z", false),
        ("2026-10-11T00:00:00Z", false),
        ("2026-10-11T00:00:00Z", true),
    ] {
        let mut changed = experiment(triggered_only);
        changed.analysis.end = Some(at(end));
        // A changed plan keeps new rows (a moved end is the same plan).
        assert_eq!(
            replace_and_keep(changed),
            if triggered_only {
                RowsKept::Computed
            } else {
                RowsKept::Refreshed
            }
        );
        compare(&format!("end {end}, triggered_only {triggered_only}"));
    }
    // A draft without a window start has no first exposure to count from: it keeps no rows.
    let mut unbounded = experiment(false);
    unbounded.analysis.start = None;
    assert_eq!(replace_and_keep(unbounded), RowsKept::NotKept);
}
