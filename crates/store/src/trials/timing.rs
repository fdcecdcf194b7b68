//! Timing the steps of an analysis (and of a stop, which freezes one), for
//! `RUST_LOG=rctgate_store=debug`.

/// Runs one step of an analysis and logs how long it took (`RUST_LOG=rctgate_store=debug`),
/// so a slow scorecard can be traced to its query without a profiler.
pub(crate) fn timed<T>(step: &str, run: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let result = run();
    tracing::debug!(step, seconds = started.elapsed().as_secs_f64(), "analysis step");
    result
}
