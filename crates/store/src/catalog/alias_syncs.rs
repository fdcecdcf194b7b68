//! Registry aliases that follow promotions (`serve --mlflow-uri`): which promotions an alias
//! still has to follow, and the record of each that it did or could not.
//!
//! The store does not talk to the registry; the server does, and writes here what happened.
//! What is due is derived from the promotions themselves: a model's latest promotion without
//! an outcome for the alias. So a promotion made while the server was down (by the CLI on
//! the file), or one whose sync was cut off by a crash, is found at the next start, and
//! nothing outside the promotion's own transaction has to be written for it to be followed.
//! Only the latest promotion of a model is due: the alias follows the production pointer,
//! not its history.

use crate::catalog::audit::{self, Change};
use crate::error::{StoreError, StoreResult};
use crate::store::Store;
use crate::time::Micros;
use rctgate_domain::ModelVersion;
use serde_json::Value;

/// The audit actor for changes the server makes on its own (the alias sync), not on an API
/// key's request.
pub const SERVER_ACTOR: &str = "server";

/// A promotion whose alias is still to be set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasSync {
    pub model: String,
    /// The promotion's number (increasing).
    pub promotion_id: i64,
    /// The version it made production.
    pub version: String,
    /// That version's artifact URI, which may name the registry's version.
    pub artifact_uri: Option<String>,
}

/// How a sync ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasOutcome {
    /// The alias points at the promoted version.
    Set,
    /// It cannot be set without someone changing something (no such registered version,
    /// refused credentials); the alias stays where it was until the next promotion.
    Failed,
}

impl AliasOutcome {
    fn as_str(self) -> &'static str {
        match self {
            AliasOutcome::Set => "set",
            AliasOutcome::Failed => "failed",
        }
    }

    fn action(self) -> &'static str {
        match self {
            AliasOutcome::Set => "model.alias_set",
            AliasOutcome::Failed => "model.alias_sync_failed",
        }
    }
}

impl Store {
    /// The latest promotion of each model that `alias` has no outcome for, oldest first.
    pub fn alias_syncs_due(&self, alias: &str) -> StoreResult<Vec<AliasSync>> {
        let writer = self.writer();
        let mut statement = writer.conn.prepare(
            "SELECT p.model, p.id, p.version, v.definition
             FROM promotions p
             JOIN (SELECT model, max(id) AS id FROM promotions GROUP BY model) latest USING (model, id)
             LEFT JOIN model_versions v ON v.model = p.model AND v.version = p.version
             WHERE NOT EXISTS (SELECT 1 FROM alias_syncs s
                               WHERE s.model = p.model AND s.promotion_id = p.id AND s.alias = ?)
             ORDER BY p.id",
        )?;
        let rows = statement.query_map([alias], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
            ))
        })?;
        let mut due = Vec::new();
        for row in rows {
            let (model, promotion_id, version, definition) = row?;
            let artifact_uri = match definition {
                Some(text) => {
                    serde_json::from_str::<ModelVersion>(&text)
                        .map_err(|err| StoreError::Corrupt(format!("model version: {err}")))?
                        .artifact_uri
                }
                None => None,
            };
            due.push(AliasSync {
                model,
                promotion_id,
                version,
                artifact_uri,
            });
        }
        Ok(due)
    }

    /// Records how following `sync` with `alias` ended, with its audit entry (`detail`: what
    /// the registry was asked and said), in one transaction; the promotion is then no longer
    /// due.
    pub fn record_alias_sync(
        &self,
        sync: &AliasSync,
        alias: &str,
        outcome: AliasOutcome,
        detail: &Value,
    ) -> StoreResult<()> {
        let mut writer = self.writer();
        let tx = writer.conn.transaction()?;
        tx.execute(
            "INSERT INTO alias_syncs (model, promotion_id, alias, outcome, detail, ts) VALUES (?, ?, ?, ?, ?, ?)",
            duckdb::params![
                sync.model,
                sync.promotion_id,
                alias,
                outcome.as_str(),
                detail.to_string(),
                Micros::now()
            ],
        )?;
        audit::record(
            &tx,
            Change {
                key_id: SERVER_ACTOR,
                action: outcome.action(),
                target: &sync.model,
                before: None,
                after: Some(detail),
            },
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records in the audit log that following `sync` failed for a reason that may pass (the
    /// registry unreachable) and will be tried again; the promotion stays due.
    pub fn record_alias_retry(&self, sync: &AliasSync, detail: &Value) -> StoreResult<()> {
        let writer = self.writer();
        audit::record(
            &writer.conn,
            Change {
                key_id: SERVER_ACTOR,
                action: "model.alias_sync_retrying",
                target: &sync.model,
                before: None,
                after: Some(detail),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rctgate_domain::{NewModel, PromotionRequest};
    use serde_json::json;

    fn version(name: &str, artifact_uri: Option<&str>) -> ModelVersion {
        ModelVersion {
            version: name.into(),
            artifact_uri: artifact_uri.map(str::to_string),
            offline_metrics: Default::default(),
            payload: Value::Null,
            reference_distribution: None,
            created_at: None,
        }
    }

    fn promote_override(store: &Store, model: &str, version: &str) -> StoreResult<()> {
        let request = PromotionRequest {
            version: version.into(),
            experiment: None,
            override_reason: Some("test".into()),
            holdout: None,
        };
        store.promote(model, &request, "admin", 1).map(drop)
    }

    #[test]
    fn the_latest_promotion_of_each_model_is_due_until_its_outcome_is_recorded() -> StoreResult<()> {
        let store = Store::open_in_memory()?;
        for model in ["ranker", "search"] {
            store.create_model(
                NewModel {
                    name: model.into(),
                    description: None,
                },
                "admin",
            )?;
            store.add_model_version(model, version("1", None), "admin")?;
            store.add_model_version(model, version("v2", Some("models:/prod-ranker/2")), "admin")?;
        }
        assert!(
            store.alias_syncs_due("champion")?.is_empty(),
            "nothing promoted yet"
        );
        promote_override(&store, "ranker", "1")?;
        promote_override(&store, "ranker", "v2")?;
        promote_override(&store, "search", "1")?;
        let due = store.alias_syncs_due("champion")?;
        let summary: Vec<_> = due
            .iter()
            .map(|s| (s.model.as_str(), s.version.as_str(), s.artifact_uri.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                ("ranker", "v2", Some("models:/prod-ranker/2")),
                ("search", "1", None)
            ],
            "only the latest promotion of each model, oldest first"
        );

        store.record_alias_sync(&due[0], "champion", AliasOutcome::Set, &json!({"attempts": 1}))?;
        store.record_alias_retry(&due[1], &json!({"error": "down"}))?;
        let left = store.alias_syncs_due("champion")?;
        assert_eq!(left, [due[1].clone()], "a retry leaves it due");
        assert_eq!(
            store.alias_syncs_due("production")?.len(),
            2,
            "each alias on its own"
        );
        store.record_alias_sync(&due[1], "champion", AliasOutcome::Failed, &json!({"error": "no"}))?;
        assert!(store.alias_syncs_due("champion")?.is_empty());

        // A rollback is a new promotion: due again.
        promote_override(&store, "ranker", "1")?;
        let due = store.alias_syncs_due("champion")?;
        assert_eq!((due.len(), due[0].version.as_str()), (1, "1"));

        let actions: Vec<(String, String, String)> = store
            .list_audit(20)?
            .into_iter()
            .filter(|entry| entry.action.starts_with("model.alias"))
            .map(|entry| (entry.key_id, entry.action, entry.target))
            .collect();
        let expected = [
            ("model.alias_sync_failed", "search"),
            ("model.alias_sync_retrying", "search"),
            ("model.alias_set", "ranker"),
        ]
        .map(|(action, target)| (SERVER_ACTOR.to_string(), action.to_string(), target.to_string()));
        assert_eq!(actions, expected, "newest first");
        Ok(())
    }
}
