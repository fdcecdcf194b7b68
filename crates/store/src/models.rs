//! The model registry: models, versions, and promotions through the gate (SPEC §1, §9).
//!
//! The production version is the latest promotion's, so the pointer and its history can
//! never disagree. A promotion runs the gate (`rctgate_domain::check_promotion`) and writes
//! its row and audit entry in one transaction under the writer lock, so two promotions at
//! once serialize and the second sees the first (no lost update).

use crate::audit::{self, Change};
use crate::error::{StoreError, StoreResult};
use crate::store::Store;
use crate::time::{from_micros, now, Micros};
use chrono::{DateTime, Utc};
use duckdb::{Connection, OptionalExt};
use rctgate_analysis::ledger::{ledger, offline_gain, Ledger, LedgerEntry};
use rctgate_analysis::FrozenResult;
use rctgate_domain::{
    check_deployment, check_promotion, Deployable, Evidence, Experiment, GateInput, ModelVersion, NewModel,
    OverrideRequest, OverrideStatus, PromotionRequest, Status, TrialRecord,
};
use serde::Serialize;
use serde_json::{json, Value};

/// How the model view flags a promotion made on an override.
pub const WITHOUT_EVIDENCE: &str = "promoted without RCT evidence";

/// A model as `GET /v1/models/{name}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelView {
    /// Name.
    pub name: String,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The production version, `null` before the first promotion.
    pub production: Option<String>,
    /// Set when the production version got there on an override.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub production_flag: Option<String>,
    /// Versions, oldest first.
    pub versions: Vec<ModelVersion>,
    /// Promotions, oldest first.
    pub promotions: Vec<Promotion>,
    /// Overrides that needed several admins (`serve --override-approvals`), pending or
    /// applied, oldest first.
    pub overrides: Vec<OverrideRequest>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

/// What a promotion request led to.
#[derive(Debug, Clone, PartialEq)]
pub enum PromotionOutcome {
    /// The production pointer moved.
    Promoted(Promotion),
    /// An override that waits for more admins; nothing moved yet.
    Pending(OverrideRequest),
}

/// One move of the production pointer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Promotion {
    /// The version promoted.
    pub version: String,
    /// The production version before.
    pub previous: Option<String>,
    /// Why it was allowed: `{"basis": "trial" | "rollback" | "override", ...}` with the
    /// trial's verdict and primary lift, or the override reason.
    pub evidence: Value,
    /// [`WITHOUT_EVIDENCE`] for overrides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    /// The API key id that promoted.
    pub key_id: String,
    /// When.
    pub at: DateTime<Utc>,
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
    /// Registers a model; 409 if the name exists.
    pub fn create_model(&self, model: NewModel, key_id: &str) -> StoreResult<ModelView> {
        model.validate()?;
        let mut writer = self.writer();
        let tx = writer.conn.transaction()?;
        if model_row(&tx, &model.name)?.is_some() {
            return Err(StoreError::conflict(format!(
                "Model {} already exists.",
                model.name
            )));
        }
        tx.execute(
            "INSERT INTO models (name, description, created_at) VALUES (?, ?, ?)",
            duckdb::params![model.name, model.description, Micros::now()],
        )?;
        let after = to_json(&model)?;
        audit::record(
            &tx,
            Change {
                key_id,
                action: "model.create",
                target: &model.name,
                before: None,
                after: Some(&after),
            },
        )?;
        let view = view(&tx, &model.name)?;
        tx.commit()?;
        self.touch();
        Ok(view)
    }

    /// Registers a version of model `name`; 404 without the model, 409 if the version exists.
    pub fn add_model_version(
        &self,
        name: &str,
        version: ModelVersion,
        key_id: &str,
    ) -> StoreResult<ModelVersion> {
        version.validate()?;
        let mut writer = self.writer();
        let tx = writer.conn.transaction()?;
        model_row(&tx, name)?.ok_or_else(|| not_found(name))?;
        let exists: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM model_versions WHERE model = ? AND version = ?",
                [name, &version.version],
                |row| row.get(0),
            )
            .optional()?;
        if exists.is_some() {
            return Err(StoreError::conflict(format!(
                "Version {} of {name} already exists; versions are immutable, register a new one.",
                version.version
            )));
        }
        let mut created = version;
        created.created_at = Some(now());
        let definition = to_json(&created)?;
        tx.execute(
            "INSERT INTO model_versions (model, version, definition, created_at) VALUES (?, ?, ?, ?)",
            duckdb::params![name, created.version, definition.to_string(), Micros::now()],
        )?;
        audit::record(
            &tx,
            Change {
                key_id,
                action: "model.version",
                target: name,
                before: None,
                after: Some(&definition),
            },
        )?;
        tx.commit()?;
        self.touch();
        Ok(created)
    }

    /// Every model, oldest first.
    pub fn list_models(&self) -> StoreResult<Vec<ModelView>> {
        let writer = self.writer();
        let mut statement = writer
            .conn
            .prepare("SELECT name FROM models ORDER BY created_at, name")?;
        let names: Vec<String> = statement
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        names.iter().map(|name| view(&writer.conn, name)).collect()
    }

    /// Model `name`.
    pub fn get_model(&self, name: &str) -> StoreResult<ModelView> {
        let writer = self.writer();
        model_row(&writer.conn, name)?.ok_or_else(|| not_found(name))?;
        view(&writer.conn, name)
    }

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
                let evidence = evidence_json(&tx, &evidence)?;
                PromotionOutcome::Promoted(write_promotion(
                    &tx,
                    name,
                    &request.version,
                    previous,
                    evidence,
                    key_id,
                )?)
            }
            PromotionStep::RequestApproval(reason) => PromotionOutcome::Pending(request_override(
                &tx,
                name,
                request,
                reason,
                key_id,
                override_approvals,
            )?),
        };
        tx.commit()?;
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

    /// Every stopped trial of a model, with its frozen verdict.
    pub fn model_trials(&self, name: &str) -> StoreResult<Vec<(Experiment, FrozenResult)>> {
        trials(&self.writer().conn, name)
    }

    /// The offline/online ledger: every treatment arm of every stopped trial of every model.
    pub fn ledger(&self) -> StoreResult<Ledger> {
        let writer = self.writer();
        let conn = &writer.conn;
        let mut statement = conn.prepare("SELECT name FROM models ORDER BY created_at, name")?;
        let models: Vec<String> = statement
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let mut entries = Vec::new();
        for model in &models {
            let versions: std::collections::HashMap<String, ModelVersion> = view(conn, model)?
                .versions
                .into_iter()
                .map(|v| (v.version.clone(), v))
                .collect();
            let offline = |version: &Option<String>| {
                version
                    .as_ref()
                    .and_then(|v| versions.get(v))
                    .map(|v| v.offline_metrics.clone())
                    .unwrap_or_default()
            };
            for (experiment, frozen) in trials(conn, model)? {
                let control = experiment.variants.first().and_then(|v| v.model_version.clone());
                for (i, variant) in experiment.variants.iter().enumerate().skip(1) {
                    let Some(version) = &variant.model_version else {
                        continue;
                    };
                    let lift = frozen.primary_lift_at(i);
                    entries.push(LedgerEntry {
                        experiment: experiment.key.clone(),
                        model: model.clone(),
                        control_version: control.clone(),
                        treatment_version: version.clone(),
                        offline_gain: offline_gain(&offline(&control), &offline(&variant.model_version)),
                        primary_metric: frozen.primary().map(|primary| primary.name.clone()),
                        lift: lift.as_ref().and_then(|l| l.effect),
                        ci_low: lift.as_ref().and_then(|l| l.ci_low),
                        ci_high: lift.as_ref().and_then(|l| l.ci_high),
                        verdict: frozen.decision().verdict.as_str().to_string(),
                    });
                }
            }
        }
        Ok(ledger(entries))
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
    let trials: Vec<TrialRecord> = trials(conn, name)?
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

/// Every override of model `name`, oldest first.
fn overrides(conn: &Connection, name: &str) -> StoreResult<Vec<OverrideRequest>> {
    let mut statement = conn.prepare("SELECT definition FROM overrides WHERE model = ? ORDER BY id")?;
    let rows = statement.query_map([name], |row| row.get::<_, String>(0))?;
    let mut found = Vec::new();
    for row in rows {
        let text = row?;
        found.push(
            serde_json::from_str(&text).map_err(|err| StoreError::Corrupt(format!("override: {err}")))?,
        );
    }
    Ok(found)
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

/// Stopped experiments naming model `name`, with their frozen results, oldest first.
fn trials(conn: &Connection, name: &str) -> StoreResult<Vec<(Experiment, FrozenResult)>> {
    let mut statement = conn.prepare(
        "SELECT definition, frozen_results FROM experiments WHERE status = ? AND frozen_results IS NOT NULL \
         ORDER BY created_at, key",
    )?;
    let rows = statement.query_map([Status::Stopped.as_str()], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    let mut trials = Vec::new();
    for row in rows {
        let (definition, frozen) = row?;
        let experiment: Experiment = serde_json::from_str(&definition)
            .map_err(|err| StoreError::Corrupt(format!("experiment definition: {err}")))?;
        if experiment.model.as_deref() != Some(name) {
            continue;
        }
        let frozen: FrozenResult = serde_json::from_str(&frozen)
            .map_err(|err| StoreError::Corrupt(format!("frozen results of {}: {err}", experiment.key)))?;
        trials.push((experiment, frozen));
    }
    Ok(trials)
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

fn flag_of(evidence: &Value) -> Option<String> {
    (evidence["basis"] == "override").then(|| WITHOUT_EVIDENCE.to_string())
}

fn production(conn: &Connection, name: &str) -> StoreResult<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT version FROM promotions WHERE model = ? ORDER BY id DESC LIMIT 1",
            [name],
            |row| row.get(0),
        )
        .optional()?)
}

fn promotions(conn: &Connection, name: &str) -> StoreResult<Vec<Promotion>> {
    let mut statement = conn.prepare(
        "SELECT version, previous, evidence, key_id, epoch_us(ts) FROM promotions WHERE model = ? ORDER BY id",
    )?;
    let rows = statement.query_map([name], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, Option<String>>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, i64>(4)?,
        ))
    })?;
    let mut promotions = Vec::new();
    for row in rows {
        let (version, previous, evidence, key_id, at) = row?;
        let evidence: Value = serde_json::from_str(&evidence)
            .map_err(|err| StoreError::Corrupt(format!("promotion: {err}")))?;
        promotions.push(Promotion {
            version,
            previous,
            flag: flag_of(&evidence),
            evidence,
            key_id,
            at: from_micros(at)?,
        });
    }
    Ok(promotions)
}

fn model_row(conn: &Connection, name: &str) -> StoreResult<Option<(Option<String>, i64)>> {
    Ok(conn
        .query_row(
            "SELECT description, epoch_us(created_at) FROM models WHERE name = ?",
            [name],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?)
}

fn view(conn: &Connection, name: &str) -> StoreResult<ModelView> {
    let (description, created) = model_row(conn, name)?.ok_or_else(|| not_found(name))?;
    let mut statement =
        conn.prepare("SELECT definition FROM model_versions WHERE model = ? ORDER BY created_at, version")?;
    let versions = statement
        .query_map([name], |row| row.get::<_, String>(0))?
        .map(|row| {
            let text = row?;
            serde_json::from_str(&text).map_err(|err| StoreError::Corrupt(format!("model version: {err}")))
        })
        .collect::<StoreResult<Vec<ModelVersion>>>()?;
    let promotions = promotions(conn, name)?;
    let production_flag = promotions.last().and_then(|p| p.flag.clone());
    Ok(ModelView {
        name: name.to_string(),
        description,
        production: promotions.last().map(|p| p.version.clone()),
        production_flag,
        versions,
        promotions,
        overrides: overrides(conn, name)?,
        created_at: from_micros(created)?,
    })
}

/// The versions of model `name`, for validating experiments that name them.
pub(crate) fn version_names(conn: &Connection, name: &str) -> StoreResult<Option<Vec<String>>> {
    if model_row(conn, name)?.is_none() {
        return Ok(None);
    }
    let mut statement = conn.prepare("SELECT version FROM model_versions WHERE model = ?")?;
    let versions = statement
        .query_map([name], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(Some(versions))
}

fn not_found(name: &str) -> StoreError {
    StoreError::NotFound {
        what: "model",
        name: name.to_string(),
    }
}

fn to_json<T: Serialize>(value: &T) -> StoreResult<Value> {
    serde_json::to_value(value).map_err(|err| StoreError::Corrupt(format!("to JSON: {err}")))
}
