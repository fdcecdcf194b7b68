//! The gate and promotions through it (SPEC §9): may a version run in production, and moving
//! the production pointer.
//!
//! A promotion runs the gate (`rctgate_domain::check_promotion`) and writes its row and audit
//! entry in one transaction under the writer lock, so two promotions at once serialize and
//! the second sees the first (no lost update). An override that needs several admins is
//! recorded as pending and applied by the last approval, in the same way.

use crate::catalog::audit::{self, Change};
use crate::catalog::models::{
    flag_of, model_row, not_found, overrides, production, promotions, to_json, Promotion,
};
use crate::error::{StoreError, StoreResult};
use crate::store::Store;
use crate::time::{now, Micros};
use crate::trials::history::stopped_trials;
use crate::trials::holdout::{self, HoldoutRequest};
use duckdb::{Connection, OptionalExt};
use rctgate_analysis::FrozenResult;
use rctgate_domain::{
    check_deployment, check_promotion, Deployable, Evidence, Experiment, GateInput, OverrideRequest,
    OverrideStatus, PromotionRequest, TrialRecord,
};
use serde::Serialize;
use serde_json::{json, Value};

/// What a promotion request led to.
#[derive(Debug, Clone, PartialEq)]
pub enum PromotionOutcome {
    /// The production pointer moved.
    Promoted(Promotion),
    /// An override that waits for more admins; nothing moved yet.
    Pending(OverrideRequest),
}

/// What the gate says about a version (`rctgate gate check`): may it run in production?
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateAnswer {
    /// The model.
    pub model: String,
    /// The version asked about.
    pub version: String,
    /// The current production version.
    pub production: Option<String>,
    /// Whether the version may run in production: it is production, or promoting it now
    /// would pass without an override (a trial, or a rollback to a version that passed one).
    pub allowed: bool,
    /// The evidence that allows it: `{"basis": "trial" | "rollback", ...}` as a promotion
    /// would record it, or `{"basis": "production", "promotion": {...}}` for the production
    /// version, with the promotion that made it production.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Value>,
    /// [`WITHOUT_EVIDENCE`] when the production version got there on an override.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    /// Why not, when not (a pending override says so here).
    pub reasons: Vec<String>,
}

impl Store {
    /// The deploy question for `request.version`: may it run in production now? Allowed for
    /// the production version (with the promotion that made it so, an override flagged), and
    /// for a version whose promotion would pass without an override; an override waiting for
    /// approval keeps it closed. Promotion keeps its own rules ([`Store::promote`]).
    pub fn check_gate(&self, name: &str, request: &PromotionRequest) -> StoreResult<GateAnswer> {
        request.validate()?;
        let writer = self.writer();
        let conn = &writer.conn;
        let facts = gate_input(conn, name, request)?;
        let deployable = check_deployment(&facts.borrowed(name, request));
        let mut answer = GateAnswer {
            model: name.to_string(),
            version: request.version.clone(),
            production: facts.production.clone(),
            allowed: deployable.is_ok(),
            evidence: None,
            flag: None,
            reasons: Vec::new(),
        };
        match deployable {
            Ok(Deployable::Production) => {
                let promotion = promotions(conn, name)?.pop().ok_or_else(|| {
                    StoreError::Corrupt(format!("{name} has a production version without a promotion"))
                })?;
                answer.flag = promotion.flag.clone();
                answer.evidence = Some(json!({"basis": "production", "promotion": to_json(&promotion)?}));
            }
            Ok(Deployable::Promotable(evidence)) => answer.evidence = Some(evidence_json(conn, &evidence)?),
            Err(mut reasons) => {
                reasons.extend(
                    overrides(conn, name)?
                        .iter()
                        .filter(|o| o.status == OverrideStatus::Pending && o.version == request.version)
                        .map(OverrideRequest::pending_reason),
                );
                answer.reasons = reasons;
            }
        }
        Ok(answer)
    }

    /// Moves model `name`'s production pointer through the gate; [`StoreError::Blocked`]
    /// with every reason when it refuses. An override (a written reason, from an admin)
    /// promotes at once when `override_approvals` is 1 or less; otherwise it is recorded as
    /// pending until that many different admin keys (the requester first) approve it
    /// ([`Store::approve_override`]).
    pub fn promote(
        &self,
        name: &str,
        request: &PromotionRequest,
        key_id: &str,
        override_approvals: u32,
    ) -> StoreResult<PromotionOutcome> {
        request.validate()?;
        let mut writer = self.writer();
        let tx = writer.conn.transaction()?;
        let facts = gate_input(&tx, name, request)?;
        let previous = facts.production.clone();
        let without_override = PromotionRequest {
            override_reason: None,
            ..request.clone()
        };
        let holdout = request.holdout.map(|share| HoldoutRequest {
            model: name,
            version: &request.version,
            previous: previous.as_deref(),
            share,
        });
        // Trial or rollback evidence first; an override only where there is none.
        let step = match check_promotion(&facts.borrowed(name, &without_override)) {
            Ok(evidence) => PromotionStep::Promote(evidence),
            Err(reasons) => match &request.override_reason {
                Some(_) if previous.as_deref() == Some(request.version.as_str()) => {
                    return Err(StoreError::Blocked(reasons))
                }
                Some(reason) if override_approvals <= 1 => PromotionStep::Promote(Evidence::Override {
                    reason: reason.clone(),
                }),
                Some(reason) => PromotionStep::RequestApproval(reason),
                None => return Err(StoreError::Blocked(reasons)),
            },
        };
        let outcome = match step {
            PromotionStep::Promote(evidence) => {
                let mut stored = evidence_json(&tx, &evidence)?;
                if let Some(holdout) = &holdout {
                    let experiment = holdout::start(&tx, holdout, &evidence, key_id)?;
                    stored["holdout"] = json!({"experiment": experiment, "share": holdout.share});
                }
                let evidence = stored;
                PromotionOutcome::Promoted(write_promotion(
                    &tx,
                    name,
                    &request.version,
                    previous.clone(),
                    evidence,
                    key_id,
                )?)
            }
            PromotionStep::RequestApproval(reason) => {
                if let Some(holdout) = &holdout {
                    holdout::check(holdout, None)?;
                }
                PromotionOutcome::Pending(request_override(
                    &tx,
                    name,
                    request,
                    reason,
                    key_id,
                    override_approvals,
                )?)
            }
        };
        tx.commit()?;
        if request.holdout.is_some() {
            self.touch_experiments();
        }
        self.touch();
        Ok(outcome)
    }

    /// Approves override `id` of model `name` as `key_id` (an admin other than the requester
    /// and the admins who approved before). Once enough have approved, the promotion it asked
    /// for is made in the same transaction; the override and, then, the promotion are returned.
    pub fn approve_override(
        &self,
        name: &str,
        id: i64,
        key_id: &str,
    ) -> StoreResult<(OverrideRequest, Option<Promotion>)> {
        let mut writer = self.writer();
        let tx = writer.conn.transaction()?;
        model_row(&tx, name)?.ok_or_else(|| not_found(name))?;
        let mut request = overrides(&tx, name)?
            .into_iter()
            .find(|o| o.id == id)
            .ok_or_else(|| StoreError::NotFound {
                what: "override",
                name: format!("{id} of model {name}"),
            })?;
        let before = to_json(&request)?;
        let complete = request.approve(key_id, now())?;
        let mut promotion = None;
        if complete {
            request.status = OverrideStatus::Applied;
            let previous = production(&tx, name)?;
            if previous.as_deref() == Some(request.version.as_str()) {
                return Err(StoreError::Blocked(vec![format!(
                    "{} is already the production version of {name}; override {id} has nothing to promote.",
                    request.version
                )]));
            }
            let approved_by: Vec<&str> = request.approvers().skip(1).collect();
            let evidence = json!({"basis": "override", "reason": request.reason, "override": id,
                                  "requested_by": request.requested_by, "approved_by": approved_by});
            promotion = Some(write_promotion(
                &tx,
                name,
                &request.version,
                previous,
                evidence,
                key_id,
            )?);
        }
        let after = to_json(&request)?;
        tx.execute(
            "UPDATE overrides SET status = ?, definition = ? WHERE id = ?",
            duckdb::params![status_name(request.status), after.to_string(), id],
        )?;
        audit::record(
            &tx,
            Change {
                key_id,
                action: "model.override_approve",
                target: name,
                before: Some(&before),
                after: Some(&after),
            },
        )?;
        tx.commit()?;
        self.touch();
        Ok((request, promotion))
    }
}

/// What a promotion request leads to once the gate has answered.
enum PromotionStep<'r> {
    /// Promote on this evidence.
    Promote(Evidence),
    /// Record an override, with this reason, that more admins must approve.
    RequestApproval(&'r str),
}

/// What the gate reads from the store for one model, owned.
struct GateFacts {
    trials: Vec<TrialRecord>,
    passed: Vec<(String, String)>,
    production: Option<String>,
}

impl GateFacts {
    fn borrowed<'a>(&'a self, name: &'a str, request: &'a PromotionRequest) -> GateInput<'a> {
        GateInput {
            model: name,
            version: &request.version,
            production: self.production.as_deref(),
            trials: &self.trials,
            passed: &self.passed,
            experiment: request.experiment.as_deref(),
            override_reason: request.override_reason.as_deref(),
        }
    }
}

/// What the gate needs, the current production version among it; 404 for an unknown model,
/// 400 for an unregistered version.
fn gate_input(conn: &Connection, name: &str, request: &PromotionRequest) -> StoreResult<GateFacts> {
    model_row(conn, name)?.ok_or_else(|| not_found(name))?;
    let known: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM model_versions WHERE model = ? AND version = ?",
            [name, &request.version],
            |row| row.get(0),
        )
        .optional()?;
    if known.is_none() {
        return Err(StoreError::invalid(
            "version",
            format!(
                "Version {} of {name} is not registered; register it first.",
                request.version
            ),
        ));
    }
    let production = production(conn, name)?;
    let trials: Vec<TrialRecord> = stopped_trials(conn, name)?
        .into_iter()
        .map(|(experiment, frozen)| trial_record(&experiment, &frozen))
        .collect();
    Ok(GateFacts {
        trials,
        passed: passed_versions(conn, name)?,
        production,
    })
}

/// Writes one promotion and its audit entry on `tx`.
fn write_promotion(
    tx: &Connection,
    name: &str,
    version: &str,
    previous: Option<String>,
    evidence: Value,
    key_id: &str,
) -> StoreResult<Promotion> {
    let at = now();
    tx.execute(
        "INSERT INTO promotions (model, version, previous, evidence, key_id, ts) VALUES (?, ?, ?, ?, ?, ?)",
        duckdb::params![
            name,
            version,
            previous,
            evidence.to_string(),
            key_id,
            Micros::of(at)
        ],
    )?;
    let promotion = Promotion {
        version: version.to_string(),
        previous: previous.clone(),
        flag: flag_of(&evidence),
        evidence,
        key_id: key_id.to_string(),
        at,
    };
    let after = to_json(&promotion)?;
    audit::record(
        tx,
        Change {
            key_id,
            action: "model.promote",
            target: name,
            before: Some(&json!({"production": previous})),
            after: Some(&after),
        },
    )?;
    Ok(promotion)
}

/// Records a pending override on `tx` (409 if one for the same version is pending already).
fn request_override(
    tx: &Connection,
    name: &str,
    request: &PromotionRequest,
    reason: &str,
    key_id: &str,
    required: u32,
) -> StoreResult<OverrideRequest> {
    if let Some(pending) = overrides(tx, name)?
        .into_iter()
        .find(|o| o.status == OverrideStatus::Pending && o.version == request.version)
    {
        return Err(StoreError::conflict(format!(
            "Override {} to promote {} is already pending; approve it (POST /v1/models/{name}/overrides/{}/approve) \
             instead of requesting another.",
            pending.id, request.version, pending.id
        )));
    }
    let id: i64 = tx.query_row("SELECT nextval('override_id')", [], |row| row.get(0))?;
    let pending = OverrideRequest {
        id,
        model: name.to_string(),
        version: request.version.clone(),
        reason: reason.to_string(),
        requested_by: key_id.to_string(),
        requested_at: now(),
        required,
        approvals: Vec::new(),
        status: OverrideStatus::Pending,
    };
    let definition = to_json(&pending)?;
    tx.execute(
        "INSERT INTO overrides (id, model, status, definition) VALUES (?, ?, ?, ?)",
        duckdb::params![id, name, status_name(pending.status), definition.to_string()],
    )?;
    audit::record(
        tx,
        Change {
            key_id,
            action: "model.override_request",
            target: name,
            before: None,
            after: Some(&definition),
        },
    )?;
    Ok(pending)
}

fn status_name(status: OverrideStatus) -> &'static str {
    match status {
        OverrideStatus::Pending => "pending",
        OverrideStatus::Applied => "applied",
    }
}

fn trial_record(experiment: &Experiment, frozen: &FrozenResult) -> TrialRecord {
    let decision = frozen.decision();
    TrialRecord {
        experiment: experiment.key.clone(),
        control_version: experiment.variants.first().and_then(|v| v.model_version.clone()),
        treatments: experiment
            .variants
            .iter()
            .skip(1)
            .map(|v| (v.name.clone(), v.model_version.clone()))
            .collect(),
        verdict: decision.verdict,
        shipped_variant: decision.variant.clone(),
        reasons: decision.reasons.clone(),
    }
}

/// Versions promoted on a trial's evidence (or a rollback to such a version), with the trial.
fn passed_versions(conn: &Connection, name: &str) -> StoreResult<Vec<(String, String)>> {
    Ok(promotions(conn, name)?
        .into_iter()
        .filter_map(|p| {
            let basis = p.evidence["basis"].as_str()?;
            let experiment = p.evidence["experiment"].as_str()?;
            matches!(basis, "trial" | "rollback").then(|| (p.version, experiment.to_string()))
        })
        .collect())
}

/// The evidence as stored: the gate's basis plus, for a trial, what it measured.
fn evidence_json(conn: &Connection, evidence: &Evidence) -> StoreResult<Value> {
    let mut value = serde_json::to_value(evidence).map_err(|err| StoreError::Corrupt(err.to_string()))?;
    if let Evidence::Trial { experiment } | Evidence::Rollback { experiment } = evidence {
        let frozen: Option<String> = conn
            .query_row(
                "SELECT frozen_results FROM experiments WHERE key = ?",
                [experiment],
                |row| row.get(0),
            )
            .optional()?
            .flatten();
        if let Some(text) = frozen {
            let frozen: FrozenResult = serde_json::from_str(&text)
                .map_err(|err| StoreError::Corrupt(format!("frozen results of {experiment}: {err}")))?;
            value["verdict"] = to_json(&frozen.decision().verdict)?;
            value["primary"] = to_json(&frozen.primary_lift())?;
        }
    }
    Ok(value)
}
