//! What validation needs to know about stored things, without depending on the store.
//!
//! An experiment must name metrics of the catalog and an exposure must name an experiment and
//! one of its variants. This crate does no I/O, so the caller (the store) hands in these
//! lookups, usually as a set or map it loaded.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::BuildHasher;

/// The names of the metrics that exist.
pub trait MetricCatalog {
    /// Whether a metric called `name` exists.
    fn has_metric(&self, name: &str) -> bool;
}

impl<S: BuildHasher> MetricCatalog for HashSet<String, S> {
    fn has_metric(&self, name: &str) -> bool {
        self.contains(name)
    }
}

impl MetricCatalog for BTreeSet<String> {
    fn has_metric(&self, name: &str) -> bool {
        self.contains(name)
    }
}

impl<V, S: BuildHasher> MetricCatalog for HashMap<String, V, S> {
    fn has_metric(&self, name: &str) -> bool {
        self.contains_key(name)
    }
}

impl<V> MetricCatalog for BTreeMap<String, V> {
    fn has_metric(&self, name: &str) -> bool {
        self.contains_key(name)
    }
}

/// The experiments that exist and their variant names.
pub trait ExperimentCatalog {
    /// The variant names of `experiment`, or `None` when there is no such experiment.
    fn variants_of(&self, experiment: &str) -> Option<&[String]>;
}

impl<S: BuildHasher> ExperimentCatalog for HashMap<String, Vec<String>, S> {
    fn variants_of(&self, experiment: &str) -> Option<&[String]> {
        self.get(experiment).map(Vec::as_slice)
    }
}

impl ExperimentCatalog for BTreeMap<String, Vec<String>> {
    fn variants_of(&self, experiment: &str) -> Option<&[String]> {
        self.get(experiment).map(Vec::as_slice)
    }
}
