//! `rctgate demo [--db PATH]`: the Booking story (SPEC §11), simulated through the real code
//! paths (the store's API: registry, experiments, validated and deduplicated ingestion, the
//! analysis and the gate), never raw SQL.
//!
//! hotel-ranker: a launch trial that won (v1), five past versions whose offline gains do not
//! predict their business lifts (the ledger), v7 with +3% offline AUC whose trial lifts clicks
//! but not bookings (no_ship, proxy over-optimization, the gate refuses), and v8, which wins
//! and is promoted; between them, a latency-cost trial (production with 15 and 30 ms added on
//! purpose) prices latency in bookings; then v9 in the model-disagreement design, which wins
//! where it ranks differently from v8. v8 launched with a holdout whose lift fades
//! (`lift_decayed`), and v10 and v11 gain offline but not in bookings (value saturation).
//! support-assistant: prompt v2 against v1 on the
//! resolution rate, and suggested replies in the C/T1/T2 design.

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use rctgate_domain::{
    from_json_value, parse_event_batch, Design, Experiment, KeySpec, Metric, ModelVersion, NewModel,
    PromotionRequest, Scope, Verdict,
};
use rctgate_simulate::{events, Scenario, SimLatency, SimMetric, SimOutputs};
use rctgate_store::{Store, LOCAL_ACTOR};
use serde_json::json;

use crate::failure::Failure;

#[derive(clap::Args)]
pub struct Args {
    /// The database to write; it must be new or empty.
    #[arg(long, default_value = "rctgate.duckdb")]
    db: PathBuf,
}

fn failed(what: &str) -> impl Fn(rctgate_store::StoreError) -> Failure + '_ {
    move |err| Failure::input(format!("demo: {what}: {err}"))
}

/// One simulated trial of the story.
struct Trial<'a> {
    key: &'a str,
    model: &'a str,
    hypothesis: &'a str,
    control: Option<&'a str>,
    /// The arms after control, with equal weights.
    arms: Vec<Arm<'a>>,
    /// Days before now when exposures began.
    began_days_ago: i64,
    units: usize,
    primary: &'a str,
    guardrails: &'a [&'a str],
    proxies: &'a [&'a str],
    seed: u64,
    /// Booking's design and the share of units the model changes anything for: the arms are
    /// C, T1, T2, C never marks triggers, and the lifts apply to triggered units only.
    design: Option<(Design, f64)>,
}

/// A treatment arm of a demo trial.
struct Arm<'a> {
    name: String,
    version: Option<&'a str>,
    /// Event name → rate multiplier against control.
    lifts: &'a [(&'a str, f64)],
    /// The model latency against control's (1.0: as fast).
    latency: f64,
    /// How the arm's model scores (control's are bimodal).
    outputs: SimOutputs,
    /// Latency added on purpose (the payload's `added_latency_ms`).
    added_latency_ms: Option<f64>,
}

/// The one treatment arm of a version against control.
fn treatment<'a>(
    version: &'a str,
    lifts: &'a [(&'a str, f64)],
    latency: f64,
    outputs: SimOutputs,
) -> Vec<Arm<'a>> {
    vec![Arm {
        name: "treatment".to_string(),
        version: Some(version),
        lifts,
        latency,
        outputs,
        added_latency_ms: None,
    }]
}

fn rate(event: &str) -> f64 {
    match event {
        "booking" => 0.25,
        "click" => 2.5,
        "cancel" => 0.06,
        "resolved" => 0.6,
        "escalation" => 0.1,
        _ => 0.5,
    }
}

fn run_trial(store: &Store, trial: &Trial<'_>, now: DateTime<Utc>) -> Result<(), Failure> {
    let started = now - Duration::days(trial.began_days_ago);
    let weight = 1.0 / (trial.arms.len() + 1) as f64;
    let payload = |version: Option<&str>, added: Option<f64>| {
        let mut payload = json!({"model": trial.model, "version": version});
        if let Some(ms) = added {
            payload["added_latency_ms"] = json!(ms);
        }
        payload
    };
    let mut variants = vec![
        json!({"name": "control", "weight": weight, "model_version": trial.control,
                                   "payload": payload(trial.control, None)}),
    ];
    variants.extend(trial.arms.iter().map(|arm| {
        json!({"name": arm.name, "weight": weight, "model_version": arm.version,
               "payload": payload(arm.version, arm.added_latency_ms)})
    }));
    let design = trial.design.map_or(Design::Standard, |(design, _)| design);
    let experiment: Experiment = from_json_value(json!({
        "key": trial.key, "hypothesis": trial.hypothesis, "model": trial.model,
        "design": design, "variants": variants,
        "metrics": {"primary": trial.primary, "guardrails": trial.guardrails, "proxies": trial.proxies},
        "analysis": {"method": "sequential", "start": started.to_rfc3339(), "planned_units": trial.units * 9 / 10,
                     "min_days": 7}
    }))
    .map_err(|e| Failure::input(format!("demo experiment {}: {e}", trial.key)))?;
    store
        .create_experiment(experiment, LOCAL_ACTOR)
        .map_err(failed(trial.key))?;
    store
        .start_experiment(trial.key, LOCAL_ACTOR)
        .map_err(failed(trial.key))?;
    let mut names: Vec<&str> = vec![trial.primary];
    names.extend(trial.guardrails);
    names.extend(trial.proxies);
    let metrics = names
        .iter()
        .filter_map(|name| event_of(name))
        .map(|event| {
            let lift = |arm: &Arm<'_>| {
                arm.lifts
                    .iter()
                    .find(|(e, _)| *e == event)
                    .map_or(1.0, |(_, lift)| *lift)
            };
            SimMetric {
                event: event.to_string(),
                rate: rate(event),
                lifts: std::iter::once(1.0).chain(trial.arms.iter().map(lift)).collect(),
                value: None,
                window_hours: 168.0,
                pre_days: 0,
                late_share: 0.05,
            }
        })
        .collect();
    let mut scenario = Scenario::two_arms(trial.key, trial.units, started, metrics);
    scenario.variants = std::iter::once(("control".to_string(), weight))
        .chain(trial.arms.iter().map(|arm| (arm.name.clone(), weight)))
        .collect();
    scenario.exposure_days = 10.0;
    scenario.unit_prefix = format!("{}-u", trial.key);
    scenario.seed = trial.seed;
    if let Some((_, share)) = trial.design {
        scenario.triggered_share = share;
        scenario.lifts_on_triggered_only = true;
        scenario.unmarked_arms = vec![0];
    }
    // Every exposure carries the model's latency and score: the latency guardrails and the
    // output distributions read them, with no extra event.
    scenario.latency = Some(SimLatency {
        mu: 3.9,
        sigma: 0.4,
        multipliers: std::iter::once(1.0)
            .chain(trial.arms.iter().map(|arm| arm.latency))
            .collect(),
    });
    scenario.outputs = Some(
        std::iter::once(SimOutputs::Bimodal)
            .chain(trial.arms.iter().map(|arm| arm.outputs))
            .collect(),
    );
    scenario.attribute = Some(rctgate_simulate::SimAttribute {
        name: "device".into(),
        values: vec![
            ("mobile".into(), 0.62),
            ("desktop".into(), 0.31),
            ("tablet".into(), 0.07),
        ],
    });
    ingest_until(store, &scenario, now)?;
    store
        .stop_experiment(trial.key, LOCAL_ACTOR)
        .map_err(failed(trial.key))?;
    Ok(())
}

/// The event a demo metric counts; `None` for the latency guardrail, which reads the
/// exposures.
fn event_of(metric: &str) -> Option<&'static str> {
    match metric {
        "bookings" => Some("booking"),
        "clicks" => Some("click"),
        "cancellations" => Some("cancel"),
        "resolution_rate" => Some("resolved"),
        "escalations" => Some("escalation"),
        _ => None,
    }
}

fn register(
    store: &Store,
    model: &str,
    version: &str,
    auc: Option<f64>,
    payload: serde_json::Value,
) -> Result<(), Failure> {
    let version = ModelVersion {
        version: version.to_string(),
        artifact_uri: Some(format!("s3://models/{model}/{version}")),
        offline_metrics: auc
            .map(|auc| [("auc".to_string(), auc)].into())
            .unwrap_or_default(),
        payload,
        reference_distribution: None,
        created_at: None,
    };
    store
        .add_model_version(model, version, LOCAL_ACTOR)
        .map_err(failed(model))?;
    Ok(())
}

fn promote(store: &Store, model: &str, version: &str, experiment: &str) -> Result<(), Failure> {
    promote_keeping(store, model, version, experiment, None)
}

/// Promotes on `experiment`'s evidence, keeping `holdout` of the units on the previous version.
fn promote_keeping(
    store: &Store,
    model: &str,
    version: &str,
    experiment: &str,
    holdout: Option<f64>,
) -> Result<(), Failure> {
    let request = PromotionRequest {
        version: version.to_string(),
        experiment: Some(experiment.to_string()),
        override_reason: None,
        holdout,
    };
    store
        .promote(model, &request, LOCAL_ACTOR, 1)
        .map_err(failed(model))?;
    Ok(())
}

/// v8's holdout over the 45 days after its launch: +12% bookings for the first two weeks,
/// then 10% fewer than v1 (production before it) as users tire of it (a novelty that wore off). The holdout counts
/// the replayed days (its `analysis.start` moved back to the launch), and the watch raises
/// `lift_decayed`: the lift the trial measured is gone.
fn fading_launch(store: &Store, key: &str, now: DateTime<Utc>) -> Result<(), Failure> {
    let launched = now - Duration::days(45);
    let mut holdout = store.get_experiment(key).map_err(failed(key))?;
    holdout.analysis.start = Some(launched);
    store
        .replace_experiment(key, holdout.clone(), LOCAL_ACTOR)
        .map_err(failed(key))?;
    let weights: Vec<(String, f64)> = holdout
        .variants
        .iter()
        .map(|v| (v.name.clone(), v.weight))
        .collect();
    for (phase, (began, days, lift, units)) in [(0.0, 14.0, 1.12, 40_000), (14.0, 31.0, 0.90, 60_000)]
        .into_iter()
        .enumerate()
    {
        let metrics = [("booking", lift), ("cancel", 1.0)]
            .into_iter()
            .map(|(event, lift)| SimMetric {
                event: event.to_string(),
                rate: rate(event),
                lifts: vec![1.0, lift],
                value: None,
                window_hours: 168.0,
                pre_days: 0,
                late_share: 0.0,
            })
            .collect();
        let mut scenario = Scenario::two_arms(key, units, launched + Duration::days(began as i64), metrics);
        scenario.variants = weights.clone();
        scenario.exposure_days = days;
        scenario.unit_prefix = format!("{key}-{phase}-u");
        scenario.seed = 120 + phase as u64;
        ingest_until(store, &scenario, now)?;
    }
    Ok(())
}

/// Ingests `scenario`'s events before `now` through the store's validated path.
fn ingest_until(store: &Store, scenario: &Scenario, now: DateTime<Utc>) -> Result<(), Failure> {
    let lines: Vec<String> = events(scenario)
        .filter(|event| match event {
            rctgate_simulate::SimEvent::Exposure { ts, .. }
            | rctgate_simulate::SimEvent::Metric { ts, .. } => *ts < now,
        })
        .map(|event| event.to_json(&scenario.experiment).to_string())
        .collect();
    for chunk in lines.chunks(20_000) {
        let body = chunk.join("\n");
        let batch = parse_event_batch(body.as_bytes(), 50_000)
            .map_err(|e| Failure::input(format!("demo events: {e}")))?;
        store.ingest(batch).map_err(failed("events"))?;
    }
    Ok(())
}

pub fn run(args: Args) -> Result<(), Failure> {
    let store = crate::commands::open_store(&args.db)?;
    let existing = store.list_experiments().map_err(failed("reading the database"))?;
    if !existing.is_empty() || store.count_keys() > 0 {
        return Err(Failure::input(format!(
            "{} already holds data; run the demo with --db on a new file.",
            args.db.display()
        )));
    }
    let started = std::time::Instant::now();
    let now = Utc::now();
    let metrics = [
        json!({"name": "bookings", "kind": "proportion", "event": "booking", "direction": "increase",
               "description": "Share of users who book within a week of first exposure."}),
        json!({"name": "clicks", "kind": "count", "event": "click", "direction": "increase",
               "description": "Hotel clicks per user: a proxy, never decisive."}),
        json!({"name": "cancellations", "kind": "proportion", "event": "cancel", "direction": "decrease"}),
        json!({"name": "p95_latency", "kind": "quantile", "quantile": 0.95, "source": "exposure_latency",
               "direction": "decrease",
               "description": "The model's p95 latency per request, from the exposures' latency_ms."}),
        json!({"name": "resolution_rate", "kind": "proportion", "event": "resolved", "direction": "increase"}),
        json!({"name": "escalations", "kind": "proportion", "event": "escalation", "direction": "decrease"}),
    ];
    for metric in metrics {
        let metric: Metric =
            from_json_value(metric).map_err(|e| Failure::input(format!("demo metric: {e}")))?;
        store
            .upsert_metric(&metric, LOCAL_ACTOR)
            .map_err(failed("metrics"))?;
    }

    let ranker = "hotel-ranker";
    store
        .create_model(
            NewModel {
                name: ranker.into(),
                description: Some("Ranks hotels on the search results page.".into()),
            },
            LOCAL_ACTOR,
        )
        .map_err(failed(ranker))?;
    let guardrails: &[&str] = &["cancellations", "p95_latency"];
    let proxies: &[&str] = &["clicks"];
    register(&store, ranker, "v1", Some(0.80), json!({"features": 120}))?;
    let launch = Trial {
        key: "ranker-launch",
        model: ranker,
        hypothesis: "A learned ranker sells more than the popularity sort.",
        control: None,
        arms: treatment(
            "v1",
            &[("booking", 1.25), ("click", 1.15)],
            1.0,
            SimOutputs::Bimodal,
        ),
        began_days_ago: 300,
        units: 16_000,
        primary: "bookings",
        guardrails,
        proxies,
        seed: 1,
        design: None,
    };
    run_trial(&store, &launch, now)?;
    promote(&store, ranker, "v1", "ranker-launch")?;

    // Past versions: offline gains that do not predict the business lift.
    let history: [(&str, f64, f64, f64); 5] = [
        ("v2", 0.812, 1.10, 1.08),
        ("v3", 0.829, 0.97, 1.20),
        ("v4", 0.834, 1.0, 1.05),
        ("v5", 0.851, 1.08, 1.02),
        ("v6", 0.860, 0.99, 1.25),
    ];
    let mut production = "v1".to_string();
    for (i, (version, auc, booking, click)) in history.into_iter().enumerate() {
        register(
            &store,
            ranker,
            version,
            Some(auc),
            json!({"features": 120 + 20 * i}),
        )?;
        let key = format!("ranker-{version}");
        let lifts = [("booking", booking), ("click", click)];
        let trial = Trial {
            key: &key,
            model: ranker,
            hypothesis: "More features rank better.",
            control: Some(&production),
            arms: treatment(version, &lifts, 1.0, SimOutputs::Bimodal),
            began_days_ago: 260 - 40 * i as i64,
            units: 16_000,
            primary: "bookings",
            guardrails,
            proxies,
            seed: 10 + i as u64,
            design: None,
        };
        run_trial(&store, &trial, now)?;
        let frozen = store.frozen_results(&key).map_err(failed(&key))?;
        if frozen.is_some_and(|f| f.decision().verdict == Verdict::Ship) {
            promote(&store, ranker, version, &key)?;
            production = version.to_string();
        }
    }

    // Before trying slower models, what does latency cost? Booking's latency-cost trial:
    // production as it is, and two arms that wait on purpose before answering.
    let latency_lifts: [&[(&str, f64)]; 2] = [&[("booking", 0.985)], &[("booking", 0.965)]];
    run_trial(
        &store,
        &Trial {
            key: "ranker-latency-cost",
            model: ranker,
            hypothesis: "Added latency costs bookings; the cost sets the latency budget of a new model.",
            control: Some(&production),
            arms: [(15.0, 1.3), (30.0, 1.6)]
                .into_iter()
                .zip(latency_lifts)
                .map(|((ms, latency), lifts)| Arm {
                    name: format!("plus-{ms}ms"),
                    version: Some(&production),
                    lifts,
                    latency,
                    outputs: SimOutputs::Bimodal,
                    added_latency_ms: Some(ms),
                })
                .collect(),
            began_days_ago: 70,
            units: 60_000,
            primary: "bookings",
            guardrails: &["p95_latency"],
            proxies,
            seed: 62,
            design: None,
        },
        now,
    )?;

    // v7: +3% offline AUC over production, clicks up, bookings flat.
    let auc_production = history
        .iter()
        .find(|(v, ..)| *v == production)
        .map_or(0.80, |(_, auc, ..)| *auc);
    register(
        &store,
        ranker,
        "v7",
        Some(auc_production * 1.03),
        json!({"objective": "clicks"}),
    )?;
    run_trial(
        &store,
        &Trial {
            key: "ranker-v7",
            model: ranker,
            hypothesis: "v7's +3% offline AUC raises bookings.",
            control: Some(&production),
            // v7's new feature pipeline: slower, and for 30% of requests a broken feature
            // gives the same score, which its output histogram shows as a spike.
            arms: treatment(
                "v7",
                &[("booking", 1.0), ("click", 1.12)],
                1.3,
                SimOutputs::Spike { at: 0.5, share: 0.3 },
            ),
            began_days_ago: 40,
            units: 24_000,
            primary: "bookings",
            guardrails,
            proxies,
            seed: 70,
            design: None,
        },
        now,
    )?;
    let v7_blocked = store
        .promote(
            ranker,
            &PromotionRequest {
                version: "v7".into(),
                experiment: None,
                override_reason: None,
                holdout: None,
            },
            LOCAL_ACTOR,
            1,
        )
        .is_err();

    // v8 reframes the problem (predict cancellations, not clicks): it wins.
    register(
        &store,
        ranker,
        "v8",
        Some(auc_production * 1.004),
        json!({"objective": "bookings net of cancellations"}),
    )?;
    run_trial(
        &store,
        &Trial {
            key: "ranker-v8",
            model: ranker,
            hypothesis: "Ranking by expected bookings net of cancellations raises bookings.",
            control: Some(&production),
            arms: treatment(
                "v8",
                &[("booking", 1.12), ("click", 1.0), ("cancel", 0.9)],
                1.0,
                SimOutputs::Bimodal,
            ),
            began_days_ago: 70,
            units: 24_000,
            primary: "bookings",
            guardrails,
            proxies,
            seed: 80,
            design: None,
        },
        now,
    )?;
    // Launched with 20% of units held out on v1, which shows the lift fading.
    promote_keeping(&store, ranker, "v8", "ranker-v8", Some(0.2))?;
    fading_launch(&store, "hotel-ranker-v8-holdout", now)?;

    // v9 agrees with v8 on most searches: a plain trial would dilute its effect over everyone.
    // The model-disagreement design compares it where the two rankers differ (15% of units),
    // and there it wins: promoting v9 is the team's next step.
    register(
        &store,
        ranker,
        "v9",
        Some(auc_production * 1.006),
        json!({"objective": "bookings net of cancellations", "features": 260}),
    )?;
    let disagreement_lifts: [&[(&str, f64)]; 2] = [&[("booking", 1.45)], &[]];
    run_trial(
        &store,
        &Trial {
            key: "ranker-v9-disagreement",
            model: ranker,
            hypothesis: "Where v9 ranks differently from v8, it sells more.",
            control: Some("v8"),
            arms: [("t1", "v9"), ("t2", "v8")]
                .into_iter()
                .zip(disagreement_lifts)
                .map(|((name, version), lifts)| Arm {
                    name: name.to_string(),
                    version: Some(version),
                    lifts,
                    latency: 1.0,
                    outputs: SimOutputs::Bimodal,
                    added_latency_ms: None,
                })
                .collect(),
            began_days_ago: 12,
            units: 60_000,
            primary: "bookings",
            guardrails,
            proxies,
            seed: 95,
            design: Some((Design::Disagreement, 0.15)),
        },
        now,
    )?;

    // v10 and v11 add features and gain offline again; bookings do not move. With v9 (flat
    // over all units), three trials in a row bought nothing while AUC kept rising: value
    // saturation, Booking's sign to look for other levers than a better model.
    let mut auc = auc_production * 1.006;
    for (i, version) in ["v10", "v11"].into_iter().enumerate() {
        auc *= 1.005;
        register(
            &store,
            ranker,
            version,
            Some(auc),
            json!({"features": 300 + 40 * i}),
        )?;
        let key = format!("ranker-{version}");
        run_trial(
            &store,
            &Trial {
                key: &key,
                model: ranker,
                hypothesis: "More features rank better.",
                control: Some("v8"),
                arms: treatment(
                    version,
                    &[("booking", 1.0), ("click", 1.03)],
                    1.0,
                    SimOutputs::Bimodal,
                ),
                began_days_ago: 10 - 2 * i as i64,
                units: 16_000,
                primary: "bookings",
                guardrails,
                proxies,
                seed: 100 + i as u64,
                design: None,
            },
            now,
        )?;
    }

    // An LLM: a support assistant's prompt is a model version too.
    let assistant = "support-assistant";
    store
        .create_model(
            NewModel {
                name: assistant.into(),
                description: Some("Answers customer support chats.".into()),
            },
            LOCAL_ACTOR,
        )
        .map_err(failed(assistant))?;
    register(
        &store,
        assistant,
        "prompt-v1",
        None,
        json!({"prompt": "support/v1", "model": "gpt-4o-mini", "temperature": 0.2}),
    )?;
    register(
        &store,
        assistant,
        "prompt-v2",
        None,
        json!({"prompt": "support/v2", "model": "gpt-4o-mini", "temperature": 0.2}),
    )?;
    store
        .promote(
            assistant,
            &PromotionRequest {
                version: "prompt-v1".into(),
                experiment: None,
                override_reason: Some("Shipped before rctgate existed.".into()),
                holdout: None,
            },
            LOCAL_ACTOR,
            1,
        )
        .map_err(failed(assistant))?;
    run_trial(
        &store,
        &Trial {
            key: "assistant-prompt-v2",
            model: assistant,
            hypothesis: "Prompt v2 resolves more chats without escalating more.",
            control: Some("prompt-v1"),
            arms: treatment(
                "prompt-v2",
                &[("resolved", 1.15), ("escalation", 0.95)],
                1.0,
                SimOutputs::Bimodal,
            ),
            began_days_ago: 20,
            units: 30_000,
            primary: "resolution_rate",
            guardrails: &["escalations"],
            proxies: &[],
            seed: 90,
            design: None,
        },
        now,
    )?;
    promote(&store, assistant, "prompt-v2", "assistant-prompt-v2")?;

    // Suggested replies, shown only where the assistant is confident (30% of chats): Booking's
    // C/T1/T2 design. C never calls the model; T1 calls it and shows the suggestion where the
    // criterion holds; T2 calls it and never shows it. T1 vs T2 on triggered chats decides.
    let suggestion_lifts: [&[(&str, f64)]; 2] = [&[("resolved", 1.2)], &[]];
    run_trial(
        &store,
        &Trial {
            key: "assistant-suggested-replies",
            model: assistant,
            hypothesis: "Suggested replies, where the assistant is confident, resolve more chats.",
            control: None,
            arms: ["t1", "t2"]
                .into_iter()
                .zip(suggestion_lifts)
                .map(|(name, lifts)| Arm {
                    name: name.to_string(),
                    version: Some("prompt-v2"),
                    lifts,
                    latency: 1.0,
                    outputs: SimOutputs::Bimodal,
                    added_latency_ms: None,
                })
                .collect(),
            began_days_ago: 14,
            units: 36_000,
            primary: "resolution_rate",
            guardrails: &["escalations"],
            proxies: &[],
            seed: 97,
            design: Some((Design::CT1T2, 0.3)),
        },
        now,
    )?;

    let key = store
        .create_key(
            &KeySpec {
                name: Some("demo admin".to_string()),
                ..KeySpec::scopes(Scope::Admin)
            },
            LOCAL_ACTOR,
        )
        .map_err(failed("the admin key"))?;
    let ranker_view = store.get_model(ranker).map_err(failed(ranker))?;
    println!(
        "Demo written to {} in {:.1} s: {} trials, {} events.",
        args.db.display(),
        started.elapsed().as_secs_f64(),
        store.list_experiments().map_err(failed("experiments"))?.len(),
        store.event_count().map_err(failed("events"))?
    );
    println!(
        "hotel-ranker: production {}; v7 (+3% offline AUC) {} by the gate; v8 won and was promoted.",
        ranker_view.production.as_deref().unwrap_or("none"),
        if v7_blocked {
            "refused"
        } else {
            "NOT refused (unexpected)"
        }
    );
    println!(
        "Next: rctgate serve --db {} and open http://127.0.0.1:8080/ (log in with the key below).",
        args.db.display()
    );
    println!(
        "Try: rctgate analyze ranker-v7 --db {}   and   rctgate ledger --db {}",
        args.db.display(),
        args.db.display()
    );
    println!("Admin key (shown once; the last line):");
    println!("{}", key.key);
    Ok(())
}
