//! The append-only audit log: who changed what, when, from what to what.
//!
//! Entries are written by [`record`] on the transaction of the change they describe, so a
//! change and its entry commit or roll back together: there is no change without an entry.
//! Entries name the API key by its public id, never the key itself.

use crate::error::{StoreError, StoreResult};
use crate::store::Store;
use crate::time::{from_micros, Micros};
use chrono::{DateTime, Utc};
use duckdb::Connection;
use serde::Serialize;
use serde_json::Value;

/// Actor recorded for changes made by the CLI directly on a database file (no API key).
pub const LOCAL_ACTOR: &str = "local";

/// One change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Increasing number.
    pub id: i64,
    /// When the change committed (UTC).
    pub ts: DateTime<Utc>,
    /// Public id of the API key that made it, or [`LOCAL_ACTOR`].
    pub key_id: String,
    /// What happened, e.g. `experiment.start`.
    pub action: String,
    /// What it happened to, e.g. the experiment key.
    pub target: String,
    /// The object before (absent for creations).
    pub before: Option<Value>,
    /// The object after.
    pub after: Option<Value>,
}

/// A change about to be recorded.
pub(crate) struct Change<'a> {
    pub key_id: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub before: Option<&'a Value>,
    pub after: Option<&'a Value>,
}

/// Appends `change` using `conn`, which must be inside the change's transaction.
pub(crate) fn record(conn: &Connection, change: Change<'_>) -> StoreResult<()> {
    let text = |value: Option<&Value>| value.map(Value::to_string);
    conn.execute(
        "INSERT INTO audit_log (ts, key_id, action, target, before, after) VALUES (?, ?, ?, ?, ?, ?)",
        duckdb::params![
            Micros::now(),
            change.key_id,
            change.action,
            change.target,
            text(change.before),
            text(change.after),
        ],
    )?;
    Ok(())
}

impl Store {
    /// The newest `limit` audit entries, newest first.
    pub fn list_audit(&self, limit: usize) -> StoreResult<Vec<AuditEntry>> {
        list(&self.writer().conn, limit)
    }
}

/// The newest `limit` entries, newest first.
fn list(conn: &Connection, limit: usize) -> StoreResult<Vec<AuditEntry>> {
    let mut statement = conn.prepare(
        "SELECT id, epoch_us(ts), key_id, action, target, before, after
         FROM audit_log ORDER BY id DESC LIMIT ?",
    )?;
    let rows = statement.query_map([limit as i64], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, Option<String>>(5)?,
            row.get::<_, Option<String>>(6)?,
        ))
    })?;
    let mut entries = Vec::new();
    for row in rows {
        let (id, micros, key_id, action, target, before, after) = row?;
        entries.push(AuditEntry {
            id,
            ts: from_micros(micros)?,
            key_id,
            action,
            target,
            before: parse_json(before)?,
            after: parse_json(after)?,
        });
    }
    Ok(entries)
}

fn parse_json(text: Option<String>) -> StoreResult<Option<Value>> {
    text.map(|text| {
        serde_json::from_str(&text).map_err(|err| StoreError::Corrupt(format!("audit log JSON: {err}")))
    })
    .transpose()
}
