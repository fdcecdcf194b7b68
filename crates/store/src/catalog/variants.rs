//! Every experiment's variants, as exposures are validated against them, and their cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Experiment keys and the names of their variants.
pub(crate) type ExperimentVariants = HashMap<String, Vec<String>>;

/// The variants read at a count of experiment changes, kept until the count moves.
///
/// Read once per experiment change rather than once per batch: reading them takes the writer
/// lock and decodes every experiment, which made each `POST /v1/events` wait for the other
/// clients' commits before it could even validate.
#[derive(Default)]
pub(crate) struct VariantCache {
    /// Counts committed experiment changes.
    changes: AtomicU64,
    cached: Mutex<Option<(u64, Arc<ExperimentVariants>)>>,
}

impl VariantCache {
    /// Records that a change to an experiment committed (after the commit, so that variants
    /// read before it are never cached as current).
    pub(crate) fn invalidate(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    /// The cached variants if no experiment changed since, else `read()`'s, then cached.
    pub(crate) fn get_or_read<E>(
        &self,
        read: impl FnOnce() -> Result<ExperimentVariants, E>,
    ) -> Result<Arc<ExperimentVariants>, E> {
        let changes = self.changes.load(Ordering::Acquire);
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, variants)) = cached.as_ref() {
            if *at == changes {
                return Ok(Arc::clone(variants));
            }
        }
        let variants = Arc::new(read()?);
        *cached = Some((changes, Arc::clone(&variants)));
        Ok(variants)
    }
}
