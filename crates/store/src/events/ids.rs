//! The in-memory set of stored event ids, which makes ingestion idempotent.
//!
//! A primary key on `id` would make DuckDB check every insert against an ART index: 4-5x
//! slower ingestion and a 4x larger file. Instead the store keeps a 128-bit fingerprint of
//! every stored id in a hash set, filled from the tables (so idempotency holds across
//! restarts), and dedupes batches in Rust before inserting them. The set is built when first
//! needed: the first ingest or import after opening, `serve` before it listens, or at open
//! when the ingest log holds batches to replay. Commands that only read never build it.
//!
//! Fingerprints are keyed SipHash-1-3 with its 128-bit output (the `siphasher` crate; keys
//! drawn per process from the thread's CSPRNG): two distinct ids collide with probability
//! about 2^-128 per pair (with 10^9 ids, about 10^-21 overall), and because the key is secret
//! and per process a client cannot craft ids that collide with someone else's. The keys
//! change on every start, which is fine: the set is rebuilt from the stored ids, never
//! persisted. This was the standard library's 64-bit SipHash-1-3 run twice with different
//! tags, which was 28% of opening a store of 20M events; one pass of the 128-bit variant
//! brought that open from 6.2–6.9 s to 3.3–4.1 s (BENCHMARKS.md). SHA-256 truncated to 128
//! bits had measured 73 ns per id against 21 for the two std passes.
//!
//! Memory: 17 bytes per bucket (16-byte fingerprint, 1 control byte), buckets a power of two
//! at most 7/8 full: 570 MB for 20M events, briefly 1.5x that while the set doubles. Building
//! the set from the tables takes about 0.2 s per million stored events.

use rand::Rng;
use serde::Serialize;
use siphasher::sip128::{Hasher128, SipHasher13};
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

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
        Fingerprinter {
            keys: (rng.gen(), rng.gen()),
        }
    }

    /// The fingerprint of `id`: the id's bytes alone are hashed, so distinct ids are
    /// distinct inputs.
    pub(crate) fn fingerprint(&self, id: &str) -> Fingerprint {
        let mut hasher = SipHasher13::new_with_keys(self.keys.0, self.keys.1);
        hasher.write(id.as_bytes());
        hasher.finish128().as_u128()
    }
}

/// A set of fingerprints; hashing them again would be wasted work, so it passes them through.
type FingerprintSet = HashSet<Fingerprint, BuildHasherDefault<PassThrough>>;

/// The ids already stored, as fingerprints.
#[derive(Default)]
pub(crate) struct IdSet {
    seen: FingerprintSet,
}

impl IdSet {
    /// Records fingerprints of stored ids.
    pub(crate) fn extend(&mut self, fingerprints: impl IntoIterator<Item = Fingerprint>) {
        self.seen.extend(fingerprints);
    }

    /// Adds every fingerprint of `other`.
    pub(crate) fn merge(&mut self, other: IdSet) {
        self.seen.extend(other.seen);
    }

    /// Records the fingerprints of a batch, in order: an event is kept if its id is neither
    /// stored nor earlier in the batch.
    pub(crate) fn admit(&mut self, fingerprints: impl ExactSizeIterator<Item = Fingerprint>) -> Admission {
        self.seen.reserve(fingerprints.len());
        let mut admission = Admission {
            keep: Vec::with_capacity(fingerprints.len()),
            added: Vec::with_capacity(fingerprints.len()),
        };
        for fingerprint in fingerprints {
            let new = self.seen.insert(fingerprint);
            if new {
                admission.added.push(fingerprint);
            }
            admission.keep.push(new);
        }
        admission
    }

    /// Forgets fingerprints (of a transaction that rolled back).
    pub(crate) fn remove_all(&mut self, fingerprints: &[Fingerprint]) {
        for fingerprint in fingerprints {
            self.seen.remove(fingerprint);
        }
    }

    /// Makes room for `additional` more ids without rehashing on the way.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.seen.reserve(additional);
    }

    /// Number of stored ids.
    pub(crate) fn len(&self) -> usize {
        self.seen.len()
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
        let admission = set.admit([first, second, second].into_iter());
        assert_eq!(admission.keep, [false, true, false]);
        assert_eq!(admission.added, [second]);
        assert_eq!(admission.outcome().accepted, 1);
        assert_eq!(admission.outcome().duplicates, 2);
        assert_eq!(set.len(), 2);
        set.remove_all(&[second]);
        assert_eq!(set.admit([second].into_iter()).keep, [true]);
    }
}
