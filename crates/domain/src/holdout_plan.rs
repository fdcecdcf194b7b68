//! The holdout experiment a promotion starts (`promote --holdout`), built from the trial that
//! justified the promotion; what it holds out is [`crate::holdout::Holdout`].

use crate::analysis::{Analysis, Method};
use crate::experiment::{Experiment, MetricRoles, Variant};
use crate::holdout::{Holdout, HOLDOUT_ARM, PRODUCTION_ARM};
use crate::lifecycle::Status;

/// Everything a holdout experiment is built from.
pub struct HoldoutPlan<'a> {
    /// What is held out.
    pub holdout: Holdout,
    /// The trial that promoted the version (metrics and analysis settings come from it).
    pub trial: &'a Experiment,
    /// What the previous and the promoted version serve (the trial's arm payloads, or the
    /// versions' registered payloads).
    pub previous_payload: serde_json::Value,
    pub payload: serde_json::Value,
}

impl HoldoutPlan<'_> {
    /// The holdout experiment, running, under `key`.
    pub fn experiment(self, key: String) -> Experiment {
        let HoldoutPlan {
            holdout,
            trial,
            previous_payload,
            payload,
        } = self;
        let analysis = Analysis {
            method: Method::Sequential,
            // The holdout measures everyone the model serves; it has no plan and ends when
            // someone ends it.
            triggered_only: false,
            planned_units: None,
            min_days: None,
            start: None,
            end: None,
            ..trial.analysis.clone()
        };
        Experiment {
            key,
            hypothesis: format!(
                "Holdout of {model} {version}: {percent}% of units stay on {previous}, so the lift that trial {trial} measured is watched after the launch.",
                model = holdout.model,
                version = holdout.version,
                percent = holdout.share * 100.0,
                previous = holdout.previous,
                trial = holdout.trial,
            ),
            model: Some(holdout.model.clone()),
            seed: None,
            coverage: 1.0,
            layer: None,
            design: Default::default(),
            variants: vec![
                Variant {
                    name: HOLDOUT_ARM.to_string(),
                    weight: holdout.share,
                    model_version: Some(holdout.previous.clone()),
                    payload: previous_payload,
                },
                Variant {
                    name: PRODUCTION_ARM.to_string(),
                    weight: 1.0 - holdout.share,
                    model_version: Some(holdout.version.clone()),
                    payload,
                },
            ],
            metrics: MetricRoles {
                primary: trial.metrics.primary.clone(),
                guardrails: trial.metrics.guardrails.clone(),
                proxies: Vec::new(),
                secondary: Vec::new(),
            },
            analysis,
            forced: Default::default(),
            ofrep_exposures: true,
            holds_out_layer: None,
            status: Status::Running,
            created_at: None,
            started_at: None,
            stopped_at: None,
            holdout: Some(holdout),
        }
    }
}
