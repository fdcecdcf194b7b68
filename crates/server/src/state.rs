//! What every handler gets: the store, the telemetry, the limits.

use std::sync::Arc;

use rctgate_store::Store;

use crate::telemetry::Telemetry;

/// Bounds on what one request may carry (SPEC §6: 413 past them).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes in one request body.
    pub max_body_bytes: usize,
    /// Events in one `POST /v1/events` batch.
    pub max_batch_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 32 * 1024 * 1024,
            max_batch_events: 50_000,
        }
    }
}

/// Shared state, cheap to clone into every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub telemetry: Arc<Telemetry>,
    pub limits: Limits,
}

impl AppState {
    pub fn new(store: Arc<Store>, limits: Limits) -> Self {
        Self {
            store,
            telemetry: Arc::new(Telemetry::default()),
            limits,
        }
    }

    /// Runs a store call on the blocking pool: DuckDB calls block, and the
    /// async workers must stay free for `/healthz` and assignment.
    pub async fn blocking<T, E, F>(&self, work: F) -> Result<T, crate::ApiError>
    where
        F: FnOnce(&Store) -> Result<T, E> + Send + 'static,
        E: Into<crate::ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || work(&store)).await {
            Ok(result) => result.map_err(Into::into),
            Err(_) => Err(crate::ApiError::internal("the request's worker thread failed")),
        }
    }
}
