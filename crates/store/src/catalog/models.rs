//! The model registry: models, versions, and the history of their promotions (SPEC §1, §9).
//!
//! The production version is the latest promotion's, so the pointer and its history can
//! never disagree. Promotions themselves go through the gate (`trials::promotion`).

use crate::catalog::audit::{self, Change};
use crate::error::{StoreError, StoreResult};
use crate::store::Store;
use crate::time::{from_micros, now, Micros};
use chrono::{DateTime, Utc};
use duckdb::{Connection, OptionalExt};
use rctgate_domain::{ModelVersion, NewModel, OverrideRequest};
use serde::Serialize;
use serde_json::Value;

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
}

/// Every override of model `name`, oldest first.
pub(crate) fn overrides(conn: &Connection, name: &str) -> StoreResult<Vec<OverrideRequest>> {
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

pub(crate) fn flag_of(evidence: &Value) -> Option<String> {
    (evidence["basis"] == "override").then(|| WITHOUT_EVIDENCE.to_string())
}

pub(crate) fn production(conn: &Connection, name: &str) -> StoreResult<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT version FROM promotions WHERE model = ? ORDER BY id DESC LIMIT 1",
            [name],
            |row| row.get(0),
        )
        .optional()?)
}

pub(crate) fn promotions(conn: &Connection, name: &str) -> StoreResult<Vec<Promotion>> {
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

pub(crate) fn model_row(conn: &Connection, name: &str) -> StoreResult<Option<(Option<String>, i64)>> {
    Ok(conn
        .query_row(
            "SELECT description, epoch_us(created_at) FROM models WHERE name = ?",
            [name],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?)
}

pub(crate) fn view(conn: &Connection, name: &str) -> StoreResult<ModelView> {
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

pub(crate) fn not_found(name: &str) -> StoreError {
    StoreError::NotFound {
        what: "model",
        name: name.to_string(),
    }
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> StoreResult<Value> {
    serde_json::to_value(value).map_err(|err| StoreError::Corrupt(format!("to JSON: {err}")))
}
