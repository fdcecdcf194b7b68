//! Assignment without the database: `/v1/decide` reads an in-memory snapshot
//! of the running experiments, swapped whole whenever one changes, and hands
//! exposures to a bounded queue that a background task writes through the
//! same durable path as `POST /v1/events`.
//!
//! Why: a model service asks on every request, and latency costs conversions
//! (Booking measured about 0.5% per 30% more latency), so a decision is a
//! hash and a table lookup, never a query.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Instant;

use rctgate_assign::{Assigner, ExperimentConfig, Layer};
use rctgate_domain::{EventBatch, EventRecord, EventTime, EventType, Experiment, Status};
use rctgate_store::Store;
use serde_json::Value;
use tokio::sync::mpsc;

/// One running experiment, ready to assign.
pub struct RunningExperiment {
    pub key: String,
    assigner: Assigner,
    /// Variant names and payloads, control first.
    variants: Vec<(String, Value)>,
    /// `/v1/decide`'s JSON for each variant when in the experiment, rendered
    /// once per snapshot: deciding all of many experiments then costs a hash
    /// and a copy each, not a payload clone and its serialization.
    rendered_in: Vec<String>,
    /// The same for a unit outside the experiment (control, `in_experiment: false`).
    rendered_out: String,
    /// The longest of those, to size a response without scanning them on every request.
    rendered_len: usize,
    /// Whether OFREP evaluations log exposures.
    pub ofrep_exposures: bool,
    /// The global holdout of this experiment's layer, if one runs.
    held_out_by: Option<HeldOut>,
    /// This experiment as a GrowthBook SDK feature (`/api/features/{client_key}`).
    growthbook_feature: Value,
}

/// A layer's running global holdout, as the experiments of the layer consult it.
struct HeldOut {
    /// The holdout experiment's assigner: its control arm holds units out.
    assigner: Assigner,
    /// Where the holdout experiment is in the snapshot.
    index: usize,
}

impl HeldOut {
    fn holds_out(&self, unit: &str) -> bool {
        self.assigner.decide(unit).variant == Some(0)
    }
}

/// One assignment as `/v1/decide` answers it (SPEC §4).
#[derive(serde::Serialize)]
struct RenderedAssignment<'a> {
    experiment: &'a str,
    variant: &'a str,
    variant_index: usize,
    in_experiment: bool,
    payload: &'a Value,
}

fn render(key: &str, variants: &[(String, Value)], index: usize, in_experiment: bool) -> String {
    let (variant, payload) = &variants[index];
    let assignment = RenderedAssignment {
        experiment: key,
        variant,
        variant_index: index,
        in_experiment,
        payload,
    };
    // Serializing strings and JSON values into a String cannot fail.
    serde_json::to_string(&assignment).unwrap_or_default()
}

/// What one unit gets in one experiment.
pub struct Decision<'a> {
    pub experiment: &'a str,
    pub variant: &'a str,
    pub variant_index: usize,
    pub in_experiment: bool,
    /// Pinned for QA: served its arm, but no exposure is logged.
    pub forced: bool,
    pub payload: &'a Value,
    /// This decision as `/v1/decide` JSON.
    pub rendered: &'a str,
}

impl Decision<'_> {
    /// Whether this decision is an exposure worth logging.
    pub fn exposes(&self) -> bool {
        self.in_experiment && !self.forced
    }
}

/// `experiment` as a GrowthBook feature: the control payload by default, one `force` rule per
/// QA pin (their units are served their arm and not tracked, as `/v1/decide` logs no exposure
/// for them), then one experiment rule with the experiment's key, seed, hash version 2,
/// coverage, weights, layer as namespace and the payloads as variations, hashed on `id`.
fn growthbook_feature(experiment: &Experiment) -> Value {
    let payload = |name: &str| {
        experiment
            .variants
            .iter()
            .find(|variant| variant.name == name)
            .map(|variant| variant.payload.clone())
    };
    let mut rules: Vec<Value> = experiment
        .forced
        .iter()
        .filter_map(|(unit, name)| {
            Some(serde_json::json!({"condition": {"id": unit}, "force": payload(name)?}))
        })
        .collect();
    let mut rule = serde_json::json!({
        "key": experiment.key,
        "seed": experiment.effective_seed(),
        "hashVersion": 2,
        "hashAttribute": "id",
        "coverage": experiment.coverage,
        "weights": experiment.variants.iter().map(|v| v.weight).collect::<Vec<f64>>(),
        "variations": experiment.variants.iter().map(|v| v.payload.clone()).collect::<Vec<Value>>(),
        "meta": experiment.variants.iter().enumerate()
            .map(|(index, v)| serde_json::json!({"key": index.to_string(), "name": v.name}))
            .collect::<Vec<Value>>(),
        "name": experiment.key,
    });
    if let Some(layer) = &experiment.layer {
        rule["namespace"] = serde_json::json!([layer.name, layer.start, layer.end]);
    }
    rules.push(rule);
    let default = experiment
        .variants
        .first()
        .map(|v| v.payload.clone())
        .unwrap_or(Value::Null);
    serde_json::json!({"defaultValue": default, "rules": rules})
}

/// The experiment's assigner; `None` (logged) for a definition validation should have refused.
fn assigner_of(experiment: &Experiment) -> Option<Assigner> {
    let mut config = ExperimentConfig::new(experiment.key.clone(), experiment.variants.len());
    config.seed = Some(experiment.effective_seed().to_string());
    config.weights = Some(experiment.variants.iter().map(|v| v.weight).collect());
    config.coverage = Some(experiment.coverage);
    config.layer = experiment
        .layer
        .as_ref()
        .map(|l| Layer::new(l.name.clone(), l.start, l.end));
    config.forced = experiment
        .forced
        .iter()
        .filter_map(|(unit, name)| {
            let index = experiment.variants.iter().position(|v| &v.name == name)?;
            Some((unit.clone(), index))
        })
        .collect();
    match Assigner::new(&config) {
        Ok(assigner) => Some(assigner),
        Err(err) => {
            // Validation makes this unreachable; never serve a broken config.
            tracing::error!(experiment = %experiment.key, error = %err, "experiment cannot be assigned");
            None
        }
    }
}

impl RunningExperiment {
    fn compile(experiment: &Experiment) -> Option<Self> {
        let assigner = assigner_of(experiment)?;
        let variants: Vec<(String, Value)> = experiment
            .variants
            .iter()
            .map(|v| (v.name.clone(), v.payload.clone()))
            .collect();
        let key = experiment.key.clone();
        let rendered_in: Vec<String> = (0..variants.len())
            .map(|i| render(&key, &variants, i, true))
            .collect();
        let rendered_out = render(&key, &variants, 0, false);
        let rendered_len = rendered_in
            .iter()
            .map(String::len)
            .chain([rendered_out.len()])
            .max()
            .unwrap_or(0);
        Some(Self {
            key,
            assigner,
            variants,
            rendered_in,
            rendered_out,
            rendered_len,
            ofrep_exposures: experiment.ofrep_exposures,
            held_out_by: None,
            growthbook_feature: growthbook_feature(experiment),
        })
    }

    /// The experiment as a GrowthBook SDK feature, or `None` when an SDK could not put units
    /// where `/v1/decide` does: a layer's global holdout keeps units out of the experiment
    /// by a second hash, which the SDK's rules do not express.
    pub fn growthbook_feature(&self) -> Option<&Value> {
        self.held_out_by.is_none().then_some(&self.growthbook_feature)
    }

    /// The longest rendered decision, to size a response.
    pub fn rendered_len(&self) -> usize {
        self.rendered_len
    }

    /// A unit outside coverage or its layer range gets control's payload and
    /// `in_experiment: false`.
    /// So does a unit its layer's global holdout keeps out (QA pins still apply).
    pub fn decide(&self, unit: &str) -> Decision<'_> {
        self.decision(self.assigner.decide(unit), unit)
    }

    /// What [`RunningExperiment::decide`] answers for the assigner's `decision` of `unit`.
    fn decision(&self, decision: rctgate_assign::Decision, unit: &str) -> Decision<'_> {
        let forced = decision.reason == rctgate_assign::Reason::Forced;
        // Only a unit the experiment would take is looked up in the holdout: the others get
        // control anyway, and deciding all of a layer's experiments stays one hash each.
        let held_out = decision.variant.is_some()
            && !forced
            && self.held_out_by.as_ref().is_some_and(|h| h.holds_out(unit));
        let index = decision.variant.filter(|i| *i < self.variants.len() && !held_out);
        let (name, payload) = &self.variants[index.unwrap_or(0)];
        Decision {
            experiment: &self.key,
            variant: name,
            variant_index: index.unwrap_or(0),
            in_experiment: index.is_some(),
            forced,
            payload,
            rendered: match index {
                Some(i) => &self.rendered_in[i],
                None => &self.rendered_out,
            },
        }
    }
}

/// Decides `unit` in each of `experiments`, in order, calling `visit` with each decision:
/// the same decisions as [`RunningExperiment::decide`] on each, with the hashing shared
/// across experiments ([`rctgate_assign::decide_each`]): deciding all of 100 running
/// experiments is mostly hashing.
pub fn decide_each<'a>(
    experiments: &[&'a RunningExperiment],
    unit: &str,
    mut visit: impl FnMut(Decision<'a>),
) {
    rctgate_assign::decide_each(experiments.iter().map(|e| &e.assigner), unit, |i, decision| {
        visit(experiments[i].decision(decision, unit));
    });
}

/// The running experiments at one moment.
#[derive(Default)]
pub struct Snapshot {
    experiments: Vec<RunningExperiment>,
    by_key: HashMap<String, usize>,
    /// Changes with every replacement; part of OFREP's bulk ETag.
    pub generation: u64,
}

impl Snapshot {
    pub fn build(experiments: &[Experiment]) -> Self {
        let mut compiled: Vec<(&Experiment, RunningExperiment)> = experiments
            .iter()
            .filter(|e| e.status == Status::Running)
            .filter_map(|e| Some((e, RunningExperiment::compile(e)?)))
            .collect();
        // Each layer's global holdout (the store starts at most one per layer), handed to
        // every experiment of the layer.
        let holdouts: HashMap<&str, (usize, Assigner)> = compiled
            .iter()
            .enumerate()
            .filter_map(|(index, (definition, running))| {
                let layer = definition.holds_out_layer.as_deref()?;
                Some((layer, (index, running.assigner.clone())))
            })
            .collect();
        for (definition, running) in &mut compiled {
            let layer = definition.layer.as_ref().map(|l| l.name.as_str());
            if let Some((index, assigner)) = layer.and_then(|name| holdouts.get(name)) {
                running.held_out_by = Some(HeldOut {
                    assigner: assigner.clone(),
                    index: *index,
                });
            }
        }
        let experiments: Vec<RunningExperiment> = compiled.into_iter().map(|(_, running)| running).collect();
        let by_key = experiments
            .iter()
            .enumerate()
            .map(|(i, e)| (e.key.clone(), i))
            .collect();
        Self {
            experiments,
            by_key,
            generation: 0,
        }
    }

    pub fn all(&self) -> &[RunningExperiment] {
        &self.experiments
    }

    pub fn get(&self, key: &str) -> Option<&RunningExperiment> {
        self.by_key.get(key).map(|&i| &self.experiments[i])
    }

    /// The global holdouts of the layers of `decided` that are not among them: a unit decided
    /// in a layer's experiment is exposed to its layer's holdout too, or the holdout's
    /// analysis would miss the units of clients that ask for one experiment at a time.
    pub fn holdouts_beside<'a>(&'a self, decided: &[&'a RunningExperiment]) -> Vec<&'a RunningExperiment> {
        let mut holdouts: Vec<&RunningExperiment> = Vec::new();
        for experiment in decided {
            let Some(held_out) = &experiment.held_out_by else {
                continue;
            };
            let holdout = &self.experiments[held_out.index];
            let listed = |e: &&RunningExperiment| e.key == holdout.key;
            if !decided.iter().any(listed) && !holdouts.iter().any(listed) {
                holdouts.push(holdout);
            }
        }
        holdouts
    }
}

/// The current snapshot, replaced atomically (readers keep the one they hold).
#[derive(Default)]
pub struct Assignments(RwLock<Arc<Snapshot>>);

impl Assignments {
    pub fn current(&self) -> Arc<Snapshot> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace(&self, mut snapshot: Snapshot) {
        let mut current = self.0.write().unwrap_or_else(|e| e.into_inner());
        snapshot.generation = current.generation + 1;
        *current = Arc::new(snapshot);
    }

    /// Rebuilds from the store's experiments.
    pub fn reload(&self, store: &Store) -> Result<(), rctgate_store::StoreError> {
        self.replace(Snapshot::build(&store.list_experiments()?));
        Ok(())
    }
}

/// How long a logged exposure makes the same (experiment, variant, unit) a repeat.
const REPEAT_HORIZON: std::time::Duration = std::time::Duration::from_secs(30 * 60);
/// Keys remembered per shard and generation at most (16 shards, 2 generations: at most
/// 8M keys, 64 MiB).
const REPEAT_SHARD_CAPACITY: usize = 250_000;

/// Exposures logged recently, so that a unit deciding again (every page view of a user) is
/// not written again: GrowthBook's SDKs track an experiment once per user the same way.
/// The analysis needs only a unit's first exposure (t0, its attributes, its variant); a
/// repeat in another variant is a different key and is logged, so units in two variants
/// are still caught. Keys are 64-bit hashes (a collision, about 1 in 10^7 at a million
/// units, would drop one unit's repeat-looking exposure). Two generations rotate every half
/// horizon, so a unit is logged again within an hour at most: moving `analysis.start`
/// later still finds units that keep coming.
///
/// This check runs on every decision that exposes, so it is kept cheap: the key is a
/// foldhash of the three strings, seeded at random per process (so colliding ids cannot be
/// worked out in advance), and the sets use that key as their own hash instead of hashing
/// it again.
struct RecentExposures {
    hasher: foldhash::quality::RandomState,
    shards: Vec<Mutex<Generations>>,
}

type KeySet = HashSet<u64, BuildHasherDefault<PreHashed>>;

struct Generations {
    current: KeySet,
    previous: KeySet,
    rotated: Instant,
}

/// The hasher of a set whose `u64` keys are already seeded hashes: it passes them through.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }

    /// Only `u64` keys are hashed here; anything else is folded in, never trusted as is.
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
}

impl RecentExposures {
    fn new() -> Self {
        RecentExposures {
            hasher: foldhash::quality::RandomState::default(),
            shards: (0..16)
                .map(|_| {
                    Mutex::new(Generations {
                        current: KeySet::default(),
                        previous: KeySet::default(),
                        rotated: Instant::now(),
                    })
                })
                .collect(),
        }
    }

    /// A triggered exposure is not a repeat of an untriggered one (it marks the unit as
    /// triggered), so whether it triggered is part of the key.
    fn key(&self, experiment: &str, variant: &str, unit: &str, triggered: Option<bool>) -> u64 {
        self.hasher.hash_one((experiment, variant, unit, triggered))
    }

    fn shard(&self, key: u64) -> MutexGuard<'_, Generations> {
        // The top bits pick the shard; the sets index by the low bits.
        let shard = &self.shards[(key >> 60) as usize % self.shards.len()];
        let mut generations = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if generations.rotated.elapsed() > REPEAT_HORIZON / 2
            || generations.current.len() >= REPEAT_SHARD_CAPACITY
        {
            generations.previous = std::mem::take(&mut generations.current);
            generations.rotated = Instant::now();
        }
        generations
    }

    fn seen(&self, key: u64) -> bool {
        let generations = self.shard(key);
        generations.current.contains(&key) || generations.previous.contains(&key)
    }

    fn remember(&self, key: u64) {
        self.shard(key).current.insert(key);
    }
}

/// Lowers the calling thread's scheduling priority (Linux: `nice` is per thread, and the
/// calling "process" of `setpriority` is the calling thread).
fn lower_priority() {
    #[cfg(unix)]
    if rustix::process::setpriority_process(None, 10).is_err() {
        tracing::debug!("could not lower the exposure writer's priority");
    }
}

/// What happened to an offered exposure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// Queued for the durable write.
    Queued,
    /// Logged recently for the same experiment, variant and unit; not written again.
    Repeat,
    /// The queue was full (counted in `/metrics`).
    Dropped,
}

/// Exposures waiting to be written; bounded, so a slow disk shows up as
/// `exposures_dropped` in responses and `/metrics`, never as memory growth.
pub struct ExposureQueue {
    sender: mpsc::Sender<EventRecord>,
    recent: RecentExposures,
    pub repeats: AtomicU64,
    pub dropped: AtomicU64,
    pub written: Arc<AtomicU64>,
    pub failed: Arc<AtomicU64>,
}

/// Exposures written per transaction at most.
const WRITE_BATCH: usize = 5_000;

impl ExposureQueue {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Arc<Store>, capacity: usize) -> Self {
        let (sender, mut receiver) = mpsc::channel::<EventRecord>(capacity.max(1));
        let written = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let (w, f) = (written.clone(), failed.clone());
        // A thread of its own at a lower scheduling priority: writing exposures is
        // background work, and on a busy machine the requests should win the CPU (it kept
        // decide's p99 latency down while the first exposures of a load were written).
        let spawned = std::thread::Builder::new()
            .name("exposure-writer".into())
            .spawn(move || {
                lower_priority();
                while let Some(first) = receiver.blocking_recv() {
                    let mut records = Vec::with_capacity(WRITE_BATCH);
                    records.push(first);
                    while records.len() < WRITE_BATCH {
                        match receiver.try_recv() {
                            Ok(record) => records.push(record),
                            Err(_) => break,
                        }
                    }
                    let count = records.len() as u64;
                    match store.ingest(EventBatch::from_records(records)) {
                        Ok(_) => w.fetch_add(count, Ordering::Relaxed),
                        Err(err) => {
                            tracing::error!(error = %err, count, "exposures could not be written");
                            f.fetch_add(count, Ordering::Relaxed)
                        }
                    };
                }
            });
        if let Err(err) = spawned {
            // Without a writer every exposure is refused at the queue and counted as dropped.
            tracing::error!(error = %err, "the exposure writer could not start");
        }
        Self {
            sender,
            recent: RecentExposures::new(),
            repeats: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            written,
            failed,
        }
    }

    /// Queues the exposure of `decision` for `unit` unless it repeats a recent one; a full
    /// queue drops it (counted), and it is not remembered, so the unit's next decision offers
    /// it again. A repeat, the common case under steady traffic, is found before the record
    /// is built, so it costs one hash lookup and no allocation.
    pub fn offer(
        &self,
        decision: &Decision<'_>,
        unit: &str,
        attributes: Option<&rctgate_domain::Attributes>,
        triggered: Option<bool>,
    ) -> Offered {
        let key = self
            .recent
            .key(decision.experiment, decision.variant, unit, triggered);
        if self.recent.seen(key) {
            self.repeats.fetch_add(1, Ordering::Relaxed);
            return Offered::Repeat;
        }
        if self
            .sender
            .try_send(exposure(decision, unit, attributes, triggered))
            .is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Offered::Dropped;
        }
        self.recent.remember(key);
        Offered::Queued
    }
}

/// The exposure record of a decision, with a fresh random id.
fn exposure(
    decision: &Decision<'_>,
    unit: &str,
    attributes: Option<&rctgate_domain::Attributes>,
    triggered: Option<bool>,
) -> EventRecord {
    let id: u128 = rand::random();
    EventRecord {
        event_type: EventType::Exposure,
        id: format!("decide-{id:032x}"),
        unit: unit.to_string(),
        ts: EventTime::At(chrono::Utc::now()),
        experiment: Some(decision.experiment.to_string()),
        variant: Some(decision.variant.to_string()),
        triggered,
        model_output: None,
        shadow_output: None,
        latency_ms: None,
        event: None,
        value: None,
        attributes: attributes.filter(|a| !a.is_empty()).cloned(),
    }
}
