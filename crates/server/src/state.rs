//! What every handler gets: the store, the telemetry, the limits.

use std::sync::Arc;

use rctgate_store::Store;

use crate::assignment::{Assignments, ExposureQueue};
use crate::store_call::on_blocking_pool;
use crate::telemetry::Telemetry;

/// Bounds on what one request may carry (SPEC §6: 413 past them).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes in one request body.
    pub max_body_bytes: usize,
    /// Events in one `POST /v1/events` batch.
    pub max_batch_events: usize,
    /// Exposures from `/v1/decide` waiting to be written.
    pub exposure_queue: usize,
    /// Threads one large `POST /v1/events` body is parsed and validated on.
    pub parse_threads: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 32 * 1024 * 1024,
            max_batch_events: 50_000,
            exposure_queue: 100_000,
            parse_threads: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// Rules about who may do what beyond scopes (`serve --override-approvals`).
#[derive(Debug, Clone, Copy)]
pub struct Governance {
    /// How many different admin keys an override of the gate needs, the requester included
    /// (1: the requester's alone, at once).
    pub override_approvals: u32,
}

impl Default for Governance {
    fn default() -> Self {
        Self {
            override_approvals: 1,
        }
    }
}

/// Where the server reports what it decided (`serve --webhook-url`, `--mlflow-uri`); none by
/// default.
#[derive(Clone, Default)]
pub struct Integrations {
    /// The signed webhook on verdicts, promotions and alerts.
    pub webhook: crate::webhook::Webhook,
    /// The registry alias that follows promotions.
    pub aliases: crate::alias_sync::AliasFollower,
}

/// Shared state, cloned into every request: axum clones the router's state for the
/// middleware, the route and each extractor, so it is one `Arc` (one reference count to
/// bump and drop per clone; as seven `Arc`s, the clones and drops were 6% of the server's
/// CPU deciding one experiment).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares; its fields are reached through `Deref`.
pub struct Shared {
    pub store: Arc<Store>,
    pub telemetry: Arc<Telemetry>,
    pub limits: Limits,
    pub governance: Governance,
    pub assignments: Arc<Assignments>,
    pub exposures: Arc<ExposureQueue>,
    /// Scorecards by experiment and segment, until the data changes.
    pub results: Arc<crate::results_cache::ResultsCache>,
    /// The outgoing webhook on verdicts and promotions (none by default).
    pub webhook: crate::webhook::Webhook,
    /// The MLflow alias that follows promotions (none by default).
    pub aliases: crate::alias_sync::AliasFollower,
    /// Dashboard sessions (cookie token → key id).
    pub sessions: Arc<crate::sessions::Sessions>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Loads the running experiments and starts the exposure writer; call
    /// inside the tokio runtime.
    pub fn new(
        store: Arc<Store>,
        limits: Limits,
        governance: Governance,
        integrations: Integrations,
    ) -> Result<Self, rctgate_store::StoreError> {
        let assignments = Arc::new(Assignments::default());
        assignments.reload(&store)?;
        let exposures = Arc::new(ExposureQueue::start(store.clone(), limits.exposure_queue));
        Ok(Self(Arc::new(Shared {
            store,
            telemetry: Arc::new(Telemetry::default()),
            limits,
            governance,
            assignments,
            exposures,
            results: Arc::default(),
            webhook: integrations.webhook,
            aliases: integrations.aliases,
            sessions: Arc::default(),
        })))
    }

    /// Rebuilds the assignment snapshot after an experiment changed.
    pub async fn reload_assignments(&self) -> Result<(), crate::error::ApiError> {
        let assignments = self.assignments.clone();
        self.blocking(move |store| assignments.reload(store)).await
    }

    /// Runs a store call on the blocking pool (`store_call`); a failed thread is a 500.
    pub async fn blocking<T, E, F>(&self, work: F) -> Result<T, crate::error::ApiError>
    where
        F: FnOnce(&Store) -> Result<T, E> + Send + 'static,
        E: Into<crate::error::ApiError> + Send + 'static,
        T: Send + 'static,
    {
        match on_blocking_pool(&self.store, work).await {
            Some(result) => result.map_err(Into::into),
            None => Err(crate::error::ApiError::internal(
                "the request's worker thread failed",
            )),
        }
    }
}
