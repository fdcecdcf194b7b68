//! Scoped API keys, stored hashed.
//!
//! A key is `rctg_<key_id>_<secret>`: the key id is public (it appears in the audit log and in
//! server logs, so operators can tell keys apart), the secret is 256 random bits. Only the
//! SHA-256 of the whole key is stored. No salt is needed: with 256 bits of entropy a stolen
//! hash cannot be reversed by guessing.
//!
//! Authentication runs on every request, so the hashes are cached in memory (loaded at open,
//! updated on creation) and checking a key takes no database lock. The cache holds the raw
//! 32-byte digests (the table stores them as hex) and shared identities.
//!
//! A key that has passed that check once is remembered by its *tag*: keyed SipHash-2-4 with
//! 128-bit output under a secret drawn when the store opens. Later requests with it cost one
//! SipHash and one lookup instead of a SHA-256 (which was ~150 ns of a ~10 µs `/v1/decide`).
//! The tag is a PRF of the key, so without the secret a forged key matches a remembered tag
//! with probability about 2^-128 per remembered key, and comparing tags says nothing about
//! how close a guess was. Only valid keys are remembered, so the memory is bounded by the
//! number of keys; keys are never revoked, so a remembered key cannot go stale.

use crate::audit::{self, Change};
use crate::error::{StoreError, StoreResult};
use crate::store::Store;
use crate::time::Micros;
use duckdb::Connection;
use rand::rngs::OsRng;
use rand::RngCore;
use rctgate_domain::Scope;
use serde::Serialize;
use sha2::{Digest, Sha256};
use siphasher::sip128::{Hasher128, SipHasher24};
use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::{Arc, PoisonError};

/// Prefix of every key, so leaked keys are recognisable (secret scanners, logs).
const KEY_PREFIX: &str = "rctg_";

/// A freshly created key: the plaintext is shown once and never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewKey {
    /// Public id (audit log, server logs).
    pub key_id: String,
    /// The key to give to the client.
    pub key: String,
    /// What it may do.
    pub scope: Scope,
}

/// Who a valid key belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyIdentity {
    /// Public id.
    pub key_id: String,
    /// What it may do.
    pub scope: Scope,
}

/// SHA-256 digests of keys to their identities, and the keys already checked.
pub(crate) struct KeyCache {
    digests: HashMap<KeyDigest, Arc<KeyIdentity>>,
    /// Tags of keys that matched a digest; see the module doc.
    checked: HashMap<u128, Arc<KeyIdentity>>,
    /// The tag's secret SipHash key, fresh per process.
    secret: [u8; 16],
}

type KeyDigest = [u8; 32];

impl KeyCache {
    pub(crate) fn load(conn: &Connection) -> StoreResult<KeyCache> {
        let mut statement = conn.prepare("SELECT key_hash, key_id, scope FROM api_keys")?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?;
        let mut keys = HashMap::new();
        for row in rows {
            let (hash, key_id, scope) = row?;
            let scope = scope
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("key {key_id} has scope {scope:?}")))?;
            let mut digest = KeyDigest::default();
            hex::decode_to_slice(&hash, &mut digest)
                .map_err(|_| StoreError::Corrupt(format!("key {key_id} has a malformed hash")))?;
            keys.insert(digest, Arc::new(KeyIdentity { key_id, scope }));
        }
        let mut secret = [0u8; 16];
        OsRng.fill_bytes(&mut secret);
        Ok(KeyCache {
            digests: keys,
            checked: HashMap::new(),
            secret,
        })
    }

    fn tag(&self, key: &str) -> u128 {
        let mut hasher = SipHasher24::new_with_key(&self.secret);
        hasher.write(key.as_bytes());
        hasher.finish128().as_u128()
    }
}

fn digest(key: &str) -> KeyDigest {
    Sha256::digest(key.as_bytes()).into()
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buffer);
    hex::encode(buffer)
}

impl Store {
    /// Creates a key with `scope`, recorded in the audit log as made by `created_by` (a key id,
    /// or [`audit::LOCAL_ACTOR`]). Returns the plaintext once.
    pub fn create_key(&self, scope: Scope, created_by: &str) -> StoreResult<NewKey> {
        let key_id = random_hex(6);
        let key = format!("{KEY_PREFIX}{key_id}_{}", random_hex(32));
        let digest = digest(&key);
        let hash = hex::encode(digest);
        let mut writer = self.writer();
        let tx = writer.conn.transaction()?;
        tx.execute(
            "INSERT INTO api_keys (key_id, key_hash, scope, created_at, created_by) VALUES (?, ?, ?, ?, ?)",
            duckdb::params![key_id, hash, scope.as_str(), Micros::now(), created_by],
        )?;
        let after = serde_json::json!({"key_id": key_id, "scope": scope});
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
        let identity = Arc::new(KeyIdentity {
            key_id: key_id.clone(),
            scope,
        });
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .digests
            .insert(digest, identity);
        Ok(NewKey { key_id, key, scope })
    }

    /// Who `key` belongs to, or `None` for an unknown key.
    pub fn authenticate(&self, key: &str) -> Option<Arc<KeyIdentity>> {
        if !key.starts_with(KEY_PREFIX) {
            return None;
        }
        let cache = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let tag = cache.tag(key);
        if let Some(identity) = cache.checked.get(&tag) {
            return Some(Arc::clone(identity));
        }
        let identity = Arc::clone(cache.digests.get(&digest(key))?);
        drop(cache);
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .checked
            .insert(tag, Arc::clone(&identity));
        Some(identity)
    }

    /// Number of keys; `serve` creates an admin key when this is zero.
    pub fn count_keys(&self) -> usize {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .digests
            .len()
    }
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
}
