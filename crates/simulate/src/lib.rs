//! Seeded trial data with known effects (exposures and outcome events, SPEC §6), for the
//! analysis's correctness tests, its benchmark and the demo.
//!
//! Each unit draws a propensity (log-normal, so units differ and CUPED has something to
//! explain), a variant by weight, a first exposure t0 uniformly over the exposure period, and
//! per metric a Poisson number of events with mean `rate * propensity * lift[variant]` spread
//! over its window after t0. The same propensity drives the pre-period, so pre and post
//! values correlate as real behaviour does. Options add what real logs contain: repeated
//! exposures, untriggered units, units that saw two variants, events outside the window and
//! events exactly on its edges.
//!
//! Every unit has its own generator seeded from (seed, unit index), so data is the same on
//! every machine and can be streamed unit by unit without holding millions of events.

pub mod showcase;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, LogNormal, Poisson};
use serde_json::{json, Map, Value};

/// How a metric's events are generated.
#[derive(Debug, Clone)]
pub struct SimMetric {
    /// Event name.
    pub event: String,
    /// Expected events per control unit within `window_hours` (at propensity 1).
    pub rate: f64,
    /// Multiplier of the rate per variant (control first, usually 1.0).
    pub lifts: Vec<f64>,
    /// Event values: `None` sends no value (it counts as 1); `Some((mu, sigma))` draws
    /// log-normal values.
    pub value: Option<(f64, f64)>,
    /// Hours after t0 over which the events fall.
    pub window_hours: f64,
    /// Days before t0 that get pre-period events at the control rate (0: none).
    pub pre_days: u32,
    /// Share of events placed after the window, which the analysis must ignore.
    pub late_share: f64,
}

/// The model's latency, per request: log-normal milliseconds times the variant's multiplier.
#[derive(Debug, Clone)]
pub struct SimLatency {
    /// μ and σ of the log-normal (e^μ ms is the control's median).
    pub mu: f64,
    pub sigma: f64,
    /// Multiplier per variant, control first (1.3: 30% slower).
    pub multipliers: Vec<f64>,
}

/// How a variant's model scores (`model_output` in [0, 1]) are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SimOutputs {
    /// A classifier that separates: half Beta(2, 9), half Beta(9, 2).
    Bimodal,
    /// Scores piled up in the middle: Beta(6, 6).
    Central,
    /// A bimodal classifier whose output is the constant `at` for a `share` of requests (a
    /// broken feature).
    Spike { at: f64, share: f64 },
}

impl SimOutputs {
    fn draw(self, rng: &mut ChaCha8Rng) -> Option<f64> {
        let beta = |a: f64, b: f64, rng: &mut ChaCha8Rng| Beta::new(a, b).ok().map(|d| d.sample(rng));
        let bimodal = |rng: &mut ChaCha8Rng| {
            if rng.gen::<bool>() {
                beta(2.0, 9.0, rng)
            } else {
                beta(9.0, 2.0, rng)
            }
        };
        let value = match self {
            SimOutputs::Bimodal => bimodal(rng),
            SimOutputs::Central => beta(6.0, 6.0, rng),
            SimOutputs::Spike { at, share } => {
                if rng.gen::<f64>() < share {
                    Some(at)
                } else {
                    bimodal(rng)
                }
            }
        };
        value.map(|v| (v * 1e4).round() / 1e4)
    }
}

/// An exposure attribute and the weights of its values.
#[derive(Debug, Clone)]
pub struct SimAttribute {
    /// Attribute name.
    pub name: String,
    /// Values with their relative weights.
    pub values: Vec<(String, f64)>,
}

/// A whole trial.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Experiment key exposures name.
    pub experiment: String,
    /// Variant names and weights (control first).
    pub variants: Vec<(String, f64)>,
    /// Number of units.
    pub units: usize,
    /// Prefix of unit ids (`{prefix}{index}`).
    pub unit_prefix: String,
    /// When exposures start.
    pub start: DateTime<Utc>,
    /// t0 falls uniformly over this many days from `start`.
    pub exposure_days: f64,
    /// Metrics.
    pub metrics: Vec<SimMetric>,
    /// Extra exposures per unit: each unit gets 0..=this many more, after t0.
    pub repeat_exposures: u32,
    /// Share of units marked triggered; the rest carry `triggered: false`, and their first
    /// exposure is untriggered (a triggered one may follow). 1.0 marks every exposure.
    pub triggered_share: f64,
    /// The lifts apply to triggered units only (a model that changes what only some users
    /// see); the others behave as control's.
    pub lifts_on_triggered_only: bool,
    /// Arms whose exposures never say whether they triggered (a design's C, which never calls
    /// the model): their `triggered` is absent.
    pub unmarked_arms: Vec<usize>,
    /// Booking's uncanny valley: units whose first exposure's model output is at least this
    /// get the treatment lifts replaced by `uncanny_lift` (the most confident changes help
    /// least, or hurt).
    pub uncanny_above: Option<f64>,
    /// The lift of the treatment arms above `uncanny_above`.
    pub uncanny_lift: f64,
    /// Share of units that also get an exposure to another variant (to be excluded).
    pub two_variant_share: f64,
    /// Exposure attribute for segments.
    pub attribute: Option<SimAttribute>,
    /// `latency_ms` on every exposure, drawn from a generator of its own, so a scenario's other
    /// events are the same with or without it.
    pub latency: Option<SimLatency>,
    /// `model_output` on every exposure, per variant (control first), also from a generator
    /// of its own.
    pub outputs: Option<Vec<SimOutputs>>,
    /// Adds, for every 10th unit, events exactly at t0, at t0 + window (excluded) and at t0 -
    /// pre_days (included in the pre-period).
    pub edge_events: bool,
    /// Random seed.
    pub seed: u64,
}

impl Scenario {
    /// A two-arm scenario with the given metrics and sensible defaults.
    pub fn two_arms(
        experiment: &str,
        units: usize,
        start: DateTime<Utc>,
        metrics: Vec<SimMetric>,
    ) -> Scenario {
        Scenario {
            experiment: experiment.to_string(),
            variants: vec![("control".to_string(), 0.5), ("treatment".to_string(), 0.5)],
            units,
            unit_prefix: "u".to_string(),
            start,
            exposure_days: 14.0,
            metrics,
            repeat_exposures: 0,
            triggered_share: 1.0,
            lifts_on_triggered_only: false,
            unmarked_arms: Vec::new(),
            uncanny_above: None,
            uncanny_lift: 1.0,
            two_variant_share: 0.0,
            attribute: None,
            latency: None,
            outputs: None,
            edge_events: false,
            seed: 1,
        }
    }
}

/// One generated event.
#[derive(Debug, Clone, PartialEq)]
pub enum SimEvent {
    /// An exposure.
    Exposure {
        /// Event id.
        id: String,
        /// Unit id.
        unit: String,
        /// Variant name.
        variant: String,
        /// When.
        ts: DateTime<Utc>,
        /// Whether the model changed what the unit saw; `None` for an arm that never evaluates
        /// the criterion (`Scenario::unmarked_arms`).
        triggered: Option<bool>,
        /// Exposure attributes.
        attributes: Vec<(String, String)>,
        /// The model's latency for this request, in milliseconds.
        latency_ms: Option<f64>,
        /// The model's score for this request.
        model_output: Option<f64>,
    },
    /// An outcome event.
    Metric {
        /// Event id.
        id: String,
        /// Unit id.
        unit: String,
        /// Event name.
        event: String,
        /// When.
        ts: DateTime<Utc>,
        /// Value; `None` counts as 1.
        value: Option<f64>,
    },
}

fn format_ts(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl SimEvent {
    /// The event as SPEC §6 JSON; `experiment` fills the exposure's experiment field.
    pub fn to_json(&self, experiment: &str) -> Value {
        match self {
            SimEvent::Exposure {
                id,
                unit,
                variant,
                ts,
                triggered,
                attributes,
                latency_ms,
                model_output,
            } => {
                let mut event = json!({
                    "type": "exposure", "id": id, "unit": unit, "experiment": experiment,
                    "variant": variant, "ts": format_ts(*ts),
                });
                if let Some(triggered) = triggered {
                    event["triggered"] = json!(triggered);
                }
                if let Some(latency) = latency_ms {
                    event["latency_ms"] = json!(latency);
                }
                if let Some(output) = model_output {
                    event["model_output"] = json!(output);
                }
                if !attributes.is_empty() {
                    let map: Map<String, Value> = attributes
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect();
                    event["attributes"] = Value::Object(map);
                }
                event
            }
            SimEvent::Metric {
                id,
                unit,
                event,
                ts,
                value,
            } => {
                let mut json = json!({
                    "type": "metric", "id": id, "unit": unit, "event": event, "ts": format_ts(*ts),
                });
                if let Some(value) = value {
                    json["value"] = json!(value);
                }
                json
            }
        }
    }

    /// The header of [`SimEvent::csv_row`] files (the SPEC §6 import columns plus one
    /// attribute column).
    pub fn csv_header(attribute: Option<&str>) -> String {
        let mut header =
            "type,id,unit,experiment,variant,ts,triggered,event,value,latency_ms,model_output".to_string();
        if let Some(name) = attribute {
            header.push(',');
            header.push_str(name);
        }
        header
    }

    /// One CSV row (no quoting needed: generated ids and names have no commas).
    pub fn csv_row(&self, experiment: &str, attribute: Option<&str>) -> String {
        match self {
            SimEvent::Exposure {
                id,
                unit,
                variant,
                ts,
                triggered,
                attributes,
                latency_ms,
                model_output,
            } => {
                let latency = latency_ms.map(|v| v.to_string()).unwrap_or_default();
                let output = model_output.map(|v| v.to_string()).unwrap_or_default();
                let triggered = triggered.map(|t| t.to_string()).unwrap_or_default();
                let mut row = format!(
                    "exposure,{id},{unit},{experiment},{variant},{},{triggered},,,{latency},{output}",
                    format_ts(*ts)
                );
                if let Some(name) = attribute {
                    row.push(',');
                    if let Some((_, value)) = attributes.iter().find(|(k, _)| k == name) {
                        row.push_str(value);
                    }
                }
                row
            }
            SimEvent::Metric {
                id,
                unit,
                event,
                ts,
                value,
            } => {
                let value = value.map(|v| v.to_string()).unwrap_or_default();
                let mut row = format!("metric,{id},{unit},,,{},,{event},{value},,", format_ts(*ts));
                if attribute.is_some() {
                    row.push(',');
                }
                row
            }
        }
    }
}

/// The events of unit `index`, exposures first.
pub fn unit_events(scenario: &Scenario, index: usize) -> Vec<SimEvent> {
    let mut rng = ChaCha8Rng::seed_from_u64(scenario.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index as u64);
    let unit = format!("{}{index}", scenario.unit_prefix);
    let mut events = Vec::new();
    let mut next_id = 0usize;
    let mut id = || {
        next_id += 1;
        format!("{unit}-{next_id}")
    };
    let variant = pick(&mut rng, scenario.variants.iter().map(|(_, w)| *w));
    let micros = |days: f64| Duration::microseconds((days * 86_400e6) as i64);
    let t0 = scenario.start + micros(rng.gen::<f64>() * scenario.exposure_days);
    let attributes: Vec<(String, String)> = scenario
        .attribute
        .iter()
        .map(|attribute| {
            let value = pick(&mut rng, attribute.values.iter().map(|(_, w)| *w));
            (attribute.name.clone(), attribute.values[value].0.clone())
        })
        .collect();
    let triggered = rng.gen::<f64>() < scenario.triggered_share;
    let all_triggered = scenario.triggered_share >= 1.0;
    let mut latency_rng =
        ChaCha8Rng::seed_from_u64(scenario.seed.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ index as u64);
    let mut output_rng =
        ChaCha8Rng::seed_from_u64(scenario.seed.wrapping_mul(0x94D0_49BB_1331_11EB) ^ index as u64);
    let mut exposure = |id: String, variant: usize, ts: DateTime<Utc>, triggered: bool| SimEvent::Exposure {
        id,
        unit: unit.clone(),
        variant: scenario.variants[variant].0.clone(),
        ts,
        triggered: (!scenario.unmarked_arms.contains(&variant)).then_some(triggered),
        attributes: attributes.clone(),
        latency_ms: scenario.latency.as_ref().and_then(|latency| {
            let multiplier = latency.multipliers.get(variant).copied().unwrap_or(1.0);
            LogNormal::new(latency.mu, latency.sigma)
                .ok()
                .map(|d| (d.sample(&mut latency_rng) * multiplier * 100.0).round() / 100.0)
        }),
        model_output: scenario
            .outputs
            .as_ref()
            .and_then(|outputs| outputs.get(variant))
            .and_then(|outputs| outputs.draw(&mut output_rng)),
    };
    // A triggered unit that is not triggered everywhere sees an untriggered exposure first,
    // so its triggered t0 comes later than its first exposure.
    events.push(exposure(id(), variant, t0, all_triggered));
    let first_output = match events.last() {
        Some(SimEvent::Exposure { model_output, .. }) => *model_output,
        _ => None,
    };
    let uncanny = variant > 0
        && matches!((scenario.uncanny_above, first_output), (Some(above), Some(output)) if output >= above);
    let mut triggered_at = t0;
    if triggered && !all_triggered {
        triggered_at = t0 + micros(rng.gen::<f64>() * 0.5);
        events.push(exposure(id(), variant, triggered_at, true));
    }
    for _ in 0..rng.gen_range(0..=scenario.repeat_exposures) {
        let at = t0 + micros(rng.gen::<f64>() * 3.0);
        events.push(exposure(id(), variant, at, triggered && at >= triggered_at));
    }
    if scenario.variants.len() > 1 && rng.gen::<f64>() < scenario.two_variant_share {
        let other = (variant + 1) % scenario.variants.len();
        events.push(exposure(id(), other, t0 + micros(rng.gen::<f64>()), triggered));
    }
    let propensity = LogNormal::new(-0.125, 0.5).map_or(1.0, |d| d.sample(&mut rng));
    for metric in &scenario.metrics {
        let lift = if scenario.lifts_on_triggered_only && !triggered {
            1.0
        } else if uncanny {
            scenario.uncanny_lift
        } else {
            metric.lifts.get(variant).copied().unwrap_or(1.0)
        };
        let window_days = metric.window_hours / 24.0;
        let value = |rng: &mut ChaCha8Rng| {
            metric
                .value
                .and_then(|(mu, sigma)| LogNormal::new(mu, sigma).ok())
                .map(|d| (d.sample(rng) * 100.0).round() / 100.0)
        };
        let mut push = |rng: &mut ChaCha8Rng, ts: DateTime<Utc>| {
            let value = value(rng);
            events.push(SimEvent::Metric {
                id: id(),
                unit: unit.clone(),
                event: metric.event.clone(),
                ts,
                value,
            })
        };
        let start = if triggered && !all_triggered {
            triggered_at
        } else {
            t0
        };
        for _ in 0..poisson(&mut rng, metric.rate * propensity * lift) {
            let offset = if rng.gen::<f64>() < metric.late_share {
                window_days * (1.0 + rng.gen::<f64>())
            } else {
                window_days * rng.gen::<f64>()
            };
            push(&mut rng, start + micros(offset));
        }
        if metric.pre_days > 0 {
            let pre_mean = metric.rate * propensity * f64::from(metric.pre_days) / window_days;
            for _ in 0..poisson(&mut rng, pre_mean) {
                let offset = f64::from(metric.pre_days) * rng.gen::<f64>();
                push(&mut rng, t0 - micros(offset) - Duration::microseconds(1));
            }
        }
        if scenario.edge_events && index.is_multiple_of(10) {
            push(&mut rng, t0);
            push(&mut rng, t0 + micros(window_days));
            if metric.pre_days > 0 {
                push(&mut rng, t0 - micros(f64::from(metric.pre_days)));
            }
        }
    }
    events
}

/// Every event of the scenario, unit by unit.
pub fn events(scenario: &Scenario) -> impl Iterator<Item = SimEvent> + '_ {
    (0..scenario.units).flat_map(move |index| unit_events(scenario, index))
}

fn pick(rng: &mut ChaCha8Rng, weights: impl Iterator<Item = f64> + Clone) -> usize {
    let total: f64 = weights.clone().sum();
    let mut draw = rng.gen::<f64>() * total;
    let mut last = 0;
    for (i, weight) in weights.enumerate() {
        last = i;
        if draw < weight {
            return i;
        }
        draw -= weight;
    }
    last
}

fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    Poisson::new(mean).map_or(0, |d| d.sample(rng) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario() -> Scenario {
        let start = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").map(|t| t.with_timezone(&Utc));
        let metric = SimMetric {
            event: "booking".into(),
            rate: 0.5,
            lifts: vec![1.0, 1.2],
            value: None,
            window_hours: 168.0,
            pre_days: 0,
            late_share: 0.0,
        };
        Scenario::two_arms("t", 20_000, start.unwrap_or_default(), vec![metric])
    }

    #[test]
    fn the_same_seed_gives_the_same_events() {
        let s = scenario();
        assert_eq!(unit_events(&s, 7), unit_events(&s, 7));
        assert_ne!(unit_events(&s, 7), unit_events(&s, 8));
    }

    #[test]
    fn the_lift_shows_in_the_event_counts() {
        let s = scenario();
        let mut exposed = [0usize; 2];
        let mut events = [0usize; 2];
        for index in 0..s.units {
            let unit = unit_events(&s, index);
            let arm = match &unit[0] {
                SimEvent::Exposure { variant, .. } => usize::from(variant == "treatment"),
                SimEvent::Metric { .. } => unreachable!("exposures come first"),
            };
            exposed[arm] += 1;
            events[arm] += unit.len() - 1;
        }
        let rate = |arm: usize| events[arm] as f64 / exposed[arm] as f64;
        assert!((rate(1) / rate(0) - 1.2).abs() < 0.05, "{} {}", rate(0), rate(1));
    }
}
