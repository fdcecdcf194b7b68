//! The scorecards `GET /v1/experiments/{key}/results` computed, kept while nothing changed
//! (see `results`), and the analyses under way, so that requests for the same scorecard wait
//! for one analysis rather than each running its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

/// How long a cached scorecard may be served when no data changed.
pub const MAX_AGE: Duration = Duration::from_secs(60);
/// Scorecards kept; the oldest is dropped past this.
const CAPACITY: usize = 256;

pub(crate) type CacheKey = (String, Option<String>, bool);

struct Entry {
    generation: u64,
    computed: Instant,
    body: Arc<String>,
}

/// Rendered scorecards by (experiment, segment).
#[derive(Default)]
pub struct ResultsCache {
    entries: Mutex<HashMap<CacheKey, Entry>>,
    /// One turn per scorecard being computed. An entry lives as long as a request holds or
    /// awaits it; dead ones are swept when a new one is made.
    flights: Mutex<HashMap<CacheKey, Weak<tokio::sync::Mutex<()>>>>,
}

impl ResultsCache {
    pub(crate) fn get(&self, key: &CacheKey, generation: u64) -> Option<Arc<String>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|entry| entry.generation == generation && entry.computed.elapsed() < MAX_AGE)
            .map(|entry| Arc::clone(&entry.body))
    }

    /// The turn to compute `key`'s scorecard. Requests that miss the cache together take it
    /// one after another, and each looks in the cache again first: on a dashboard several
    /// viewers, and on Spark an analysis of seconds, would otherwise start one analysis per
    /// request, all competing for the same engine.
    pub(crate) fn flight(&self, key: &CacheKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(flight) = flights.get(key).and_then(Weak::upgrade) {
            return flight;
        }
        flights.retain(|_, flight| flight.strong_count() > 0);
        let flight = Arc::new(tokio::sync::Mutex::new(()));
        flights.insert(key.clone(), Arc::downgrade(&flight));
        flight
    }

    pub(crate) fn put(&self, key: CacheKey, generation: u64, body: Arc<String>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY && !entries.contains_key(&key) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, entry)| entry.computed)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            key,
            Entry {
                generation,
                computed: Instant::now(),
                body,
            },
        );
    }
}
