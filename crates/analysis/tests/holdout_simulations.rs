//! Watching a launch through its holdout on seeded simulations (issue 23 acceptance), through
//! the pure path the store takes after its queries: the holdout experiment built from its
//! trial (`HoldoutPlan`), its daily sums turned into the scorecard's always-valid cumulative
//! series (`build`), then the alerts (`HoldoutWatch`).
//!
//! - A launch whose lift decays raises `lift_decayed`, at the first daily look whose interval
//!   lies below the trial's.
//! - An A/A holdout (no effect, a trial interval around zero), and a launch that keeps the
//!   lift its trial measured, each watched daily for 30 days, raise no alert in at least 95%
//!   of runs.

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rctgate_analysis::monitoring::{watch_points, AlertKind, HoldoutWatch, TrialInterval, WatchedMetric};
use rctgate_analysis::{build, ArmSums, DailySums, ExposureWindow, Inputs, MetricSums, Plan, SegmentKey};
use rctgate_domain::holdout::PRODUCTION_ARM;
use rctgate_domain::{from_json_value, Direction, Experiment, Holdout, HoldoutPlan, Metric};
use serde_json::json;

const DAYS: i64 = 30;
const UNITS_PER_DAY: usize = 4000;
const SHARE: f64 = 0.2;
const BASE_RATE: f64 = 0.3;

fn launch() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-10-01T00:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

fn bookings(name: &str) -> Option<Metric> {
    (name == "bookings").then(|| {
        from_json_value(
            json!({"name": "bookings", "kind": "proportion", "event": "booking", "direction": "increase"}),
        )
        .expect("metric")
    })
}

fn holdout_experiment() -> Experiment {
    let trial: Experiment = from_json_value(json!({
        "key": "ranker-v8", "hypothesis": "v8 sells more.", "model": "ranker",
        "variants": [{"name": "control", "weight": 0.5, "model_version": "v7"},
                     {"name": "treatment", "weight": 0.5, "model_version": "v8"}],
        "metrics": {"primary": "bookings"}
    }))
    .expect("trial");
    let mut experiment = HoldoutPlan {
        holdout: holdout(),
        trial: &trial,
        previous_payload: json!(null),
        payload: json!(null),
    }
    .experiment("ranker-v8-holdout".into());
    experiment.started_at = Some(launch());
    experiment
}

fn holdout() -> Holdout {
    Holdout {
        model: "ranker".into(),
        version: "v8".into(),
        previous: "v7".into(),
        share: SHARE,
        trial: "ranker-v8".into(),
    }
}

fn sums(conversions: u64) -> MetricSums {
    let c = conversions as f64;
    [Some(c), Some(c), None, None, None, None, None, None]
}

/// The holdout watched at the end of day 30: new units each day, the production arm
/// converting at `BASE_RATE * (1 + lift(day))`.
fn watch(
    rng: &mut ChaCha8Rng,
    experiment: &Experiment,
    trial: TrialInterval,
    lift: impl Fn(i64) -> f64,
) -> HoldoutWatch {
    let as_of = launch() + Duration::days(DAYS);
    let plan = Plan::new(experiment, bookings, ExposureWindow::of(experiment, as_of), None).expect("plan");
    let mut daily = Vec::new();
    let mut totals = [(0u64, 0u64), (0u64, 0u64)];
    for day in 0..DAYS {
        let mut arms = [(0u64, 0u64), (0u64, 0u64)];
        let rate = BASE_RATE * (1.0 + lift(day));
        for _ in 0..UNITS_PER_DAY {
            let arm = usize::from(rng.gen::<f64>() >= SHARE);
            let p = if arm == 1 { rate } else { BASE_RATE };
            arms[arm].0 += 1;
            arms[arm].1 += u64::from(rng.gen::<f64>() < p);
        }
        let day_micros = (launch() + Duration::days(day)).timestamp_micros();
        for (arm, (n, converted)) in arms.iter().enumerate() {
            daily.push(DailySums {
                day_micros,
                variant: experiment.variants[arm].name.clone(),
                n: *n,
                sums: sums(*converted),
            });
            totals[arm].0 += n;
            totals[arm].1 += converted;
        }
    }
    let rows: Vec<ArmSums> = totals
        .iter()
        .enumerate()
        .map(|(arm, (n, converted))| ArmSums {
            variant: Some(experiment.variants[arm].name.clone()),
            segment: SegmentKey::All,
            n: *n,
            metrics: vec![sums(*converted)],
            bucket: 0,
        })
        .collect();
    let card = build(
        &Inputs {
            experiment,
            plan: &plan,
            as_of,
            quantiles: &[],
            latency: &[],
            output_diagnostics: &[],
            triggers: &[],
            confidence_bounds: &[],
            segment_triggers: &[],
            planned_progress: None,
        },
        &rows,
        &daily,
    );
    let primary = WatchedMetric {
        name: "bookings".into(),
        role: "primary".into(),
        direction: Direction::Increase,
        margin: None,
        series: watch_points(&card.cumulative, PRODUCTION_ARM),
    };
    assert_eq!(primary.series.len(), DAYS as usize, "one look per day");
    HoldoutWatch::new(
        "ranker-v8-holdout".into(),
        holdout(),
        card.difference,
        Some(trial),
        vec![primary],
    )
}

#[test]
fn a_decaying_lift_raises_lift_decayed_at_the_first_look_that_excludes() {
    let experiment = holdout_experiment();
    let trial = TrialInterval {
        effect: 0.08,
        ci_low: 0.05,
        ci_high: 0.11,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(2301);
    let runs = 100;
    let mut raised = 0;
    for _ in 0..runs {
        // +8% at the launch, gone by day 10, -15% by day 30 (a novelty that wore off, then
        // users tired of it).
        let watch = watch(&mut rng, &experiment, trial, |day| 0.08 - 0.008 * day as f64);
        let series = &watch.metrics[0].series;
        let first_excluding = series
            .iter()
            .find(|p| p.ci_high.is_some_and(|high| high < trial.ci_low));
        let alert = watch.alerts.iter().find(|a| a.kind == AlertKind::LiftDecayed);
        match (alert, first_excluding) {
            (Some(alert), Some(point)) => {
                raised += 1;
                assert_eq!(alert.date, point.date, "raised at the first look that excludes");
                assert_eq!(alert.ci_high, point.ci_high);
            }
            (None, None) => {}
            (alert, point) => {
                panic!("alert {alert:?} disagrees with the series' first excluding look {point:?}")
            }
        }
    }
    assert!(raised >= 95, "the decay was caught in {raised} of {runs} runs");
}

#[test]
fn a_steady_launch_watched_daily_for_30_days_raises_no_alert() {
    let experiment = holdout_experiment();
    let mut rng = ChaCha8Rng::seed_from_u64(2302);
    let runs = 200;
    for (name, trial, lift) in [
        (
            "A/A",
            TrialInterval {
                effect: 0.0,
                ci_low: -0.03,
                ci_high: 0.03,
            },
            0.0,
        ),
        (
            "a lift that lasts",
            TrialInterval {
                effect: 0.05,
                ci_low: 0.02,
                ci_high: 0.08,
            },
            0.05,
        ),
    ] {
        let alarmed = (0..runs)
            .filter(|_| !watch(&mut rng, &experiment, trial, |_| lift).alerts.is_empty())
            .count();
        let quiet = 1.0 - alarmed as f64 / runs as f64;
        assert!(quiet >= 0.95, "{name}: {quiet} of runs without an alert");
    }
}
