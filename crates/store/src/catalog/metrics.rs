//! The metric catalog: upsert, get, list.
//!
//! Metrics are never deleted, because experiments (and their frozen verdicts) refer to them
//! by name. A metric may be redefined; the audit log keeps the previous definition.

use crate::catalog::audit::{self, Change};
use crate::error::{StoreError, StoreResult};
use crate::store::Store;
use crate::time::Micros;
use duckdb::{Connection, OptionalExt};
use rctgate_domain::Metric;
use serde::Serialize;
use std::collections::HashSet;

/// What an upsert did; the server answers 201 for `Created`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Upserted {
    /// It did not exist.
    Created,
    /// It existed with another definition.
    Updated,
    /// It existed with this very definition; nothing was written.
    Unchanged,
}

impl Store {
    /// Validates and stores `metric`, creating or replacing the one of that name.
    pub fn upsert_metric(&self, metric: &Metric, key_id: &str) -> StoreResult<Upserted> {
        metric.validate()?;
        let after = to_json(metric)?;
        let mut writer = self.writer();
        let tx = writer.conn.transaction()?;
        let before = load(&tx, &metric.name)?;
        let outcome = match &before {
            Some(existing) if existing == metric => return Ok(Upserted::Unchanged),
            Some(_) => {
                tx.execute(
                    "UPDATE metrics SET definition = ?, updated_at = ? WHERE name = ?",
                    duckdb::params![after.to_string(), Micros::now(), metric.name],
                )?;
                Upserted::Updated
            }
            None => {
                let now = Micros::now();
                tx.execute(
                    "INSERT INTO metrics (name, definition, created_at, updated_at) VALUES (?, ?, ?, ?)",
                    duckdb::params![metric.name, after.to_string(), now, now],
                )?;
                Upserted::Created
            }
        };
        let before = before.as_ref().map(to_json).transpose()?;
        let action = match outcome {
            Upserted::Created => "metric.create",
            _ => "metric.update",
        };
        audit::record(
            &tx,
            Change {
                key_id,
                action,
                target: &metric.name,
                before: before.as_ref(),
                after: Some(&after),
            },
        )?;
        tx.commit()?;
        self.touch();
        Ok(outcome)
    }

    /// The metric called `name`.
    pub fn get_metric(&self, name: &str) -> StoreResult<Metric> {
        load(&self.writer().conn, name)?.ok_or_else(|| StoreError::NotFound {
            what: "metric",
            name: name.to_string(),
        })
    }

    /// Every metric, by name.
    pub fn list_metrics(&self) -> StoreResult<Vec<Metric>> {
        let writer = self.writer();
        let mut statement = writer
            .conn
            .prepare("SELECT definition FROM metrics ORDER BY name")?;
        let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
        let mut metrics = Vec::new();
        for row in rows {
            metrics.push(parse(&row?)?);
        }
        Ok(metrics)
    }
}

/// Names of every metric, for validating experiments.
pub(crate) fn names(conn: &Connection) -> StoreResult<HashSet<String>> {
    let mut statement = conn.prepare("SELECT name FROM metrics")?;
    let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
    let mut names = HashSet::new();
    for row in rows {
        names.insert(row?);
    }
    Ok(names)
}

pub(crate) fn load(conn: &Connection, name: &str) -> StoreResult<Option<Metric>> {
    let definition: Option<String> = conn
        .query_row("SELECT definition FROM metrics WHERE name = ?", [name], |row| {
            row.get(0)
        })
        .optional()?;
    definition.as_deref().map(parse).transpose()
}

fn parse(definition: &str) -> StoreResult<Metric> {
    serde_json::from_str(definition).map_err(|err| StoreError::Corrupt(format!("metric definition: {err}")))
}

fn to_json(metric: &Metric) -> StoreResult<serde_json::Value> {
    serde_json::to_value(metric).map_err(|err| StoreError::Corrupt(format!("metric to JSON: {err}")))
}
