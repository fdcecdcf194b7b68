//! The keys in memory, checked on every request without a database lock.
//!
//! Authentication runs on every request, so the keys are cached here (loaded at open,
//! updated on creation and revocation) and checking a key takes no database lock. A key that
//! has passed the SHA-256 check once is remembered by its *tag*: keyed SipHash-2-4 with 128-bit
//! output under a secret drawn when the store opens, so later requests cost one SipHash and one
//! lookup (a SHA-256 was ~150 ns of a ~10 µs `/v1/decide`). The tag is a PRF of the key, so
//! without the secret a forged key matches a remembered tag with probability about 2^-128.
//! Revoking a key removes it and its tags from the cache in the same call that commits the
//! revocation, so its next request is refused; an expired key stays in the cache only to be
//! refused with the reason.

use crate::error::{StoreError, StoreResult};
use crate::time::from_micros;
use chrono::{DateTime, Utc};
use duckdb::Connection;
use rand::rngs::OsRng;
use rand::RngCore;
use rctgate_domain::{Scope, Scopes};
use serde::Serialize;
use sha2::{Digest, Sha256};
use siphasher::sip128::{Hasher128, SipHasher24};
use std::collections::HashMap;
use std::fmt;
use std::hash::Hasher;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The schema version that added `api_key_state`.
pub(crate) const KEY_STATE_VERSION: u32 = 4;

/// Who a valid key belongs to, shared by the cache and every request it authenticates.
#[derive(Debug, Serialize)]
pub struct KeyIdentity {
    /// Public id.
    pub key_id: String,
    /// What it may do.
    pub scopes: Scopes,
    /// Its label.
    pub name: Option<String>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// `expires_at` in microseconds (`i64::MAX`: never), compared on every request.
    #[serde(skip)]
    expires_micros: i64,
    /// Microseconds of the last request it authenticated (0: never, since the last write).
    #[serde(skip)]
    pub(crate) last_used: AtomicI64,
}

impl KeyIdentity {
    pub(crate) fn new(
        key_id: String,
        scopes: Scopes,
        name: Option<String>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Self {
        KeyIdentity {
            key_id,
            scopes,
            name,
            expires_at,
            expires_micros: expires_at.map_or(i64::MAX, |at| at.timestamp_micros()),
            last_used: AtomicI64::new(0),
        }
    }

    /// Whether it grants `scope`.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.allows(scope)
    }

    /// Refuses it if it expired by `micros`; otherwise records the use.
    pub(crate) fn admit(&self, micros: i64) -> Result<(), KeyRejection> {
        if micros >= self.expires_micros {
            return Err(KeyRejection::Expired {
                key_id: self.key_id.clone(),
                at: self.expires_at,
            });
        }
        // Whole seconds are enough, and skipping equal stores keeps the cache line shared.
        let last = self.last_used.load(Ordering::Relaxed);
        if micros - last >= 1_000_000 {
            self.last_used.store(micros, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Why a presented key was refused (401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRejection {
    /// No such key.
    Unknown,
    /// The key was revoked.
    Revoked {
        /// Its public id.
        key_id: String,
    },
    /// The key's lifetime ended.
    Expired {
        /// Its public id.
        key_id: String,
        /// When.
        at: Option<DateTime<Utc>>,
    },
}

impl fmt::Display for KeyRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRejection::Unknown => f.write_str("The API key is not valid."),
            KeyRejection::Revoked { key_id } => {
                write!(f, "The API key {key_id} was revoked; ask an admin for a new key.")
            }
            KeyRejection::Expired { key_id, at } => {
                write!(f, "The API key {key_id} expired")?;
                if let Some(at) = at {
                    write!(f, " at {}", at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))?;
                }
                f.write_str("; ask an admin for a new key.")
            }
        }
    }
}

/// SHA-256 digests of keys to their identities, and the keys already checked.
pub(crate) struct KeyCache {
    pub(crate) digests: HashMap<KeyDigest, Arc<KeyIdentity>>,
    /// Digests of revoked keys to their ids, to say why they are refused.
    pub(crate) revoked: HashMap<KeyDigest, String>,
    /// Tags of keys that matched a digest; see the module doc.
    pub(crate) checked: HashMap<u128, Arc<KeyIdentity>>,
    /// The tag's secret SipHash key, fresh per process.
    secret: [u8; 16],
}

pub(crate) type KeyDigest = [u8; 32];

impl KeyCache {
    /// Loads the keys of a file at schema version `schema` (before v4, keys had no state).
    pub(crate) fn load(conn: &Connection, schema: u32) -> StoreResult<KeyCache> {
        let mut statement = conn.prepare(if schema >= KEY_STATE_VERSION {
            "SELECT k.key_hash, k.key_id, k.scope, s.name, epoch_us(s.expires_at), s.revoked_at IS NOT NULL, \
                    epoch_us(s.last_used_at) \
             FROM api_keys k LEFT JOIN api_key_state s USING (key_id)"
        } else {
            "SELECT key_hash, key_id, scope, NULL::VARCHAR, NULL::BIGINT, false, NULL::BIGINT FROM api_keys"
        })?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<i64>>(4)?,
                row.get::<_, bool>(5)?,
                row.get::<_, Option<i64>>(6)?,
            ))
        })?;
        let mut digests = HashMap::new();
        let mut revoked = HashMap::new();
        for row in rows {
            let (hash, key_id, scope, name, expires, is_revoked, last_used) = row?;
            let scopes = Scopes::parse_list("scope", &scope)
                .map_err(|_| StoreError::Corrupt(format!("key {key_id} has scope {scope:?}")))?;
            let mut digest = KeyDigest::default();
            hex::decode_to_slice(&hash, &mut digest)
                .map_err(|_| StoreError::Corrupt(format!("key {key_id} has a malformed hash")))?;
            if is_revoked {
                revoked.insert(digest, key_id);
                continue;
            }
            let expires_at = expires.map(from_micros).transpose()?;
            let identity = KeyIdentity::new(key_id, scopes, name, expires_at);
            identity
                .last_used
                .store(last_used.unwrap_or(0), Ordering::Relaxed);
            digests.insert(digest, Arc::new(identity));
        }
        let mut secret = [0u8; 16];
        OsRng.fill_bytes(&mut secret);
        Ok(KeyCache {
            digests,
            revoked,
            checked: HashMap::new(),
            secret,
        })
    }

    pub(crate) fn tag(&self, key: &str) -> u128 {
        let mut hasher = SipHasher24::new_with_key(&self.secret);
        hasher.write(key.as_bytes());
        hasher.finish128().as_u128()
    }

    pub(crate) fn by_id(&self, key_id: &str) -> Option<&Arc<KeyIdentity>> {
        self.digests.values().find(|identity| identity.key_id == key_id)
    }
}

pub(crate) fn digest(key: &str) -> KeyDigest {
    Sha256::digest(key.as_bytes()).into()
}
