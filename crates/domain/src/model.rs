//! Models, their versions, and the gate (SPEC §1, §9): a version reaches production only
//! with the frozen `ship` verdict of a trial against the current production version.

use crate::error::ValidationError;
use crate::names::{check_identifier, check_length, check_text, MAX_NAME_CHARS};
use crate::verdict::Verdict;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest artifact URI, in characters.
pub const MAX_URI_CHARS: usize = 2048;
/// Longest override reason or description, in characters.
pub const MAX_REASON_CHARS: usize = 2000;
/// Most offline metrics on one version.
pub const MAX_OFFLINE_METRICS: usize = 64;

/// A model family (`hotel-ranker`), as sent to `POST /v1/models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewModel {
    /// Unique name.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl NewModel {
    /// Checks the fields.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_identifier("name", &self.name)?;
        if let Some(description) = &self.description {
            check_length("description", description, MAX_REASON_CHARS)?;
        }
        Ok(())
    }
}

/// One version of a model, as sent to `POST /v1/models/{name}/versions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelVersion {
    /// Unique within the model (`v7`).
    pub version: String,
    /// Where the artifact lives (`s3://models/ranker/v7`); free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_uri: Option<String>,
    /// Offline evaluation (`{"auc": 0.94}`): the evidence the ledger sets against business lift.
    #[serde(default)]
    pub offline_metrics: BTreeMap<String, f64>,
    /// Anything the serving side needs (an LLM prompt, a config).
    #[serde(default)]
    pub payload: serde_json::Value,
    /// The histogram of the version's outputs on its training or validation data, against
    /// which its outputs in a trial are compared (a shift by KS distance and PSI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_distribution: Option<crate::Histogram>,
    /// When it was registered (server-owned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
}

impl ModelVersion {
    /// Checks the fields.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_identifier("version", &self.version)?;
        if let Some(uri) = &self.artifact_uri {
            check_text("artifact_uri", uri, MAX_URI_CHARS)?;
        }
        if self.offline_metrics.len() > MAX_OFFLINE_METRICS {
            return Err(ValidationError::new(
                "offline_metrics",
                format!(
                    "Has {} entries; at most {MAX_OFFLINE_METRICS} are allowed.",
                    self.offline_metrics.len()
                ),
            ));
        }
        for (name, value) in &self.offline_metrics {
            let field = format!("offline_metrics.{name}");
            check_text(&field, name, MAX_NAME_CHARS)?;
            if !value.is_finite() {
                return Err(ValidationError::new(field, "Must be a finite number."));
            }
        }
        if let Some(reference) = &self.reference_distribution {
            if reference.counts.len() > MAX_REFERENCE_BINS {
                return Err(ValidationError::new(
                    "reference_distribution.counts",
                    format!(
                        "Has {} bins; at most {MAX_REFERENCE_BINS} are allowed.",
                        reference.counts.len()
                    ),
                ));
            }
            reference.check("reference_distribution")?;
        }
        Ok(())
    }
}

/// Most bins a reference distribution may have.
pub const MAX_REFERENCE_BINS: usize = 1000;

/// `POST /v1/models/{name}/promote`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromotionRequest {
    /// The version to make production.
    pub version: String,
    /// The trial that justifies it; found automatically when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// Promote without RCT evidence; stays flagged everywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_reason: Option<String>,
    /// Keep this share of units, in (0, 0.5], on the previous version in a holdout
    /// experiment started with the promotion ([`crate::holdout`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<f64>,
}

impl PromotionRequest {
    /// Checks the fields; an override reason must say something.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_identifier("version", &self.version)?;
        if let Some(experiment) = &self.experiment {
            check_identifier("experiment", experiment)?;
        }
        if let Some(reason) = &self.override_reason {
            if reason.trim().is_empty() {
                return Err(ValidationError::new(
                    "override_reason",
                    "An override needs a written reason; leave the field out to require a trial.",
                ));
            }
            check_length("override_reason", reason, MAX_REASON_CHARS)?;
        }
        if let Some(share) = self.holdout {
            crate::holdout::check_share("holdout", share, "on the previous version")?;
        }
        Ok(())
    }
}

/// What a stopped trial of the model says, as the gate reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialRecord {
    /// Experiment key.
    pub experiment: String,
    /// Control's model version (`None`: the behaviour before the model).
    pub control_version: Option<String>,
    /// Each treatment's name and model version.
    pub treatments: Vec<(String, Option<String>)>,
    /// The frozen verdict.
    pub verdict: Verdict,
    /// The treatment the verdict ships, for `ship`.
    pub shipped_variant: Option<String>,
    /// The frozen reasons.
    pub reasons: Vec<String>,
}

impl TrialRecord {
    fn treats(&self, version: &str) -> bool {
        self.treatments.iter().any(|(_, v)| v.as_deref() == Some(version))
    }

    /// Whether this trial compares `version` (a treatment) against `production` (control).
    fn compares(&self, version: &str, production: Option<&str>) -> bool {
        self.treats(version) && self.control_version.as_deref() == production
    }

    /// Whether its verdict ships `version`.
    fn ships(&self, version: &str) -> bool {
        self.verdict == Verdict::Ship
            && self.shipped_variant.as_ref().is_some_and(|shipped| {
                self.treatments
                    .iter()
                    .any(|(name, v)| name == shipped && v.as_deref() == Some(version))
            })
    }
}

/// The gate's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "basis", rename_all = "snake_case")]
pub enum Evidence {
    /// A stopped trial against production decided ship.
    Trial {
        /// Its key.
        experiment: String,
    },
    /// The version passed a trial before and is production again.
    Rollback {
        /// The trial it passed.
        experiment: String,
    },
    /// No evidence: an admin's written reason.
    Override {
        /// Why.
        reason: String,
    },
}

/// What the gate needs to know.
pub struct GateInput<'a> {
    /// Model name.
    pub model: &'a str,
    /// The version asked for.
    pub version: &'a str,
    /// The current production version.
    pub production: Option<&'a str>,
    /// Every stopped trial of the model with its frozen verdict.
    pub trials: &'a [TrialRecord],
    /// Versions promoted before on a trial's evidence, with that trial.
    pub passed: &'a [(String, String)],
    /// The trial named in the request, if any.
    pub experiment: Option<&'a str>,
    /// The override reason, if any.
    pub override_reason: Option<&'a str>,
}

/// Decides a promotion: the evidence that allows it, or every reason it is blocked.
pub fn check_promotion(input: &GateInput<'_>) -> Result<Evidence, Vec<String>> {
    let GateInput {
        model,
        version,
        production,
        trials,
        ..
    } = *input;
    if production == Some(version) {
        return Err(vec![format!(
            "{version} is already the production version of {model}."
        )]);
    }
    // The control the trial needs, as a phrase: the production version, or for a model's
    // first version a control without a model version (the behaviour before the model).
    let against = production.map_or_else(
        || "the behaviour before the model (a control without model_version)".to_string(),
        |p| format!("{p} (as control, the current production)"),
    );
    let relevant: Vec<&TrialRecord> = match input.experiment {
        Some(key) => {
            let Some(trial) = trials.iter().find(|t| t.experiment == key) else {
                return blocked_or_override(
                    input,
                    vec![format!(
                        "Experiment {key} is not a stopped trial of {model}: stop it first, or name the model in it."
                    )],
                );
            };
            if !trial.compares(version, production) {
                return blocked_or_override(
                    input,
                    vec![format!(
                        "Experiment {key} does not compare {version} (as a treatment) against {against}."
                    )],
                );
            }
            vec![trial]
        }
        None => trials
            .iter()
            .filter(|t| t.compares(version, production))
            .collect(),
    };
    if let Some(trial) = relevant.iter().find(|t| t.ships(version)) {
        return Ok(Evidence::Trial {
            experiment: trial.experiment.clone(),
        });
    }
    if input.experiment.is_none() {
        if let Some((_, experiment)) = input.passed.iter().find(|(v, _)| v == version) {
            return Ok(Evidence::Rollback {
                experiment: experiment.clone(),
            });
        }
    }
    let mut reasons = Vec::new();
    if relevant.is_empty() {
        reasons.push(format!(
            "No stopped trial of {model} compares {version} (as a treatment) against {against}; \
             run one and stop it, then promote."
        ));
    }
    for trial in relevant {
        let mut sentence = format!("Trial {} decided {}", trial.experiment, trial.verdict.as_str());
        if trial.verdict == Verdict::Ship {
            sentence.push_str(&format!(
                " for {}, not for {version}",
                trial.shipped_variant.as_deref().unwrap_or("another variant")
            ));
        }
        if trial.reasons.is_empty() {
            sentence.push('.');
        } else {
            sentence.push_str(&format!(": {}", trial.reasons.join(" ")));
        }
        reasons.push(sentence);
    }
    blocked_or_override(input, reasons)
}

fn blocked_or_override(input: &GateInput<'_>, reasons: Vec<String>) -> Result<Evidence, Vec<String>> {
    match input.override_reason {
        Some(reason) => Ok(Evidence::Override {
            reason: reason.to_string(),
        }),
        None => Err(reasons),
    }
}

/// Why a version may run in production (the deploy question, which differs from promotion's:
/// the current production version may run again; it may not be promoted again).
#[derive(Debug, Clone, PartialEq)]
pub enum Deployable {
    /// It is the production version; its evidence is the promotion that made it so.
    Production,
    /// Promoting it now would pass the gate on this evidence (a trial or a rollback).
    Promotable(Evidence),
}

/// May `input.version` run in production now? The current production version may, and so may
/// a version whose promotion would pass without an override (a trial against production that
/// shipped it, or a rollback to a version that once passed one); otherwise every reason.
/// The override in `input` is ignored: an override promotes, it does not open the gate for a
/// version that is not production.
pub fn check_deployment(input: &GateInput<'_>) -> Result<Deployable, Vec<String>> {
    if input.production == Some(input.version) {
        return Ok(Deployable::Production);
    }
    let without_override = GateInput {
        override_reason: None,
        ..*input
    };
    check_promotion(&without_override).map(Deployable::Promotable)
}

/// Where an override of the gate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverrideStatus {
    /// Waiting for more admins to approve it.
    Pending,
    /// Approved by enough admins; the promotion it asked for was made.
    Applied,
}

/// One admin's approval of an override.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// The approving key's id.
    pub key_id: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A promotion without trial evidence that needs more than one admin (`serve
/// --override-approvals N`): the requester counts as the first approval, and it applies when
/// `required` different admin keys have approved it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverrideRequest {
    /// Its number, for the approve endpoint.
    pub id: i64,
    /// The model.
    pub model: String,
    /// The version it would promote.
    pub version: String,
    /// The admin's written reason.
    pub reason: String,
    /// The requesting key's id.
    pub requested_by: String,
    /// When it was requested.
    pub requested_at: DateTime<Utc>,
    /// How many different admin keys must approve it, the requester included.
    pub required: u32,
    /// The approvals after the request's own.
    pub approvals: Vec<Approval>,
    /// Pending or applied.
    pub status: OverrideStatus,
}

impl OverrideRequest {
    /// Every key that approved it, the requester first.
    pub fn approvers(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.requested_by.as_str()).chain(self.approvals.iter().map(|a| a.key_id.as_str()))
    }

    /// Approvals still missing.
    pub fn missing(&self) -> u32 {
        let have = 1 + self.approvals.len() as u32;
        self.required.saturating_sub(have)
    }

    /// Records `key_id`'s approval at `at`; refuses the requester, a second approval by the
    /// same key, and an override already applied. Returns whether it is now fully approved.
    pub fn approve(&mut self, key_id: &str, at: DateTime<Utc>) -> Result<bool, ValidationError> {
        if self.status == OverrideStatus::Applied {
            return Err(ValidationError::new(
                "override",
                format!(
                    "Override {} was already approved and applied; there is nothing left to approve.",
                    self.id
                ),
            ));
        }
        if key_id == self.requested_by {
            return Err(ValidationError::new(
                "approver",
                format!(
                    "Key {key_id} requested override {}; a different admin key must approve it.",
                    self.id
                ),
            ));
        }
        if self.approvals.iter().any(|a| a.key_id == key_id) {
            return Err(ValidationError::new(
                "approver",
                format!(
                    "Key {key_id} already approved override {}; a different admin key must approve it.",
                    self.id
                ),
            ));
        }
        self.approvals.push(Approval {
            key_id: key_id.to_string(),
            at,
        });
        Ok(self.missing() == 0)
    }

    /// The sentence the gate adds while it is pending.
    pub fn pending_reason(&self) -> String {
        format!(
            "Override {} to promote {} without RCT evidence is pending: it needs {} more admin approval{} \
             (POST /v1/models/{}/overrides/{}/approve), and the gate stays closed until then.",
            self.id,
            self.version,
            self.missing(),
            if self.missing() == 1 { "" } else { "s" },
            self.model,
            self.id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(key: &str, control: Option<&str>, treatment: &str, verdict: &str) -> TrialRecord {
        let verdict: Verdict = serde_json::from_value(serde_json::json!(verdict)).expect("a verdict");
        TrialRecord {
            experiment: key.into(),
            control_version: control.map(str::to_string),
            treatments: vec![("treatment".into(), Some(treatment.into()))],
            verdict,
            shipped_variant: (verdict == Verdict::Ship).then(|| "treatment".to_string()),
            reasons: vec![format!("{} because.", verdict.as_str())],
        }
    }

    fn input<'a>(version: &'a str, production: Option<&'a str>, trials: &'a [TrialRecord]) -> GateInput<'a> {
        GateInput {
            model: "ranker",
            version,
            production,
            trials,
            passed: &[],
            experiment: None,
            override_reason: None,
        }
    }

    #[test]
    fn a_first_version_needs_a_trial_against_no_model() {
        let trials = [trial("launch", None, "v1", "ship")];
        assert_eq!(
            check_promotion(&input("v1", None, &trials)),
            Ok(Evidence::Trial {
                experiment: "launch".into()
            })
        );
        let against_other = [trial("launch", Some("v0"), "v1", "ship")];
        let reasons = check_promotion(&input("v1", None, &against_other)).expect_err("wrong control");
        assert!(reasons[0].contains("No stopped trial"), "{reasons:?}");
    }

    #[test]
    fn a_losing_trial_blocks_with_its_reasons() {
        let trials = [trial("v7-trial", Some("v6"), "v7", "no_ship")];
        let reasons = check_promotion(&input("v7", Some("v6"), &trials)).expect_err("blocked");
        assert_eq!(reasons, ["Trial v7-trial decided no_ship: no_ship because."]);
    }

    #[test]
    fn a_trial_against_an_old_production_does_not_count() {
        let trials = [trial("old", Some("v5"), "v7", "ship")];
        assert!(check_promotion(&input("v7", Some("v6"), &trials)).is_err());
    }

    #[test]
    fn rollback_and_override() {
        let mut rollback = input("v6", Some("v7"), &[]);
        let passed = [("v6".to_string(), "v6-trial".to_string())];
        rollback.passed = &passed;
        assert_eq!(
            check_promotion(&rollback),
            Ok(Evidence::Rollback {
                experiment: "v6-trial".into()
            })
        );
        let mut forced = input("v9", Some("v7"), &[]);
        forced.override_reason = Some("Legal requires it today.");
        assert_eq!(
            check_promotion(&forced),
            Ok(Evidence::Override {
                reason: "Legal requires it today.".into()
            })
        );
    }

    #[test]
    fn a_named_experiment_must_be_such_a_trial() {
        let trials = [
            trial("good", Some("v6"), "v7", "ship"),
            trial("other", Some("v6"), "v8", "ship"),
        ];
        let mut named = input("v7", Some("v6"), &trials);
        named.experiment = Some("other");
        let reasons = check_promotion(&named).expect_err("wrong trial");
        assert!(reasons[0].contains("does not compare v7"), "{reasons:?}");
        named.experiment = Some("good");
        assert!(check_promotion(&named).is_ok());
        named.experiment = Some("missing");
        assert!(check_promotion(&named).expect_err("missing")[0].contains("not a stopped trial"));
    }

    #[test]
    fn the_production_version_is_not_promoted_again() {
        assert!(check_promotion(&input("v6", Some("v6"), &[])).is_err());
    }

    #[test]
    fn the_production_version_may_run_and_so_may_what_would_pass() {
        assert_eq!(
            check_deployment(&input("v6", Some("v6"), &[])),
            Ok(Deployable::Production)
        );
        let trials = [trial("v7-trial", Some("v6"), "v7", "ship")];
        assert_eq!(
            check_deployment(&input("v7", Some("v6"), &trials)),
            Ok(Deployable::Promotable(Evidence::Trial {
                experiment: "v7-trial".into()
            }))
        );
        let mut overridden = input("v9", Some("v6"), &trials);
        overridden.override_reason = Some("Legal.");
        assert!(
            check_deployment(&overridden).is_err(),
            "an override does not open the gate"
        );
    }

    #[test]
    fn an_override_needs_different_admins() {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let mut request = OverrideRequest {
            id: 3,
            model: "ranker".into(),
            version: "v9".into(),
            reason: "Legal.".into(),
            requested_by: "alice".into(),
            requested_at: at,
            required: 3,
            approvals: Vec::new(),
            status: OverrideStatus::Pending,
        };
        assert_eq!(request.missing(), 2);
        assert!(request.pending_reason().contains("2 more admin approvals"));
        assert_eq!(
            request.approve("alice", at).expect_err("own").field.as_deref(),
            Some("approver")
        );
        assert_eq!(request.approve("bob", at), Ok(false));
        assert_eq!(
            request.approve("bob", at).expect_err("twice").field.as_deref(),
            Some("approver")
        );
        assert_eq!(request.approve("carol", at), Ok(true));
        assert_eq!(request.approvers().collect::<Vec<_>>(), ["alice", "bob", "carol"]);
        request.status = OverrideStatus::Applied;
        assert_eq!(
            request.approve("dave", at).expect_err("applied").field.as_deref(),
            Some("override")
        );
    }

    #[test]
    fn versions_and_requests_are_validated() {
        let version = ModelVersion {
            version: "v 7".into(),
            artifact_uri: None,
            offline_metrics: BTreeMap::new(),
            payload: serde_json::Value::Null,
            reference_distribution: None,
            created_at: None,
        };
        assert_eq!(
            version.validate().expect_err("space").field.as_deref(),
            Some("version")
        );
        let mut version = ModelVersion {
            version: "v7".into(),
            ..version
        };
        version.offline_metrics.insert("auc".into(), f64::NAN);
        assert_eq!(
            version.validate().expect_err("nan").field.as_deref(),
            Some("offline_metrics.auc")
        );
        let request = PromotionRequest {
            version: "v7".into(),
            experiment: None,
            override_reason: Some("  ".into()),
            holdout: None,
        };
        assert_eq!(
            request.validate().expect_err("empty").field.as_deref(),
            Some("override_reason")
        );
    }
}
