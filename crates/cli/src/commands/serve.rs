//! `rctgate serve [--db PATH] [--addr ADDR]`: the HTTP API on one DuckDB file.

use std::path::PathBuf;
use std::sync::Arc;

use clap::builder::TypedValueParser;
use rctgate_domain::{KeySpec, Scope};
use rctgate_server::alias_sync::AliasFollower;
use rctgate_server::webhook::Webhook;
use rctgate_server::{Governance, Integrations, Limits, Watch};
use rctgate_store::Store;

use crate::engine::EngineArgs;
use crate::failure::Failure;

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
    /// Threads one large `POST /v1/events` body is parsed and validated on
    /// (default: this machine's cores).
    #[arg(long, default_value_t = Limits::default().parse_threads, value_parser = clap::value_parser!(u16).range(1..=256).map(usize::from))]
    parse_threads: usize,
    /// POST every frozen verdict and promotion here (http:// only), signed with
    /// --webhook-secret (HMAC-SHA256 in X-Rctgate-Signature).
    #[arg(long, requires = "webhook_secret")]
    webhook_url: Option<String>,
    /// The shared secret of the webhook signature (or RCTGATE_WEBHOOK_SECRET).
    #[arg(long, env = "RCTGATE_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
    /// An MLflow tracking server (http:// only): every promotion points the registered
    /// model's --mlflow-alias at the promoted version, retried while MLflow is down
    /// (credentials: MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and _PASSWORD).
    #[arg(long, value_name = "URL")]
    mlflow_uri: Option<String>,
    /// The MLflow alias that follows the production version.
    #[arg(long, default_value = "champion", requires = "mlflow_uri")]
    mlflow_alias: String,
    /// How many different admin keys must approve an override of the gate, the requester
    /// included (1: an admin's written reason promotes at once; 2: a second admin approves
    /// with POST /v1/models/NAME/overrides/ID/approve, and the gate stays closed until then).
    #[arg(long, default_value_t = Governance::default().override_approvals,
          value_parser = clap::value_parser!(u32).range(1..=10))]
    override_approvals: u32,
    /// Days back from the newest stored event whose ids the server keeps in its id index
    /// (`<db>.ids`) for idempotency; a batch with older events looks their ids up in the
    /// database, so redeliveries are caught whatever their age. Bounds the index's size by
    /// recent traffic instead of the whole history.
    #[arg(long, default_value_t = rctgate_store::DEFAULT_ID_HORIZON.num_days() as u32,
          value_parser = clap::value_parser!(u32).range(1..=36500))]
    id_horizon_days: u32,
    /// Seconds between watches of every launch with a running holdout (alerts, gauges, the
    /// `alert` webhook); 0: only when GET /v1/models/NAME/monitoring asks.
    #[arg(long, default_value_t = 3600)]
    monitor_every_secs: u64,
    /// Seconds between refreshes of every running trial's kept unit rows, so that a results
    /// request pays only for the events since; 0: only after results requests.
    #[arg(long, default_value_t = 300)]
    keep_rows_every_secs: u64,
    /// Where analyses read events (results, the verdict frozen at a stop, a launch's watch):
    /// the file (default) or Spark.
    #[command(flatten)]
    engine: EngineArgs,
}

pub fn run(args: Args) -> Result<(), Failure> {
    let webhook = match (&args.webhook_url, &args.webhook_secret) {
        (Some(url), Some(secret)) => {
            if !url.starts_with("http://") {
                return Err(Failure::input(format!(
                    "--webhook-url {url:?} must start with http:// (this build has no TLS; use a relay for https)."
                )));
            }
            if secret.is_empty() {
                return Err(Failure::input("--webhook-secret must not be empty."));
            }
            Webhook::new(url.clone(), secret.clone())
        }
        _ => Webhook::default(),
    };
    let aliases = match &args.mlflow_uri {
        Some(uri) => {
            check_alias(&args.mlflow_alias)?;
            let credentials = rctgate_mlflow::Credentials::from_env();
            let client = rctgate_mlflow::MlflowClient::new(uri, &credentials, "--mlflow-uri")
                .map_err(Failure::input)?;
            AliasFollower::new(client, args.mlflow_alias.clone())
        }
        None => AliasFollower::default(),
    };
    let integrations = Integrations { webhook, aliases };
    let events_engine = args.engine.factory()?;
    let store = crate::commands::open_store(&args.db)?;
    store.read_events_with(events_engine);
    // The id set that makes ingestion idempotent, built now so the first batch does not wait.
    store.set_id_horizon(Some(chrono::Duration::days(i64::from(args.id_horizon_days))));
    store
        .load_event_ids()
        .map_err(|e| Failure::input(format!("could not read the stored event ids: {e}")))?;
    if store.count_keys() == 0 {
        let key = store
            .create_key(
                &KeySpec {
                    name: Some("first admin".to_string()),
                    ..KeySpec::scopes(Scope::Admin)
                },
                rctgate_store::LOCAL_ACTOR,
            )
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
        parse_threads: args.parse_threads,
    };
    let governance = Governance {
        override_approvals: args.override_approvals,
    };
    let watch = Watch {
        every: (args.monitor_every_secs > 0).then(|| std::time::Duration::from_secs(args.monitor_every_secs)),
        keep_rows_every: (args.keep_rows_every_secs > 0)
            .then(|| std::time::Duration::from_secs(args.keep_rows_every_secs)),
    };
    runtime.block_on(serve(store, &args.addr, limits, governance, integrations, watch))
}

/// MLflow's rule for aliases, checked here so that a bad one stops the start rather than
/// every sync: letters, digits, `_` and `-`, not `latest` and not `v` plus a number (those
/// name versions).
fn check_alias(alias: &str) -> Result<(), Failure> {
    let reserved = alias.eq_ignore_ascii_case("latest")
        || (alias.len() > 1
            && alias.starts_with(['v', 'V'])
            && alias[1..].bytes().all(|b| b.is_ascii_digit()));
    let valid = !alias.is_empty()
        && alias.len() <= 255
        && alias
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if reserved || !valid {
        return Err(Failure::input(format!(
            "--mlflow-alias {alias:?} is not an alias MLflow accepts (letters, digits, _ and -; not \"latest\" nor v<number>)."
        )));
    }
    Ok(())
}

async fn serve(
    store: Store,
    addr: &str,
    limits: Limits,
    governance: Governance,
    integrations: Integrations,
    watch: Watch,
) -> Result<(), Failure> {
    let (listener, local) = rctgate_server::bind(addr)
        .await
        .map_err(|e| Failure::input(format!("cannot listen on {addr}: {e}")))?;
    println!("rctgate listening on http://{local}");
    tracing::info!(%local, "listening");
    let store = Arc::new(store);
    rctgate_server::serve(
        listener,
        Arc::clone(&store),
        limits,
        governance,
        integrations,
        watch,
    )
    .await
    .map_err(|e| Failure::input(format!("the server stopped: {e}")))?;
    close(store).await;
    Ok(())
}

/// Closes the store once the background work that shares it (the exposure writer finishing
/// its last batch) has let go of it, so that DuckDB folds its write-ahead log into the file
/// here, before the process exits, rather than on whichever thread drops the store last
/// while `main` is already returning. Every commit is durable either way; this keeps the
/// file compact and the next start quick. Gives up after a minute.
async fn close(mut store: Arc<Store>) {
    for _ in 0..600 {
        match Arc::try_unwrap(store) {
            Ok(store) => {
                drop(store);
                return;
            }
            Err(shared) => store = shared,
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tracing::warn!("the store was still in use a minute after shutdown; exiting without closing it");
}
