//! Counters for `GET /metrics` in the Prometheus text format (version 0.0.4).
//!
//! A handful of series, kept by hand rather than through a metrics framework:
//! requests by route and status, a latency histogram per route, and the event
//! counts an operator watches (accepted, duplicated, rejected).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use rctgate_analysis::monitoring::WatchPoint;

/// What one keep of a trial's unit rows did (`kept_rows`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeptRows {
    /// Computed the rows (none were kept for the trial's plan).
    Built,
    /// Refreshed kept rows with the events since (or found nothing to do).
    Refreshed,
    Failed,
}

/// Upper bounds of the latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// HTTP status codes are three digits (the `http` crate allows 100-999).
const STATUS_CODES: usize = 1000;

/// One route's counters: plain atomics, so recording a request takes no lock that a
/// preempted thread could hold (a mutex here put every request on both cores behind one
/// lock, and the tail latency of `/v1/decide` with it).
struct RouteStats {
    /// Requests by status code, indexed by the code.
    by_status: Vec<AtomicU64>,
    /// Requests per latency bucket, not cumulative (the exposition adds them up); the last
    /// counts those slower than every bound.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    nanos: AtomicU64,
}

impl RouteStats {
    fn new() -> RouteStats {
        RouteStats {
            by_status: (0..STATUS_CODES).map(|_| AtomicU64::new(0)).collect(),
            buckets: Default::default(),
            nanos: AtomicU64::new(0),
        }
    }

    fn record(&self, status: u16, elapsed: Duration) {
        if let Some(counter) = self.by_status.get(usize::from(status)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// The server's counters.
#[derive(Default)]
pub struct Telemetry {
    /// Per route template; written only the first time a route is seen.
    routes: RwLock<BTreeMap<String, RouteStats>>,
    events_accepted: AtomicU64,
    events_duplicated: AtomicU64,
    events_rejected: AtomicU64,
    /// Trials whose unit rows were computed and kept (`Store::keep_unit_rows`), kept rows
    /// refreshed off a request, and attempts that failed.
    unit_rows_kept: AtomicU64,
    unit_rows_refreshed: AtomicU64,
    unit_rows_failed: AtomicU64,
    /// The MLflow alias following promotions (`alias_sync`): syncs that set it, that
    /// failed for good, attempts to be tried again, and promotions still to follow.
    alias_syncs_set: AtomicU64,
    alias_syncs_failed: AtomicU64,
    alias_syncs_retried: AtomicU64,
    alias_syncs_pending: AtomicU64,
    /// The last watch of each model's launch (`crate::monitor`), by model.
    launches: RwLock<BTreeMap<String, LaunchGauges>>,
}

/// Reads one figure of a look.
type LookValue = fn(&WatchPoint) -> Option<f64>;

/// What the last watch of one model's launch showed.
#[derive(Default)]
struct LaunchGauges {
    /// (version, metric, the latest look).
    lifts: Vec<(String, String, WatchPoint)>,
    /// (version, metric, kind, active).
    alerts: Vec<(String, String, &'static str, bool)>,
}

impl Telemetry {
    /// Records one finished request on `route` (the matched path template).
    pub fn record_request(&self, route: &str, status: u16, elapsed: Duration) {
        {
            let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(stats) = routes.get(route) {
                stats.record(status, elapsed);
                return;
            }
        }
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        routes
            .entry(route.to_string())
            .or_insert_with(RouteStats::new)
            .record(status, elapsed);
    }

    /// The request counters and latency histograms, in the exposition format.
    fn write_requests(&self, out: &mut String) {
        // Writing to a String cannot fail; the results are ignored.
        let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
        let _ = writeln!(
            out,
            "# HELP rctgate_http_requests_total HTTP requests by route and status."
        );
        let _ = writeln!(out, "# TYPE rctgate_http_requests_total counter");
        for (route, stats) in routes.iter() {
            let route = escape(route);
            for (status, count) in stats.by_status.iter().enumerate() {
                let count = count.load(Ordering::Relaxed);
                if count > 0 {
                    let _ = writeln!(
                        out,
                        "rctgate_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP rctgate_http_request_duration_seconds HTTP request latency by route."
        );
        let _ = writeln!(out, "# TYPE rctgate_http_request_duration_seconds histogram");
        for (route, stats) in routes.iter() {
            let route = escape(route);
            let mut cumulative = 0;
            for (count, bound) in stats.buckets.iter().zip(LATENCY_BUCKETS) {
                cumulative += count.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "rctgate_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            // Counted from the buckets, so that +Inf is never below the last bound even
            // while requests are being recorded.
            let count = cumulative + stats.buckets[LATENCY_BUCKETS.len()].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "rctgate_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "rctgate_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                stats.nanos.load(Ordering::Relaxed) as f64 / 1e9
            );
            let _ = writeln!(
                out,
                "rctgate_http_request_duration_seconds_count{{route=\"{route}\"}} {count}"
            );
        }
    }

    pub fn record_events(&self, accepted: u64, duplicated: u64) {
        self.events_accepted.fetch_add(accepted, Ordering::Relaxed);
        self.events_duplicated.fetch_add(duplicated, Ordering::Relaxed);
    }

    /// Keeps what a watch of a model's launch showed for the gauges; a model without a watched
    /// holdout has none.
    pub fn record_watch(&self, monitoring: &rctgate_store::ModelMonitoring) {
        let mut gauges = LaunchGauges::default();
        if let Some(watch) = &monitoring.holdout {
            let version = &watch.holdout.version;
            for metric in &watch.metrics {
                if let Some(last) = metric.series.last() {
                    gauges
                        .lifts
                        .push((version.clone(), metric.name.clone(), last.clone()));
                }
            }
            for alert in &watch.alerts {
                gauges.alerts.push((
                    version.clone(),
                    alert.metric.clone(),
                    alert.kind.as_str(),
                    alert.active,
                ));
            }
        }
        self.launches
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(monitoring.model.clone(), gauges);
    }

    fn write_launches(&self, out: &mut String) {
        let launches = self.launches.read().unwrap_or_else(PoisonError::into_inner);
        let series: [(&str, &str, LookValue); 3] = [
            (
                "rctgate_holdout_lift",
                "The production version's lift over its holdout at the latest daily look.",
                |p| Some(p.effect),
            ),
            (
                "rctgate_holdout_lift_ci_low",
                "Lower bound of the lift's always-valid interval.",
                |p| p.ci_low,
            ),
            (
                "rctgate_holdout_lift_ci_high",
                "Upper bound of the lift's always-valid interval.",
                |p| p.ci_high,
            ),
        ];
        for (name, help, value) in series {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            for (model, gauges) in launches.iter() {
                for lift in &gauges.lifts {
                    if let Some(v) = value(&lift.2) {
                        let _ = writeln!(
                            out,
                            "{name}{{model=\"{}\",version=\"{}\",metric=\"{}\"}} {v}",
                            escape(model),
                            escape(&lift.0),
                            escape(&lift.1)
                        );
                    }
                }
            }
        }
        let _ = writeln!(out, "# HELP rctgate_alert_active Whether a launch's alert holds at the latest look (1) or held before (0).");
        let _ = writeln!(out, "# TYPE rctgate_alert_active gauge");
        for (model, gauges) in launches.iter() {
            for (version, metric, kind, active) in &gauges.alerts {
                let _ = writeln!(
                    out,
                    "rctgate_alert_active{{model=\"{}\",version=\"{}\",metric=\"{}\",kind=\"{kind}\"}} {}",
                    escape(model),
                    escape(version),
                    escape(metric),
                    u8::from(*active)
                );
            }
        }
    }

    /// What keeping a trial's unit rows did.
    pub fn record_unit_rows(&self, kept: KeptRows) {
        let counter = match kept {
            KeptRows::Built => &self.unit_rows_kept,
            KeptRows::Refreshed => &self.unit_rows_refreshed,
            KeptRows::Failed => &self.unit_rows_failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// How a sync of the registry alias ended.
    pub fn record_alias_sync(&self, outcome: rctgate_store::AliasOutcome) {
        let counter = match outcome {
            rctgate_store::AliasOutcome::Set => &self.alias_syncs_set,
            rctgate_store::AliasOutcome::Failed => &self.alias_syncs_failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A sync attempt that failed and will be tried again.
    pub fn record_alias_retry(&self) {
        self.alias_syncs_retried.fetch_add(1, Ordering::Relaxed);
    }

    /// Promotions the alias has yet to follow.
    pub fn set_alias_syncs_pending(&self, pending: usize) {
        self.alias_syncs_pending.store(pending as u64, Ordering::Relaxed);
    }

    pub fn record_rejected(&self, events: u64) {
        self.events_rejected.fetch_add(events, Ordering::Relaxed);
    }

    /// The exposition text; `exposures` adds the `/v1/decide` queue's counters.
    pub fn render(&self, exposures: &crate::assignment::ExposureQueue, events_pending: usize) -> String {
        let mut out = String::new();
        self.write_requests(&mut out);
        for (name, help, value) in [
            (
                "rctgate_events_pending",
                "Acknowledged events in the ingest log, not yet inserted into the tables.",
                events_pending as u64,
            ),
            (
                "rctgate_mlflow_alias_syncs_pending",
                "Promotions the MLflow alias has not followed yet (serve --mlflow-uri).",
                self.alias_syncs_pending.load(Ordering::Relaxed),
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {value}");
        }
        for (name, help, value) in [
            (
                "rctgate_events_accepted_total",
                "Events stored.",
                &self.events_accepted,
            ),
            (
                "rctgate_events_duplicated_total",
                "Events whose id was already stored.",
                &self.events_duplicated,
            ),
            (
                "rctgate_events_rejected_total",
                "Events in rejected batches.",
                &self.events_rejected,
            ),
            (
                "rctgate_exposures_written_total",
                "Exposures from /v1/decide stored.",
                &*exposures.written,
            ),
            (
                "rctgate_exposures_repeated_total",
                "Exposures from /v1/decide and OFREP not written again: the same unit, experiment and variant were logged within the last half hour.",
                &exposures.repeats,
            ),
            (
                "rctgate_exposures_dropped_total",
                "Exposures from /v1/decide refused: queue full.",
                &exposures.dropped,
            ),
            (
                "rctgate_exposures_failed_total",
                "Exposures from /v1/decide whose write failed.",
                &*exposures.failed,
            ),
            (
                "rctgate_unit_rows_kept_total",
                "Trials whose per-unit rows were computed and kept, so that their next results cost only the events since.",
                &self.unit_rows_kept,
            ),
            (
                "rctgate_unit_rows_refreshed_total",
                "Refreshes of a trial's kept per-unit rows off any request (every --keep-rows-every-secs).",
                &self.unit_rows_refreshed,
            ),
            (
                "rctgate_mlflow_alias_syncs_total",
                "Promotions the MLflow alias followed (serve --mlflow-uri).",
                &self.alias_syncs_set,
            ),
            (
                "rctgate_mlflow_alias_sync_failures_total",
                "Promotions the MLflow alias cannot follow without a change (no such registered version, refused credentials); see the audit log.",
                &self.alias_syncs_failed,
            ),
            (
                "rctgate_mlflow_alias_sync_retries_total",
                "Attempts to set the MLflow alias that failed for a reason that may pass (MLflow unreachable, 5xx) and are tried again.",
                &self.alias_syncs_retried,
            ),
            (
                "rctgate_unit_rows_failed_total",
                "Attempts to keep a trial's per-unit rows that failed (its results are then computed from every event).",
                &self.unit_rows_failed,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        self.write_launches(&mut out);
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_render_as_cumulative_histograms_and_status_counts() {
        let telemetry = Telemetry::default();
        let ms = Duration::from_millis;
        telemetry.record_request("/v1/decide", 200, Duration::from_micros(300));
        telemetry.record_request("/v1/decide", 200, ms(2));
        telemetry.record_request("/v1/decide", 400, ms(7000));
        telemetry.record_request("/healthz", 200, ms(1));
        let mut out = String::new();
        telemetry.write_requests(&mut out);
        for line in [
            r#"rctgate_http_requests_total{route="/healthz",status="200"} 1"#,
            r#"rctgate_http_requests_total{route="/v1/decide",status="200"} 2"#,
            r#"rctgate_http_requests_total{route="/v1/decide",status="400"} 1"#,
            r#"rctgate_http_request_duration_seconds_bucket{route="/v1/decide",le="0.0005"} 1"#,
            r#"rctgate_http_request_duration_seconds_bucket{route="/v1/decide",le="0.001"} 1"#,
            r#"rctgate_http_request_duration_seconds_bucket{route="/v1/decide",le="0.0025"} 2"#,
            r#"rctgate_http_request_duration_seconds_bucket{route="/v1/decide",le="5"} 2"#,
            r#"rctgate_http_request_duration_seconds_bucket{route="/v1/decide",le="+Inf"} 3"#,
            r#"rctgate_http_request_duration_seconds_sum{route="/v1/decide"} 7.0023"#,
            r#"rctgate_http_request_duration_seconds_count{route="/v1/decide"} 3"#,
            r#"rctgate_http_request_duration_seconds_bucket{route="/healthz",le="0.001"} 1"#,
        ] {
            assert!(out.lines().any(|l| l == line), "{line} missing from:\n{out}");
        }
        assert!(!out.contains("status=\"500\""), "codes never seen are not listed");
    }
}
