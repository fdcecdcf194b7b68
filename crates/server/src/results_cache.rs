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
        self.find(key, |computed| computed == generation)
    }

    /// The scorecard computed at `generation` or after it (the store's generation only grows).
    pub(crate) fn get_since(&self, key: &CacheKey, generation: u64) -> Option<Arc<String>> {
        self.find(key, |computed| computed >= generation)
    }

    fn find(&self, key: &CacheKey, fresh: impl Fn(u64) -> bool) -> Option<Arc<String>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|entry| fresh(entry.generation) && entry.computed.elapsed() < MAX_AGE)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiting_request_takes_a_scorecard_computed_since_it_arrived() {
        let cache = ResultsCache::default();
        let key: CacheKey = ("x".to_string(), None, true);
        cache.put(key.clone(), 5, Arc::new("card".to_string()));
        // An arriving request wants the data as it is now, exactly.
        assert!(cache.get(&key, 5).is_some());
        assert!(cache.get(&key, 4).is_none());
        // A request that arrived at generation 4 or 5 and waited: the card covers what it saw.
        assert!(cache.get_since(&key, 4).is_some());
        assert!(cache.get_since(&key, 5).is_some());
        // One that arrived after more data came (6) does not take an older card.
        assert!(cache.get_since(&key, 6).is_none());
    }

    #[test]
    fn requests_for_one_scorecard_share_a_turn_and_others_do_not() {
        let cache = ResultsCache::default();
        let key: CacheKey = ("x".to_string(), None, true);
        let first = cache.flight(&key);
        assert!(Arc::ptr_eq(&first, &cache.flight(&key)));
        let other = cache.flight(&("x".to_string(), None, false));
        assert!(!Arc::ptr_eq(&first, &other));
        // Once nobody holds it, the next request gets a new turn and the old one is swept.
        drop(first);
        let again = cache.flight(&key);
        assert_eq!(Arc::strong_count(&again), 1);
        let flights = cache.flights.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!(flights.len(), 2);
    }
}
