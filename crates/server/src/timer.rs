//! Work the server does on its own, on a timer, over its running experiments: watching
//! launches (`monitor`) and keeping trials' unit rows fresh (`kept_rows`).

use std::future::Future;
use std::time::Duration;

use rctgate_domain::{Experiment, Status};

use crate::state::AppState;

/// Runs `work` with the running experiments every `every` (the first time at once), until
/// the task is aborted at shutdown, so the store it shares can close. A tick whose
/// experiments cannot be listed is logged (`what` says whose) and retried at the next.
pub fn spawn<F, Fut>(
    state: AppState,
    every: Duration,
    what: &'static str,
    work: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(AppState, Vec<Experiment>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let running = state
                .blocking(|store| {
                    let experiments = store.list_experiments()?;
                    Ok::<_, rctgate_store::StoreError>(
                        experiments
                            .into_iter()
                            .filter(|e| e.status == Status::Running)
                            .collect::<Vec<_>>(),
                    )
                })
                .await;
            match running {
                Ok(running) => work(state.clone(), running).await,
                Err(err) => tracing::error!("{what}: {}", err.message),
            }
        }
    })
}
