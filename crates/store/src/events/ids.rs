//! The set of stored event ids, which makes ingestion idempotent.
//!
//! A primary key on `id` would make DuckDB check every insert against an ART index: 4-5x
//! slower ingestion and a 4x larger file. Instead the store keeps a 128-bit fingerprint of
//! every stored id and dedupes batches in Rust before inserting them. For a database file
//! the fingerprints live in an index file beside it (`id_index`), and only those accepted
//! since it was last written live in memory, in a hash set; the background writer folds
//! them into a new index file once they are [`FOLD_AT`] (`id_folding`). A store in memory
//! keeps them all in the hash set. The set is opened when first needed: the first ingest
//! or import after opening, `serve` before it listens. Commands that only read never open
//! it.
//!
//! Fingerprints are keyed SipHash-1-3 with its 128-bit output (the `siphasher` crate): two
//! distinct ids collide with probability about 2^-128 per pair (with 10^9 ids, about
//! 10^-21 overall), and because the key is secret a client cannot craft ids that collide
//! with someone else's. The keys are drawn from the thread's CSPRNG when a database's index
//! is first written and kept in its header (a store in memory draws them per process).
//! The fingerprint was the standard library's 64-bit SipHash-1-3 run twice with different
//! tags, which was 28% of opening a store of 20M events; one pass of the 128-bit variant
//! brought that open from 6.2–6.9 s to 3.3–4.1 s (BENCHMARKS.md). SHA-256 truncated to 128
//! bits had measured 73 ns per id against 21 for the two std passes.
//!
//! Memory of the hash set: 17 bytes per bucket (16-byte fingerprint, 1 control byte),
//! buckets a power of two at most 7/8 full: 570 MB for 20M events. That is why a database's
//! ids live on disk: the set then holds at most about [`FOLD_AT`] of them (17 MB), and the
//! index about 34 MB of its pages at most.

use crate::error::StoreResult;
use crate::events::id_index::IdIndex;
use rand::Rng;
use serde::Serialize;
use siphasher::sip128::{Hasher128, SipHasher13};
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Ids accepted since the index was written that make the background writer fold them into
/// a new one: the set's buckets then stay at 2^20 (17 MB).
pub(crate) const FOLD_AT: usize = 900_000;

/// A 128-bit fingerprint of an event id.
pub(crate) type Fingerprint = u128;

/// Computes fingerprints under this process's secret keys. Cheap to clone, so fingerprints
/// can be computed before taking the intake lock.
#[derive(Clone)]
pub(crate) struct Fingerprinter {
    keys: (u64, u64),
}

impl Fingerprinter {
    /// Fresh random keys.
    pub(crate) fn new() -> Self {
        let mut rng = rand::thread_rng();
        Fingerprinter::with_keys((rng.gen(), rng.gen()))
    }

    /// The fingerprints of an index written with `keys`.
    pub(crate) fn with_keys(keys: (u64, u64)) -> Self {
        Fingerprinter { keys }
    }

    pub(crate) fn keys(&self) -> (u64, u64) {
        self.keys
    }

    /// The fingerprint of `id`: the id's bytes alone are hashed, so distinct ids are
    /// distinct inputs.
    pub(crate) fn fingerprint(&self, id: &str) -> Fingerprint {
        let mut hasher = SipHasher13::new_with_keys(self.keys.0, self.keys.1);
        hasher.write(id.as_bytes());
        hasher.finish128().as_u128()
    }
}

/// Where a database's id index lives and how it is kept (`id_folding`).
#[derive(Clone)]
pub(crate) struct IdHome {
    /// `<database>.ids`.
    pub(crate) path: PathBuf,
    pub(crate) fingerprinter: Fingerprinter,
    /// The idempotency horizon in microseconds (`i64::MAX`: every id).
    pub(crate) horizon: i64,
}

impl IdHome {
    /// The index file beside `database`.
    pub(crate) fn path_for(database: &Path) -> PathBuf {
        let mut name = database.as_os_str().to_owned();
        name.push(".ids");
        PathBuf::from(name)
    }
}

/// A set of fingerprints; hashing them again would be wasted work, so it passes them through.
pub(crate) type FingerprintSet = HashSet<Fingerprint, BuildHasherDefault<PassThrough>>;

/// The ids already stored (or acknowledged), as fingerprints: those in memory and, for a
/// database file, its index.
#[derive(Default)]
pub(crate) struct IdSet {
    /// Accepted since the index was written (every id, for a store in memory).
    pub(crate) recent: FingerprintSet,
    /// Being folded into a new index by the background writer; still looked up.
    pub(crate) folding: Option<Arc<FingerprintSet>>,
    /// The index file's ids.
    pub(crate) index: Option<Arc<IdIndex>>,
}

impl IdSet {
    /// A set of the ids in `index` and `recent`.
    pub(crate) fn with_index(index: IdIndex, recent: FingerprintSet) -> IdSet {
        IdSet {
            recent,
            folding: None,
            index: Some(Arc::new(index)),
        }
    }

    /// Records fingerprints of stored ids.
    pub(crate) fn extend(&mut self, fingerprints: impl IntoIterator<Item = Fingerprint>) {
        self.recent.extend(fingerprints);
    }

    /// Adds every fingerprint of `other` that it holds in memory.
    pub(crate) fn merge(&mut self, other: IdSet) {
        self.recent.extend(other.recent);
    }

    /// Whether `fingerprint` is in the set.
    fn contains(&self, fingerprint: Fingerprint) -> StoreResult<bool> {
        if self.recent.contains(&fingerprint)
            || self
                .folding
                .as_ref()
                .is_some_and(|folding| folding.contains(&fingerprint))
        {
            return Ok(true);
        }
        match &self.index {
            Some(index) => Ok(index.contains(fingerprint)?),
            None => Ok(false),
        }
    }

    /// Records the fingerprints of a batch, in order: an event is kept if its id is neither
    /// stored nor earlier in the batch. Fails only when the index cannot be read; nothing
    /// is recorded then.
    pub(crate) fn admit(
        &mut self,
        fingerprints: impl ExactSizeIterator<Item = Fingerprint>,
    ) -> StoreResult<Admission> {
        self.recent.reserve(fingerprints.len());
        let mut admission = Admission {
            keep: Vec::with_capacity(fingerprints.len()),
            added: Vec::with_capacity(fingerprints.len()),
        };
        for fingerprint in fingerprints {
            let new = match self.contains(fingerprint) {
                Ok(stored) => !stored && self.recent.insert(fingerprint),
                Err(err) => {
                    self.remove_all(&admission.added);
                    return Err(err);
                }
            };
            if new {
                admission.added.push(fingerprint);
            }
            admission.keep.push(new);
        }
        Ok(admission)
    }

    /// Forgets fingerprints (of a transaction that rolled back).
    pub(crate) fn remove_all(&mut self, fingerprints: &[Fingerprint]) {
        for fingerprint in fingerprints {
            self.recent.remove(fingerprint);
        }
    }

    /// Makes room for `additional` more ids without rehashing on the way.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.recent.reserve(additional);
    }

    /// Number of ids (the index's count those of the horizon it was written with).
    pub(crate) fn len(&self) -> usize {
        let index = self.index.as_ref().map_or(0, |index| index.len() as usize);
        self.recent.len() + self.folding.as_ref().map_or(0, |folding| folding.len()) + index
    }
}

/// What [`IdSet::admit`] decided for a batch.
pub(crate) struct Admission {
    /// Whether each event is kept.
    pub(crate) keep: Vec<bool>,
    /// The fingerprints added to the set, to take out again if the batch is not logged (or,
    /// in an import, not committed).
    pub(crate) added: Vec<Fingerprint>,
}

impl Admission {
    /// Kept and duplicate counts.
    pub(crate) fn outcome(&self) -> IngestOutcome {
        IngestOutcome {
            accepted: self.added.len() as u64,
            duplicates: (self.keep.len() - self.added.len()) as u64,
        }
    }
}

/// A hasher for values that are already uniformly random (fingerprints): it folds them instead
/// of hashing them a second time.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for non-u128 keys; fold bytes so it stays a correct hasher.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u128(&mut self, value: u128) {
        self.0 = (value as u64) ^ ((value >> 64) as u64);
    }
}

/// What happened to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct IngestOutcome {
    /// Events stored now.
    pub accepted: u64,
    /// Events whose id was already stored, or repeated earlier in the batch.
    pub duplicates: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_within_a_set_and_distinct_across_ids() {
        let set = Fingerprinter::new();
        assert_eq!(set.fingerprint("e1"), set.fingerprint("e1"));
        assert_ne!(set.fingerprint("e1"), set.fingerprint("e2"));
        assert_ne!(set.fingerprint(""), set.fingerprint("\0"));
    }

    #[test]
    fn no_collisions_among_many_ids() {
        let set = Fingerprinter::new();
        let fingerprints: HashSet<Fingerprint> = (0..200_000)
            .map(|n| set.fingerprint(&format!("event-{n}")))
            .collect();
        assert_eq!(fingerprints.len(), 200_000);
    }

    #[test]
    fn admit_reports_repeats_and_remove_all_undoes() {
        let mut set = IdSet::default();
        let fingerprinter = Fingerprinter::new();
        let (first, second) = (fingerprinter.fingerprint("e1"), fingerprinter.fingerprint("e2"));
        set.extend([first]);
        let admission = set.admit([first, second, second].into_iter()).expect("admit");
        assert_eq!(admission.keep, [false, true, false]);
        assert_eq!(admission.added, [second]);
        assert_eq!(admission.outcome().accepted, 1);
        assert_eq!(admission.outcome().duplicates, 2);
        assert_eq!(set.len(), 2);
        set.remove_all(&[second]);
        assert_eq!(set.admit([second].into_iter()).expect("admit").keep, [true]);
    }
}
