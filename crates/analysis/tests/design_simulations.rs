//! Booking's designs on seeded simulations (issue 22 acceptance), through the same pure path
//! the store takes after its queries: each contrast's sub-trial (`contrasts::sub_trial`) built
//! into a scorecard from its arms' sums, then `contrasts::combine`. Units are simulated here
//! directly as sums (the SQL that produces sums is checked against an independent computation
//! in the store's tests).
//!
//! - A/A under each design: the verdict claims an effect (ship, or significantly worse) in
//!   4-6% of 4,000 trials at alpha 0.05.
//! - A candidate that lifts only triggered units: the all-units contrast dilutes the effect,
//!   and the triggered contrast's interval covers the true effect at about the nominal 95%.

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rctgate_analysis::contrasts::{combine, contrasts, sub_trial};
use rctgate_analysis::{
    build, ArmSums, ExposureWindow, Inputs, MetricSums, Plan, Scorecard, SegmentKey, TriggerCounts, Verdict,
};
use rctgate_domain::{from_json_value, Experiment, Metric};
use serde_json::json;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

fn bookings(name: &str) -> Option<Metric> {
    (name == "bookings").then(|| {
        from_json_value(
            json!({"name": "bookings", "kind": "proportion", "event": "booking",
                               "direction": "increase"}),
        )
        .expect("metric")
    })
}

fn experiment(design: &str) -> Experiment {
    let versions = match design {
        "c_t1_t2" => [None, Some("v7"), Some("v7")],
        _ => [Some("v6"), Some("v7"), Some("v6")],
    };
    let arm = |name: &str, version: Option<&str>| json!({"name": name, "weight": 1.0 / 3.0, "model_version": version});
    let mut experiment: Experiment = from_json_value(json!({
        "key": "trial", "hypothesis": "The candidate helps where it changes anything.",
        "model": "ranker", "design": design,
        "variants": [arm("c", versions[0]), arm("t1", versions[1]), arm("t2", versions[2])],
        "metrics": {"primary": "bookings"},
        "analysis": {"method": "frequentist", "alpha": 0.05}
    }))
    .expect("experiment");
    experiment.started_at = Some(now() - Duration::days(14));
    experiment
}

/// One simulated unit: its arm, whether it triggered, whether it booked.
struct Unit {
    arm: usize,
    triggered: bool,
    booked: bool,
}

fn simulate(rng: &mut ChaCha8Rng, units: usize, trigger_rate: f64, base: f64, t1_lift: f64) -> Vec<Unit> {
    (0..units)
        .map(|_| {
            let arm = rng.gen_range(0..3);
            let triggered = rng.gen::<f64>() < trigger_rate;
            let rate = if arm == 1 && triggered {
                base * t1_lift
            } else {
                base
            };
            Unit {
                arm,
                triggered,
                booked: rng.gen::<f64>() < rate,
            }
        })
        .collect()
}

/// The scorecard of `experiment`'s arms over `units` (only triggered ones with
/// `triggered_only`), arms mapped by name from the design's full variant list.
fn scorecard(experiment: &Experiment, all_arms: &[String], units: &[Unit]) -> Scorecard {
    let plan = Plan::new(experiment, bookings, ExposureWindow::of(experiment, now()), None).expect("plan");
    let index: Vec<usize> = experiment
        .variants
        .iter()
        .map(|v| {
            all_arms
                .iter()
                .position(|name| *name == v.name)
                .expect("an arm of the trial")
        })
        .collect();
    let rows: Vec<ArmSums> = index
        .iter()
        .zip(&experiment.variants)
        .map(|(&arm, variant)| {
            let counted = units
                .iter()
                .filter(|u| u.arm == arm && (u.triggered || !experiment.analysis.triggered_only));
            let (n, booked) = counted.fold((0u64, 0u64), |(n, b), u| (n + 1, b + u64::from(u.booked)));
            let sums: MetricSums = [
                Some(booked as f64),
                Some(booked as f64),
                None,
                None,
                None,
                None,
                None,
                None,
            ];
            ArmSums {
                variant: Some(variant.name.clone()),
                segment: SegmentKey::All,
                n,
                metrics: vec![sums],
                bucket: 0,
            }
        })
        .collect();
    // C never evaluates the trigger; T1 and T2 mark every exposure.
    let triggers: Vec<TriggerCounts> = index
        .iter()
        .map(|&arm| {
            let of_arm = units.iter().filter(|u| u.arm == arm);
            TriggerCounts {
                units: of_arm.clone().count() as u64,
                triggered: of_arm.clone().filter(|u| u.triggered).count() as u64,
                marked: if arm == 0 { 0 } else { of_arm.count() as u64 },
            }
        })
        .collect();
    build(
        &Inputs {
            experiment,
            plan: &plan,
            as_of: now(),
            quantiles: &[],
            latency: &[],
            output_diagnostics: &[],
            triggers: &triggers,
            confidence_bounds: &[],
            segment_triggers: &[],
            planned_progress: None,
        },
        &rows,
        &[],
    )
}

/// The design's whole analysis of `units`, as the store runs it.
fn analyse(experiment: &Experiment, units: &[Unit]) -> Scorecard {
    let arms: Vec<String> = experiment.variants.iter().map(|v| v.name.clone()).collect();
    let overall = scorecard(experiment, &arms, units);
    let analysed = contrasts(experiment.design)
        .into_iter()
        .map(|spec| (spec, scorecard(&sub_trial(experiment, &spec), &arms, units)))
        .collect();
    combine(experiment, overall, analysed)
}

#[test]
fn a_a_trials_under_each_design_keep_the_false_positive_rate() {
    for (design, seed) in [("c_t1_t2", 2201), ("disagreement", 2202)] {
        let experiment = experiment(design);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let trials = 4000;
        let (mut claimed, mut invalid) = (0, 0);
        for _ in 0..trials {
            let units = simulate(&mut rng, 3000, 0.25, 0.3, 1.0);
            let card = analyse(&experiment, &units);
            match card.decision.verdict {
                Verdict::Ship | Verdict::NoShip => claimed += 1,
                Verdict::KeepRunning => {}
                // The data checks (SRM, trigger balance) flag at 0.001 each: no claim either.
                Verdict::Invalid => invalid += 1,
            }
        }
        let rate = f64::from(claimed) / f64::from(trials);
        assert!(
            (0.04..=0.06).contains(&rate),
            "{design}: false-positive rate {rate}"
        );
        assert!(
            invalid <= 20,
            "{design}: {invalid} of {trials} A/A trials invalid"
        );
    }
}

#[test]
fn the_triggered_contrast_recovers_the_effect_the_all_units_analysis_dilutes() {
    let experiment = experiment("c_t1_t2");
    let mut rng = ChaCha8Rng::seed_from_u64(2203);
    let (trials, lift) = (1000, 1.3);
    let (mut covered, mut diluted, mut recovered) = (0, 0.0, 0.0);
    for _ in 0..trials {
        let units = simulate(&mut rng, 6000, 0.2, 0.3, lift);
        let card = analyse(&experiment, &units);
        let effect_of = |name: &str| {
            let contrast = card.design.iter().find(|c| c.name == name).expect("contrast");
            contrast.metrics[0].variants[1]
                .comparison()
                .cloned()
                .expect("a comparison")
        };
        let feature = effect_of("feature");
        let (low, high) = (feature.ci_low.expect("low"), feature.ci_high.expect("high"));
        covered += u32::from(low <= lift - 1.0 && lift - 1.0 <= high);
        recovered += feature.effect.expect("effect");
        diluted += effect_of("total").effect.expect("effect");
    }
    let n = f64::from(trials);
    let coverage = f64::from(covered) / n;
    assert!(
        (0.93..=0.97).contains(&coverage),
        "coverage of the true +30%: {coverage}"
    );
    let (recovered, diluted) = (recovered / n, diluted / n);
    assert!(
        (recovered - 0.3).abs() < 0.02,
        "the triggered contrast's mean effect: {recovered}"
    );
    // Over all units, a fifth of them lifted by 30%: about +6%.
    assert!(
        (diluted - 0.06).abs() < 0.015,
        "the all-units mean effect: {diluted}"
    );
}
