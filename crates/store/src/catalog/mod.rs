//! The metadata catalog: API keys, metrics, experiments, models and the audit log of every
//! change to them. Each change and its audit entry commit in one transaction.

pub(crate) mod alias_syncs;
pub(crate) mod audit;
pub(crate) mod experiments;
pub(crate) mod key_cache;
pub(crate) mod keys;
pub(crate) mod metrics;
pub(crate) mod models;
pub(crate) mod variants;
