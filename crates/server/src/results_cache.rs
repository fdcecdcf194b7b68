//! The scorecards `GET /v1/experiments/{key}/results` computed, kept while nothing changed
//! (see `results`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
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
}

impl ResultsCache {
    pub(crate) fn get(&self, key: &CacheKey, generation: u64) -> Option<Arc<String>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|entry| entry.generation == generation && entry.computed.elapsed() < MAX_AGE)
            .map(|entry| Arc::clone(&entry.body))
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
