//! Store calls from async code: DuckDB calls block, so they run on tokio's blocking pool and
//! the async workers stay free for `/healthz` and assignment.

use std::sync::Arc;

use rctgate_store::Store;

/// Runs `work` with `store` on the blocking pool; `None` when its thread failed (a panic),
/// which each caller turns into its own kind of error.
pub(crate) async fn on_blocking_pool<T, F>(store: &Arc<Store>, work: F) -> Option<T>
where
    F: FnOnce(&Store) -> T + Send + 'static,
    T: Send + 'static,
{
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || work(&store)).await.ok()
}
