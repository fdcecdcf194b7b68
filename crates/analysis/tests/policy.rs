//! The decision policy on hand-made sums: every verdict and diagnostic of SPEC §9.

use chrono::{DateTime, Duration, Utc};
use rctgate_analysis::{
    build, ArmSums, ExposureWindow, Inputs, MetricSums, Plan, Scorecard, SegmentKey, Verdict,
};
use rctgate_domain::{from_json_value, Experiment, Metric};
use serde_json::{json, Value};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

fn catalog(name: &str) -> Option<Metric> {
    let (event, direction) = match name {
        "bookings" => ("booking", "increase"),
        "cancellations" => ("cancel", "decrease"),
        "clicks" => ("click", "increase"),
        _ => return None,
    };
    from_json_value(json!({"name": name, "kind": "proportion", "event": event, "direction": direction})).ok()
}

fn experiment(analysis: Value) -> Experiment {
    let mut experiment: Experiment = from_json_value(json!({
        "key": "ranker-v7", "hypothesis": "v7 ranks better.",
        "variants": [{"name": "control", "weight": 0.5}, {"name": "treatment", "weight": 0.5}],
        "metrics": {"primary": "bookings", "guardrails": ["cancellations"], "proxies": ["clicks"]},
        "analysis": analysis
    }))
    .expect("experiment");
    experiment.started_at = Some(now() - Duration::days(14));
    experiment
}

/// Proportion sums: `conversions` of `n`.
fn converted(conversions: u64) -> MetricSums {
    let c = Some(conversions as f64);
    [c, c, None, None, None, None, None, None]
}

/// Two arms of `n` units with (bookings, cancellations, clicks) conversions each.
fn rows(n: [u64; 2], control: [u64; 3], treatment: [u64; 3]) -> Vec<ArmSums> {
    [("control", n[0], control), ("treatment", n[1], treatment)]
        .into_iter()
        .map(|(variant, n, counts)| ArmSums {
            variant: Some(variant.to_string()),
            segment: SegmentKey::All,
            n,
            metrics: counts.iter().map(|c| converted(*c)).collect(),
            bucket: 0,
        })
        .collect()
}

fn scorecard(analysis: Value, rows: &[ArmSums]) -> (Scorecard, Value) {
    let experiment = experiment(analysis);
    let window = ExposureWindow::of(&experiment, now());
    let plan = Plan::new(&experiment, catalog, window, None).expect("plan");
    let card = build(
        &Inputs {
            experiment: &experiment,
            plan: &plan,
            as_of: now(),
            quantiles: &[],
            latency: &[],
            output_diagnostics: &[],
            triggers: &[],
            confidence_bounds: &[],
            segment_triggers: &[],
            planned_progress: None,
        },
        rows,
        &[],
    );
    let json = serde_json::to_value(&card).expect("json");
    assert!(!json.to_string().contains("NaN"), "{json}");
    (card, json)
}

fn kinds(card: &Scorecard) -> Vec<&str> {
    card.diagnostics.iter().map(|d| d.kind.as_str()).collect()
}

const FLAT: [u64; 3] = [1000, 200, 3000];

#[test]
fn a_significant_win_without_harm_ships() {
    let (card, json) = scorecard(json!({}), &rows([10_000, 10_000], FLAT, [1200, 200, 3000]));
    assert_eq!(card.decision.verdict, Verdict::Ship);
    assert_eq!(card.decision.variant.as_deref(), Some("treatment"));
    assert!(
        card.decision.reasons[0].contains("bookings: treatment +20.0%"),
        "{:?}",
        card.decision.reasons
    );
    assert_eq!(json["decision"]["verdict"], "ship");
    assert_eq!(json["metrics"][0]["role"], "primary");
    assert!(json["metrics"][0]["variants"][1]["p_value_adjusted"].is_number());
    assert!(
        json["metrics"][1]["variants"][1]["p_value_adjusted"].is_null(),
        "guardrails are outside Holm"
    );
}

#[test]
fn a_significantly_worse_primary_is_no_ship() {
    let (card, _) = scorecard(json!({}), &rows([10_000, 10_000], FLAT, [800, 200, 3000]));
    assert_eq!(card.decision.verdict, Verdict::NoShip);
    assert!(
        card.decision.reasons[0].contains("significantly worse"),
        "{:?}",
        card.decision.reasons
    );
}

#[test]
fn a_breached_guardrail_blocks_a_win_and_is_direction_aware() {
    // More cancellations is worse: breached.
    let (card, json) = scorecard(json!({}), &rows([10_000, 10_000], FLAT, [1200, 300, 3000]));
    assert_eq!(card.decision.verdict, Verdict::NoShip);
    assert!(
        card.decision
            .reasons
            .iter()
            .any(|r| r.contains("Guardrail cancellations")),
        "{:?}",
        card.decision.reasons
    );
    assert!(kinds(&card).contains(&"guardrail_breached"));
    assert_eq!(json["metrics"][1]["guardrail"][0]["breached"], true);
    // Fewer cancellations is good: no breach, the win ships.
    let (card, _) = scorecard(json!({}), &rows([10_000, 10_000], FLAT, [1200, 120, 3000]));
    assert_eq!(card.decision.verdict, Verdict::Ship);
}

#[test]
fn a_guardrail_within_its_margin_is_a_warning_only() {
    // Frequentist one-sided bound: a small, precisely measured worsening inside a wide margin.
    let (card, _) = scorecard(
        json!({"method": "frequentist", "guardrail_margin": 0.5}),
        &rows([100_000, 100_000], [10_000, 2000, 30_000], [12_000, 2300, 30_000]),
    );
    assert_eq!(
        card.decision.verdict,
        Verdict::Ship,
        "{:?}",
        card.decision.reasons
    );
    assert!(kinds(&card).contains(&"guardrail_worse"));
}

#[test]
fn a_proxy_up_with_a_flat_primary_is_flagged_and_never_ships() {
    let (card, _) = scorecard(json!({}), &rows([10_000, 10_000], FLAT, [1000, 200, 3600]));
    assert_eq!(card.decision.verdict, Verdict::KeepRunning);
    let proxy = card
        .diagnostics
        .iter()
        .find(|d| d.kind == "proxy_over_optimization")
        .expect("proxy diagnostic");
    assert!(
        proxy.message.contains("clicks") && proxy.message.contains("bookings"),
        "{}",
        proxy.message
    );
}

#[test]
fn sample_ratio_mismatch_is_invalid() {
    let (card, json) = scorecard(json!({}), &rows([10_000, 9_000], FLAT, [1200, 200, 3000]));
    assert_eq!(card.decision.verdict, Verdict::Invalid);
    assert!(card.decision.reasons[0].contains("Sample ratio mismatch"));
    assert_eq!(json["srm"]["ok"], false);
    assert!(kinds(&card).contains(&"srm"));
}

#[test]
fn no_exposures_or_an_empty_arm_is_invalid() {
    let (card, json) = scorecard(json!({}), &[]);
    assert_eq!(card.decision.verdict, Verdict::Invalid);
    assert!(card.decision.reasons[0].contains("No units were exposed"));
    assert_eq!(json["units"], json!({"control": 0, "treatment": 0}));
    let mut one_arm = rows([10_000, 10_000], FLAT, FLAT);
    one_arm.pop();
    let (card, _) = scorecard(json!({}), &one_arm);
    assert_eq!(card.decision.verdict, Verdict::Invalid);
    assert!(card.decision.reasons[0].contains("Variant treatment has no units"));
}

#[test]
fn the_planned_sample_gates_ship_and_ends_in_no_ship() {
    let winning = rows([10_000, 10_000], FLAT, [1200, 200, 3000]);
    let (card, _) = scorecard(json!({"planned_units": 50_000}), &winning);
    assert_eq!(card.decision.verdict, Verdict::KeepRunning);
    assert!(
        card.decision.reasons.iter().any(|r| r.contains("planned")),
        "{:?}",
        card.decision.reasons
    );
    let flat = rows([10_000, 10_000], FLAT, FLAT);
    let (card, _) = scorecard(json!({"planned_units": 20_000}), &flat);
    assert_eq!(card.decision.verdict, Verdict::NoShip);
    assert!(card.decision.reasons[0].contains("without a significant win"));
    let (card, _) = scorecard(json!({}), &flat);
    assert_eq!(card.decision.verdict, Verdict::KeepRunning);
}

#[test]
fn min_days_holds_every_decision_but_invalid() {
    let (card, _) = scorecard(
        json!({"min_days": 21}),
        &rows([10_000, 10_000], FLAT, [1200, 200, 3000]),
    );
    assert_eq!(card.decision.verdict, Verdict::KeepRunning);
    assert!(
        card.decision.reasons[0].contains("Day 15 of at least 21"),
        "{:?}",
        card.decision.reasons
    );
}

#[test]
fn units_in_two_variants_are_counted_in_the_diagnostics() {
    let mut with_excluded = rows([10_000, 10_000], FLAT, FLAT);
    with_excluded.push(ArmSums {
        variant: None,
        segment: SegmentKey::All,
        n: 42,
        metrics: vec![converted(1); 3],
        bucket: 0,
    });
    let (card, json) = scorecard(json!({}), &with_excluded);
    assert_eq!(json["excluded_units"], 42);
    assert!(kinds(&card).contains(&"multiple_variants"));
}

#[test]
fn a_metric_without_events_is_diagnosed_not_nan() {
    let (card, json) = scorecard(
        json!({}),
        &rows([10_000, 10_000], [1000, 0, 3000], [1200, 0, 3000]),
    );
    assert!(kinds(&card).contains(&"no_metric_events"), "{:?}", kinds(&card));
    assert!(json["metrics"][1]["variants"][1]["effect"].is_null());
    assert!(json["metrics"][1]["variants"][1]["reason"].is_string());
}

#[test]
fn the_bayesian_method_decides_on_its_credible_interval() {
    let (card, json) = scorecard(
        json!({"method": "bayesian"}),
        &rows([10_000, 10_000], FLAT, [1200, 200, 3000]),
    );
    assert_eq!(card.decision.verdict, Verdict::Ship);
    assert!(
        card.decision.reasons[0].contains("chance to win"),
        "{:?}",
        card.decision.reasons
    );
    let treatment = &json["metrics"][0]["variants"][1];
    assert!(treatment["chance_to_win"].as_f64().expect("ctw") > 0.99);
    assert!(treatment["p_value"].is_null() && treatment["p_value_adjusted"].is_null());
}

/// Rows per model-confidence decile: control books 200 of 1,000 in each; the treatment
/// `treated[d]` of 1,000 in decile d + 1.
fn deciles(treated: [u64; 10]) -> Vec<ArmSums> {
    let mut rows = Vec::new();
    for (d, booked) in treated.iter().enumerate() {
        for (variant, conversions) in [("control", 200), ("treatment", *booked)] {
            rows.push(ArmSums {
                variant: Some(variant.to_string()),
                segment: SegmentKey::All,
                n: 1000,
                metrics: vec![converted(conversions), converted(0), converted(0)],
                bucket: u8::try_from(d + 1).expect("a decile"),
            });
        }
    }
    rows
}

#[test]
fn the_effect_by_model_confidence_and_the_uncanny_valley() {
    // +30% in every decile but the top one, where the treatment hurts.
    let mut treated = [260; 10];
    treated[9] = 170;
    let (card, json) = scorecard(json!({}), &deciles(treated));
    let confidence = card.confidence.as_ref().expect("a confidence section");
    assert_eq!(confidence.buckets.len(), 10);
    assert_eq!(confidence.buckets[0].units, [1000, 1000]);
    let middle = confidence.middle.expect("deciles 3-8 pooled");
    assert!((middle.effect - 0.3).abs() < 1e-12, "{middle:?}");
    assert!((confidence.buckets[9].effect.expect("top").effect + 0.15).abs() < 1e-12);
    assert!(confidence.top_vs_middle_p_value.is_some_and(|p| p < 1e-6));
    assert!(kinds(&card).contains(&"uncanny_valley"), "{:?}", kinds(&card));
    // The deciles add up to the whole trial.
    assert_eq!(json["units"]["treatment"], 10_000);
    // Alike in every decile: no valley.
    let (card, _) = scorecard(json!({}), &deciles([260; 10]));
    assert!(card
        .confidence
        .as_ref()
        .and_then(|c| c.top_vs_middle_p_value)
        .is_some_and(|p| p > 0.4));
    assert!(!kinds(&card).contains(&"uncanny_valley"));
}
