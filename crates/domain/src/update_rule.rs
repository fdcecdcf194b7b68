//! What may change in an experiment that already exists (SPEC §5).
//!
//! Assignment hashes a unit with the seed, then maps the hash to bucket ranges built from the
//! weights, the variants' order and the coverage. Changing any of these while an experiment
//! runs moves units that were already treated into another arm, which breaks the
//! randomization the whole trial rests on. Growing the coverage only adds new units (their
//! hashes fall in ranges that were unused), so it is the one allowed change.
//!
//! Beyond SPEC §5's list, a running experiment also keeps its layer (moving the namespace
//! reshuffles units just like a seed) and its model and model versions: the trial's verdict
//! gates the promotion of exactly the versions it measured, so re-labelling an arm mid-trial
//! would let an untested version borrow another's evidence.

use crate::experiment::Experiment;
use crate::lifecycle::{Refusal, Status};

/// Tolerance when comparing stored and proposed floating-point weights and coverage: JSON and
/// TOML round-trip floats exactly, so this only absorbs noise from hand-edited files.
const SAME_FLOAT: f64 = 1e-12;

/// Whether `proposed` may replace `stored`; `Err` carries the 409 reason.
///
/// Replacing an experiment with an identical definition (server-owned fields aside) is always
/// allowed, even when stopped, so that re-applying an unchanged TOML file is harmless.
pub fn check_replacement(stored: &Experiment, proposed: &Experiment) -> Result<(), Refusal> {
    if stored.key != proposed.key {
        return Err(Refusal::new(format!(
            "The key of experiment {} cannot change to {}; create a new experiment instead.",
            stored.key, proposed.key
        )));
    }
    if same_definition(stored, proposed) {
        return Ok(());
    }
    match stored.status {
        Status::Draft => Ok(()),
        Status::Stopped => Err(Refusal::new(format!(
            "Experiment {} is stopped; a concluded trial cannot be changed.",
            stored.key
        ))),
        Status::Running => check_running_change(stored, proposed),
    }
}

/// Whether two experiments define the same trial, ignoring server-owned fields and whether the
/// seed was written out or defaulted.
pub fn same_definition(a: &Experiment, b: &Experiment) -> bool {
    definition_of(a) == definition_of(b)
}

fn definition_of(experiment: &Experiment) -> Experiment {
    let mut definition = experiment.clone();
    definition.normalize();
    definition.status = Status::Draft;
    definition.created_at = None;
    definition.started_at = None;
    definition.stopped_at = None;
    definition.holdout = None;
    definition
}

fn check_running_change(stored: &Experiment, proposed: &Experiment) -> Result<(), Refusal> {
    let key = &stored.key;
    let refuse = |what: &str| {
        Err(Refusal::new(format!(
            "Experiment {key} is running, so its {what} cannot change: that would move units \
             already treated into another variant. Stop it and start a new experiment instead."
        )))
    };
    if stored.variant_names() != proposed.variant_names() {
        return refuse("variants (their names, number and order)");
    }
    if stored.design != proposed.design {
        return refuse("design");
    }
    let weights_differ = stored
        .variants
        .iter()
        .zip(&proposed.variants)
        .any(|(old, new)| (old.weight - new.weight).abs() > SAME_FLOAT);
    if weights_differ {
        return refuse("weights");
    }
    if stored.effective_seed() != proposed.effective_seed() {
        return refuse("seed");
    }
    if proposed.coverage < stored.coverage - SAME_FLOAT {
        return Err(Refusal::new(format!(
            "Experiment {key} is running, so its coverage may only grow (from {} it cannot go to {}): \
             shrinking it would drop units already treated.",
            stored.coverage, proposed.coverage
        )));
    }
    if stored.layer != proposed.layer {
        return refuse("layer");
    }
    if stored.holds_out_layer != proposed.holds_out_layer {
        return refuse("held-out layer");
    }
    let versions_differ = stored
        .variants
        .iter()
        .zip(&proposed.variants)
        .any(|(old, new)| old.model_version != new.model_version);
    if stored.model != proposed.model || versions_differ {
        return Err(Refusal::new(format!(
            "Experiment {key} is running, so its model and model versions cannot change: the trial's \
             verdict applies only to the versions it measured."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::tests::SPEC_EXAMPLE;
    use crate::experiment::Layer;
    use crate::json::from_json_str;

    fn stored(status: Status) -> Experiment {
        let mut experiment: Experiment = from_json_str(SPEC_EXAMPLE).expect("parses");
        experiment.coverage = 0.5;
        experiment.status = status;
        experiment
    }

    fn reason(stored: &Experiment, proposed: &Experiment) -> String {
        check_replacement(stored, proposed).expect_err("refused").reason
    }

    #[test]
    fn drafts_may_change_anything_but_the_key() {
        let draft = stored(Status::Draft);
        let mut proposed = draft.clone();
        proposed.variants[0].weight = 0.2;
        proposed.variants[1].weight = 0.8;
        proposed.seed = Some("other".into());
        proposed.coverage = 0.1;
        assert_eq!(check_replacement(&draft, &proposed), Ok(()));
        proposed.key = "other".into();
        assert!(reason(&draft, &proposed).contains("key"));
    }

    #[test]
    fn running_refuses_weight_changes() {
        let running = stored(Status::Running);
        let mut proposed = running.clone();
        proposed.variants[0].weight = 0.4;
        proposed.variants[1].weight = 0.6;
        assert!(reason(&running, &proposed).contains("weights"));
    }

    #[test]
    fn running_refuses_seed_changes_but_not_spelling_out_the_default() {
        let mut running = stored(Status::Running);
        running.seed = None;
        let mut proposed = running.clone();
        proposed.seed = Some(running.key.clone());
        assert_eq!(check_replacement(&running, &proposed), Ok(()));
        proposed.seed = Some("new-seed".into());
        assert!(reason(&running, &proposed).contains("seed"));
    }

    #[test]
    fn running_refuses_variant_renames_reorders_and_additions() {
        let running = stored(Status::Running);
        let mut renamed = running.clone();
        renamed.variants[1].name = "candidate".into();
        assert!(reason(&running, &renamed).contains("variants"));
        let mut reordered = running.clone();
        reordered.variants.reverse();
        assert!(reason(&running, &reordered).contains("variants"));
        let mut added = running.clone();
        let mut third = added.variants[1].clone();
        third.name = "t2".into();
        added.variants.push(third);
        assert!(reason(&running, &added).contains("variants"));
    }

    #[test]
    fn running_coverage_may_only_grow() {
        let running = stored(Status::Running);
        let mut grown = running.clone();
        grown.coverage = 0.8;
        assert_eq!(check_replacement(&running, &grown), Ok(()));
        let mut shrunk = running.clone();
        shrunk.coverage = 0.4;
        assert!(reason(&running, &shrunk).contains("coverage"));
    }

    #[test]
    fn running_keeps_layer_model_and_versions() {
        let running = stored(Status::Running);
        let mut moved = running.clone();
        moved.layer = Some(Layer {
            name: "search".into(),
            start: 0.5,
            end: 1.0,
        });
        assert!(reason(&running, &moved).contains("layer"));
        let mut relabelled = running.clone();
        relabelled.variants[1].model_version = Some("v8".into());
        assert!(reason(&running, &relabelled).contains("model"));
    }

    #[test]
    fn running_allows_descriptive_and_analysis_changes() {
        let running = stored(Status::Running);
        let mut proposed = running.clone();
        proposed.hypothesis = "A clearer hypothesis.".into();
        proposed.metrics.secondary.push("revenue".into());
        proposed.analysis.min_days = Some(14);
        proposed.variants[1].payload = serde_json::json!({"m": "v7", "fix": true});
        assert_eq!(check_replacement(&running, &proposed), Ok(()));
    }

    #[test]
    fn stopped_refuses_any_change_but_allows_identical() {
        let stopped = stored(Status::Stopped);
        let mut proposed = stopped.clone();
        proposed.status = Status::Draft;
        proposed.stopped_at = None;
        assert_eq!(check_replacement(&stopped, &proposed), Ok(()));
        proposed.hypothesis = "changed".into();
        assert!(reason(&stopped, &proposed).contains("stopped"));
    }
}
