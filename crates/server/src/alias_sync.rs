//! The registry alias follows the gate (`serve --mlflow-uri`): after every promotion, the
//! registered model's alias (`champion` by default) is pointed at the promoted version through
//! MLflow's REST API, so whatever serves "the champion" serves what the trial chose.
//!
//! One task does it, off the request path: a promotion answers at once and stands whatever
//! MLflow says. The task asks the store what is due (each model's latest promotion without an
//! outcome for the alias; see `rctgate_store::AliasSync`), so a sync survives a restart and
//! promotions made by the CLI while the server was down are followed at its start. It runs
//! at start, when a promotion wakes it, and when a retry is due:
//! - MLflow unreachable, a 5xx or a 429: tried again after 1, 2, 4 ... 60 s, for as long
//!   as it takes; the first failure is written to the audit log (`model.alias_sync_retrying`),
//!   every attempt is counted in `/metrics`;
//! - a version linked to no MLflow version, or an answer that will not change by itself (no
//!   such registered version, refused credentials): recorded as failed
//!   (`model.alias_sync_failed`) and not retried; the alias stays where it was;
//! - success: recorded (`model.alias_set`, with the number of attempts).
//!
//! The alias moves only here, and only to a version the gate made production.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rctgate_mlflow::{registry_target, MlflowClient, MlflowError};
use rctgate_store::{AliasOutcome, AliasSync, Store, StoreError};
use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::store_call::on_blocking_pool;
use crate::telemetry::Telemetry;

/// The first pause before trying a failed sync again; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// Where promotions are followed, if anywhere; cloned into the state.
#[derive(Clone, Default)]
pub struct AliasFollower {
    target: Option<Arc<Follower>>,
}

struct Follower {
    client: MlflowClient,
    alias: String,
    wake: Notify,
}

impl AliasFollower {
    /// Follows promotions with `alias` on the MLflow server of `client`.
    pub fn new(client: MlflowClient, alias: String) -> AliasFollower {
        AliasFollower {
            target: Some(Arc::new(Follower {
                client,
                alias,
                wake: Notify::new(),
            })),
        }
    }

    /// Called after a promotion: the task looks at once (a no-op without a registry).
    pub fn wake(&self) {
        if let Some(target) = &self.target {
            target.wake.notify_one();
        }
    }
}

/// A sync that failed for a reason that may pass: how often, and when to try again.
struct Retry {
    attempts: u32,
    next_at: Instant,
}

/// What the task works with (not the whole state: the state holds the follower).
struct Context {
    store: Arc<Store>,
    telemetry: Arc<Telemetry>,
}

impl Context {
    /// Runs a store call on the blocking pool (`store_call`).
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, String> {
        match on_blocking_pool(&self.store, work).await {
            Some(result) => result.map_err(|err| err.to_string()),
            None => Err("the store call's thread failed".to_string()),
        }
    }
}

/// Starts the task when `aliases` names a registry; it runs until aborted at shutdown.
pub fn spawn(
    store: Arc<Store>,
    telemetry: Arc<Telemetry>,
    aliases: &AliasFollower,
) -> Option<tokio::task::JoinHandle<()>> {
    let follower = aliases.target.clone()?;
    let context = Context { store, telemetry };
    Some(tokio::spawn(async move {
        let mut retries: HashMap<(String, i64), Retry> = HashMap::new();
        loop {
            let next = follow_due(&context, &follower, &mut retries).await;
            match next {
                Some(at) => {
                    tokio::select! {
                        () = follower.wake.notified() => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => follower.wake.notified().await,
            }
        }
    }))
}

/// Tries every due sync whose pause is over; returns when the next retry is due, if any.
async fn follow_due(
    context: &Context,
    follower: &Arc<Follower>,
    retries: &mut HashMap<(String, i64), Retry>,
) -> Option<Instant> {
    let alias = follower.alias.clone();
    let due = match context.blocking(move |store| store.alias_syncs_due(&alias)).await {
        Ok(due) => due,
        Err(err) => {
            tracing::error!("listing the promotions the MLflow alias has to follow: {err}");
            return Some(Instant::now() + MAX_PAUSE);
        }
    };
    retries.retain(|(model, id), _| due.iter().any(|s| &s.model == model && s.promotion_id == *id));
    let mut pending = due.len();
    context.telemetry.set_alias_syncs_pending(pending);
    let mut next: Option<Instant> = None;
    for sync in due {
        let key = (sync.model.clone(), sync.promotion_id);
        if let Some(retry) = retries.get(&key).filter(|r| r.next_at > Instant::now()) {
            next = Some(next.map_or(retry.next_at, |at| at.min(retry.next_at)));
            continue;
        }
        let attempt = retries.get(&key).map_or(1, |r| r.attempts + 1);
        match attempt_sync(follower, &sync, attempt).await {
            Attempt::Ended(outcome, detail) => {
                retries.remove(&key);
                pending -= 1;
                context.telemetry.record_alias_sync(outcome);
                let alias = follower.alias.clone();
                let recorded = context
                    .blocking(move |store| store.record_alias_sync(&sync, &alias, outcome, &detail))
                    .await;
                if let Err(err) = recorded {
                    // Still due: tried again (the alias is set again, harmlessly) later.
                    tracing::error!("recording an MLflow alias sync: {err}");
                }
            }
            Attempt::Again(error) => {
                let pause = FIRST_PAUSE
                    .saturating_mul(1 << (attempt - 1).min(6))
                    .min(MAX_PAUSE);
                let next_at = Instant::now() + pause;
                retries.insert(
                    key,
                    Retry {
                        attempts: attempt,
                        next_at,
                    },
                );
                next = Some(next.map_or(next_at, |at| at.min(next_at)));
                context.telemetry.record_alias_retry();
                tracing::warn!(
                    model = sync.model,
                    attempt,
                    "setting the MLflow alias failed; trying again in {} s: {}",
                    pause.as_secs(),
                    error.message
                );
                if attempt == 1 {
                    let detail = json!({
                        "alias": follower.alias, "version": sync.version,
                        "promotion": sync.promotion_id, "error": error.message,
                        "attempt": attempt, "retry_in_secs": pause.as_secs(),
                    });
                    let recorded = context
                        .blocking(move |store| store.record_alias_retry(&sync, &detail))
                        .await;
                    if let Err(err) = recorded {
                        tracing::error!("recording an MLflow alias retry: {err}");
                    }
                }
            }
        }
    }
    context.telemetry.set_alias_syncs_pending(pending);
    next
}

/// What one attempt came to.
enum Attempt {
    /// Recorded as it ended, with the audit entry's detail.
    Ended(AliasOutcome, Value),
    /// Worth trying again.
    Again(MlflowError),
}

async fn attempt_sync(follower: &Arc<Follower>, sync: &AliasSync, attempt: u32) -> Attempt {
    let mut detail = json!({
        "registry": "mlflow", "uri": follower.client.uri(), "alias": follower.alias,
        "version": sync.version, "promotion": sync.promotion_id, "attempts": attempt,
    });
    let target = match registry_target(&sync.model, &sync.version, sync.artifact_uri.as_deref()) {
        Ok(target) => target,
        Err(reason) => {
            detail["error"] = json!(reason);
            return Attempt::Ended(AliasOutcome::Failed, detail);
        }
    };
    detail["registered_model"] = json!(target.model);
    detail["registered_version"] = json!(target.version);
    let follower = Arc::clone(follower);
    let set = tokio::task::spawn_blocking(move || {
        follower
            .client
            .set_alias(&target.model, &follower.alias, &target.version)
    })
    .await
    .unwrap_or_else(|_| {
        Err(MlflowError {
            message: "the thread calling MLflow failed".into(),
            transient: true,
        })
    });
    match set {
        Ok(()) => Attempt::Ended(AliasOutcome::Set, detail),
        Err(err) if err.transient => Attempt::Again(err),
        Err(err) => {
            detail["error"] = json!(err.message);
            Attempt::Ended(AliasOutcome::Failed, detail)
        }
    }
}
