//! API keys: scoped, named, expiring, revocable, stored hashed.
//!
//! A key is `rctg_<key_id>_<secret>`: the key id is public (it appears in the audit log,
//! listings and server logs, so operators can tell keys apart), the secret is 256 random bits.
//! Only the SHA-256 of the whole key is stored. No salt is needed: with 256 bits of entropy a
//! stolen hash cannot be reversed by guessing. What a key may do (`scope`, a comma list) and
//! who made it live in `api_keys`; its name, expiry, revocation and last use in
//! `api_key_state` (schema v4).
//!
//! Authentication runs on every request against a cache of the keys (`key_cache`).
//!
//! "Last used" is kept in memory (one relaxed atomic store per request and key, at most once a
//! second) and written to the database when keys are listed and when the store closes: a
//! write per request would put every `/v1/decide` behind the writer lock.

use crate::catalog::audit::{self, Change};
use crate::catalog::key_cache::{digest, KeyDigest, KeyIdentity, KeyRejection};
use crate::error::{StoreError, StoreResult};
use crate::store::Store;
use crate::time::{from_micros, now, Micros};
use chrono::{DateTime, Utc};
use duckdb::Connection;
use rand::rngs::OsRng;
use rand::RngCore;
use rctgate_domain::{KeySpec, Scope, Scopes};
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

/// Prefix of every key, so leaked keys are recognisable (secret scanners, logs).
const KEY_PREFIX: &str = "rctg_";

/// A freshly created key: the plaintext is shown once and never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewKey {
    /// Public id (audit log, listings, server logs).
    pub key_id: String,
    /// The key to give to the client.
    pub key: String,
    /// What it may do.
    pub scopes: Scopes,
    /// Its label.
    pub name: Option<String>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key as listings show it: everything but the secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyInfo {
    /// Public id.
    pub key_id: String,
    /// Its label.
    pub name: Option<String>,
    /// What it may do.
    pub scopes: Scopes,
    /// `active`, `expired` or `revoked`.
    pub status: &'static str,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// The key id that made it, or `local`.
    pub created_by: String,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
    /// Its last authenticated request (to the second), if any.
    pub last_used_at: Option<DateTime<Utc>>,
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buffer);
    hex::encode(buffer)
}

fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

impl Store {
    /// Creates a key as `spec` says, recorded in the audit log as made by `created_by` (a key
    /// id, or [`audit::LOCAL_ACTOR`]). Returns the plaintext once.
    pub fn create_key(&self, spec: &KeySpec, created_by: &str) -> StoreResult<NewKey> {
        let key_id = random_hex(6);
        let key = format!("{KEY_PREFIX}{key_id}_{}", random_hex(32));
        let digest = digest(&key);
        let hash = hex::encode(digest);
        let created = now();
        let expires_at = spec.lifetime.map(|lifetime| created + lifetime);
        let mut writer = self.writer();
        let tx = writer.conn.transaction()?;
        tx.execute(
            "INSERT INTO api_keys (key_id, key_hash, scope, created_at, created_by) VALUES (?, ?, ?, ?, ?)",
            duckdb::params![
                key_id,
                hash,
                spec.scopes.to_list(),
                Micros::of(created),
                created_by
            ],
        )?;
        tx.execute(
            "INSERT INTO api_key_state (key_id, name, expires_at) VALUES (?, ?, ?)",
            duckdb::params![key_id, spec.name, expires_at.map(Micros::of)],
        )?;
        let after = serde_json::json!({"key_id": key_id, "scopes": spec.scopes, "name": spec.name,
                                       "expires_at": expires_at});
        audit::record(
            &tx,
            Change {
                key_id: created_by,
                action: "key.create",
                target: &key_id,
                before: None,
                after: Some(&after),
            },
        )?;
        tx.commit()?;
        let identity = KeyIdentity::new(key_id.clone(), spec.scopes, spec.name.clone(), expires_at);
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .digests
            .insert(digest, Arc::new(identity));
        Ok(NewKey {
            key_id,
            key,
            scopes: spec.scopes,
            name: spec.name.clone(),
            expires_at,
        })
    }

    /// Who `key` belongs to, or why it is refused (unknown, revoked, expired).
    pub fn authenticate(&self, key: &str) -> Result<Arc<KeyIdentity>, KeyRejection> {
        if !key.starts_with(KEY_PREFIX) {
            return Err(KeyRejection::Unknown);
        }
        let cache = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let tag = cache.tag(key);
        if let Some(identity) = cache.checked.get(&tag) {
            identity.admit(now_micros())?;
            return Ok(Arc::clone(identity));
        }
        let digest = digest(key);
        let Some(identity) = cache.digests.get(&digest) else {
            return Err(match cache.revoked.get(&digest) {
                Some(key_id) => KeyRejection::Revoked {
                    key_id: key_id.clone(),
                },
                None => KeyRejection::Unknown,
            });
        };
        let identity = Arc::clone(identity);
        drop(cache);
        identity.admit(now_micros())?;
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .checked
            .insert(tag, Arc::clone(&identity));
        Ok(identity)
    }

    /// The key `key_id` as it stands now (a dashboard session re-checks its key on every
    /// page): refused once it is revoked or expired.
    pub fn key_identity(&self, key_id: &str) -> Result<Arc<KeyIdentity>, KeyRejection> {
        let cache = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let Some(identity) = cache.by_id(key_id) else {
            return Err(if cache.revoked.values().any(|id| id == key_id) {
                KeyRejection::Revoked {
                    key_id: key_id.to_string(),
                }
            } else {
                KeyRejection::Unknown
            });
        };
        identity.admit(now_micros())?;
        Ok(Arc::clone(identity))
    }

    /// Number of keys, revoked ones included; `serve` creates an admin key when this is zero.
    pub fn count_keys(&self) -> usize {
        let cache = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        cache.digests.len() + cache.revoked.len()
    }

    /// Every key, oldest first, without secrets.
    pub fn list_keys(&self) -> StoreResult<Vec<KeyInfo>> {
        self.save_key_usage()?;
        let writer = self.writer();
        list(&writer.conn)
    }

    /// Revokes key `key_id` (404 if unknown, 409 if already revoked or the last active admin
    /// key); its next request gets 401. Recorded in the audit log as done by `by`.
    pub fn revoke_key(&self, key_id: &str, by: &str) -> StoreResult<KeyInfo> {
        let mut writer = self.writer();
        let tx = writer.conn.transaction()?;
        let keys = list(&tx)?;
        let Some(before) = keys.iter().find(|k| k.key_id == key_id) else {
            return Err(StoreError::NotFound {
                what: "API key",
                name: key_id.to_string(),
            });
        };
        if before.status == "revoked" {
            return Err(StoreError::conflict(format!("Key {key_id} is already revoked.")));
        }
        let other_admins = keys
            .iter()
            .filter(|k| k.key_id != key_id && k.status == "active" && k.scopes.contains(Scope::Admin))
            .count();
        if before.status == "active" && before.scopes.contains(Scope::Admin) && other_admins == 0 {
            return Err(StoreError::conflict(format!(
                "Key {key_id} is the last active admin key; create another admin key before revoking it."
            )));
        }
        let revoked_at = now();
        tx.execute(
            "UPDATE api_key_state SET revoked_at = ?, revoked_by = ? WHERE key_id = ?",
            duckdb::params![Micros::of(revoked_at), by, key_id],
        )?;
        let after = KeyInfo {
            status: "revoked",
            revoked_at: Some(revoked_at),
            revoked_by: Some(by.to_string()),
            ..before.clone()
        };
        audit::record(
            &tx,
            Change {
                key_id: by,
                action: "key.revoke",
                target: key_id,
                before: Some(&to_json(before)?),
                after: Some(&to_json(&after)?),
            },
        )?;
        tx.commit()?;
        let mut cache = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let digests: Vec<KeyDigest> = cache
            .digests
            .iter()
            .filter(|(_, identity)| identity.key_id == key_id)
            .map(|(digest, _)| *digest)
            .collect();
        for digest in digests {
            cache.digests.remove(&digest);
            cache.revoked.insert(digest, key_id.to_string());
        }
        cache.checked.retain(|_, identity| identity.key_id != key_id);
        Ok(after)
    }

    /// Writes the in-memory "last used" times to the database.
    pub(crate) fn save_key_usage(&self) -> StoreResult<()> {
        let used: Vec<(String, i64)> = {
            let cache = self.keys.read().unwrap_or_else(PoisonError::into_inner);
            cache
                .digests
                .values()
                .map(|identity| {
                    (
                        identity.key_id.clone(),
                        identity.last_used.load(Ordering::Relaxed),
                    )
                })
                .filter(|(_, micros)| *micros > 0)
                .collect()
        };
        if used.is_empty() {
            return Ok(());
        }
        let mut writer = self.writer();
        let tx = writer.conn.transaction()?;
        {
            let mut statement = tx.prepare(
                "UPDATE api_key_state SET last_used_at = ? WHERE key_id = ? \
                 AND (last_used_at IS NULL OR last_used_at < ?)",
            )?;
            for (key_id, micros) in &used {
                statement.execute(duckdb::params![Micros(*micros), key_id, Micros(*micros)])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

fn list(conn: &Connection) -> StoreResult<Vec<KeyInfo>> {
    let mut statement = conn.prepare(
        "SELECT k.key_id, s.name, k.scope, epoch_us(k.created_at), k.created_by, epoch_us(s.expires_at), \
                epoch_us(s.revoked_at), s.revoked_by, epoch_us(s.last_used_at) \
         FROM api_keys k LEFT JOIN api_key_state s USING (key_id) ORDER BY k.created_at, k.key_id",
    )?;
    let rows = statement.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, Option<String>>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, i64>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, Option<i64>>(5)?,
            row.get::<_, Option<i64>>(6)?,
            row.get::<_, Option<String>>(7)?,
            row.get::<_, Option<i64>>(8)?,
        ))
    })?;
    let at = |micros: Option<i64>| micros.map(from_micros).transpose();
    let current = now_micros();
    let mut keys = Vec::new();
    for row in rows {
        let (key_id, name, scope, created, created_by, expires, revoked, revoked_by, last_used) = row?;
        let scopes = Scopes::parse_list("scope", &scope)
            .map_err(|_| StoreError::Corrupt(format!("key {key_id} has scope {scope:?}")))?;
        let status = if revoked.is_some() {
            "revoked"
        } else if expires.is_some_and(|e| current >= e) {
            "expired"
        } else {
            "active"
        };
        keys.push(KeyInfo {
            key_id,
            name,
            scopes,
            status,
            created_at: from_micros(created)?,
            created_by,
            expires_at: at(expires)?,
            revoked_at: at(revoked)?,
            revoked_by,
            last_used_at: at(last_used)?,
        });
    }
    Ok(keys)
}

fn to_json<T: Serialize>(value: &T) -> StoreResult<serde_json::Value> {
    serde_json::to_value(value).map_err(|err| StoreError::Corrupt(format!("to JSON: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_a_recognisable_shape() {
        assert!(random_hex(6).len() == 12);
        assert_ne!(random_hex(32), random_hex(32));
        assert_eq!(hex::encode(digest("a")).len(), 64);
    }

    #[test]
    fn rejections_are_sentences_naming_the_key() {
        let revoked = KeyRejection::Revoked { key_id: "abc".into() };
        assert!(revoked.to_string().contains("abc was revoked"));
        let expired = KeyRejection::Expired {
            key_id: "abc".into(),
            at: DateTime::from_timestamp(0, 0),
        };
        assert!(
            expired.to_string().contains("expired at 1970-01-01T00:00:00Z"),
            "{expired}"
        );
    }
}
