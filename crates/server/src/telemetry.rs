//! Counters for `GET /metrics` in the Prometheus text format (version 0.0.4).
//!
//! A handful of series, kept by hand rather than through a metrics framework:
//! requests by route and status, a latency histogram per route, and the event
//! counts an operator watches (accepted, duplicated, rejected).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Requests {
    by_status: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

/// The server's counters.
#[derive(Default)]
pub struct Telemetry {
    requests: Mutex<Requests>,
    events_accepted: AtomicU64,
    events_duplicated: AtomicU64,
    events_rejected: AtomicU64,
}

impl Telemetry {
    /// Records one finished request on `route` (the matched path template).
    pub fn record_request(&self, route: &str, status: u16, elapsed: Duration) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests.by_status.entry((route.to_string(), status)).or_default() += 1;
        let histogram = requests.latency.entry(route.to_string()).or_default();
        let seconds = elapsed.as_secs_f64();
        histogram.count += 1;
        histogram.sum += seconds;
        for (bucket, bound) in histogram.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
    }

    pub fn record_events(&self, accepted: u64, duplicated: u64) {
        self.events_accepted.fetch_add(accepted, Ordering::Relaxed);
        self.events_duplicated.fetch_add(duplicated, Ordering::Relaxed);
    }

    pub fn record_rejected(&self, events: u64) {
        self.events_rejected.fetch_add(events, Ordering::Relaxed);
    }

    /// The exposition text; `exposures` adds the `/v1/decide` queue's counters.
    pub fn render(&self, exposures: &crate::assignment::ExposureQueue) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; the results are ignored.
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(
            out,
            "# HELP rctgate_http_requests_total HTTP requests by route and status."
        );
        let _ = writeln!(out, "# TYPE rctgate_http_requests_total counter");
        for ((route, status), count) in &requests.by_status {
            let _ = writeln!(
                out,
                "rctgate_http_requests_total{{route=\"{}\",status=\"{status}\"}} {count}",
                escape(route)
            );
        }
        let _ = writeln!(
            out,
            "# HELP rctgate_http_request_duration_seconds HTTP request latency by route."
        );
        let _ = writeln!(out, "# TYPE rctgate_http_request_duration_seconds histogram");
        for (route, h) in &requests.latency {
            let route = escape(route);
            for (count, bound) in h.buckets.iter().zip(LATENCY_BUCKETS) {
                let _ = writeln!(
                    out,
                    "rctgate_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "rctgate_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "rctgate_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "rctgate_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        drop(requests);
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
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
