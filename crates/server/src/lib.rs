//! `rctgate serve`: the HTTP API over the store (SPEC §4).
//!
//! Handlers are small: they authenticate ([`auth::Caller`]), check the scope,
//! hand the work to `rctgate-store` on a blocking thread (DuckDB calls block),
//! and map its errors to SPEC §4's `{"error", "field"}` bodies ([`ApiError`]).
//! State is passed explicitly as [`AppState`]; nothing is global.
//!
//! Durability: an ingest answers 200 only once its batch is synced to the
//! store's ingest log (the tables get it from there; a crash replays it), and
//! shutdown (SIGTERM, Ctrl-C) stops accepting connections, lets in-flight
//! requests finish, then returns, so nothing acknowledged is lost and nothing
//! is half-written.

pub mod alias_sync;
mod assignment;
mod auth;
mod dashboard;
mod error;
mod kept_rows;
mod monitor;
mod page_headers;
mod query_params;
mod rejections;
mod request_body;
mod results;
mod results_cache;
mod routes;
mod sessions;
mod state;
mod store_call;
mod telemetry;
mod timer;
pub mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::serve::ListenerExt;
use axum::Router;
use rctgate_store::Store;
use tokio::net::TcpListener;

pub use error::ApiError;
pub use monitor::Watch;
pub use state::{AppState, Governance, Integrations, Limits};
pub use telemetry::Telemetry;

/// The whole HTTP API as a router over `state`.
pub fn app(state: AppState) -> Router {
    routes::router(state)
}

/// Binds `addr`; returns the listener and the address actually bound (port 0
/// picks a free port, which tests use).
pub async fn bind(addr: &str) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Serves until SIGTERM or Ctrl-C, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    store: Arc<Store>,
    limits: Limits,
    governance: Governance,
    integrations: Integrations,
    watch: Watch,
) -> std::io::Result<()> {
    let state = AppState::new(store, limits, governance, integrations)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let follower = alias_sync::spawn(state.store.clone(), state.telemetry.clone(), &state.aliases);
    let watcher = watch.every.map(|every| monitor::spawn(state.clone(), every));
    let keeper = watch
        .keep_rows_every
        .map(|every| kept_rows::spawn(state.clone(), every));
    // Responses are small and each is written whole; Nagle's algorithm could still hold one
    // back behind an unacknowledged segment, which a latency-bound API does not want.
    let listener = listener.tap_io(|stream| {
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY on a connection: {err}");
        }
    });
    // Each request knows its peer's address: the dashboard limits failed logins per address.
    let app = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    for task in [watcher, keeper, follower].into_iter().flatten() {
        task.abort();
        // Aborted or finished; either way it no longer holds the store (a keep already on a
        // blocking thread finishes first, and the store closes after it).
        let _ = task.await;
    }
    served
}

async fn shutdown_signal() {
    let ctrl_c = async {
        // If the handler cannot be installed, only SIGTERM stops the server.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
