//! `rctgate serve [--db PATH] [--addr ADDR]`: the HTTP API on one DuckDB file.

use std::path::PathBuf;
use std::sync::Arc;

use rctgate_domain::Scope;
use rctgate_server::Limits;
use rctgate_store::Store;

use crate::Failure;

#[derive(clap::Args)]
pub struct Args {
    /// The database file; created if missing.
    #[arg(long, default_value = "rctgate.duckdb")]
    db: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Largest request body accepted, in bytes (larger: 413).
    #[arg(long, default_value_t = Limits::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Most events accepted in one `POST /v1/events` batch (more: 413).
    #[arg(long, default_value_t = Limits::default().max_batch_events)]
    max_batch_events: usize,
    /// Exposures from /v1/decide that may wait to be written; when full,
    /// responses and /metrics count them as dropped.
    #[arg(long, default_value_t = Limits::default().exposure_queue)]
    exposure_queue: usize,
}

pub fn run(args: Args) -> Result<(), Failure> {
    let store = crate::commands::open_store(&args.db)?;
    if store.count_keys() == 0 {
        let key = store
            .create_key(Scope::Admin, rctgate_store::LOCAL_ACTOR)
            .map_err(|e| Failure::input(format!("could not create the first admin key: {e}")))?;
        // Printed once; only its hash is stored.
        println!(
            "Created the first admin key ({}); store it now, it is not shown again:",
            key.key_id
        );
        println!("{}", key.key);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::input(format!("could not start the async runtime: {e}")))?;
    let limits = Limits {
        max_body_bytes: args.max_body_bytes,
        max_batch_events: args.max_batch_events,
        exposure_queue: args.exposure_queue,
    };
    runtime.block_on(serve(store, &args.addr, limits))
}

async fn serve(store: Store, addr: &str, limits: Limits) -> Result<(), Failure> {
    let (listener, local) = rctgate_server::bind(addr)
        .await
        .map_err(|e| Failure::input(format!("cannot listen on {addr}: {e}")))?;
    println!("rctgate listening on http://{local}");
    tracing::info!(%local, "listening");
    rctgate_server::serve(listener, Arc::new(store), limits)
        .await
        .map_err(|e| Failure::input(format!("the server stopped: {e}")))
}
