//! A trial with every awkward case at once, shared by the tests that check the scorecard
//! against a recomputation (`rctgate-store`) and across engines (DuckDB and Spark, in the
//! CLI's tests): three arms; events on the window's edges and after it; a CUPED
//! pre-period; mean, ratio, count, proportion and quantile metrics with per-metric windows;
//! exposure latencies; repeated exposures; untriggered units; units in two variants; a
//! segment attribute.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::{Scenario, SimAttribute, SimLatency, SimMetric};

/// A metric of three arms' lifts, a fifth of its events late (after the window).
pub fn sim_metric(event: &str, rate: f64, lifts: [f64; 3], window_hours: f64, pre_days: u32) -> SimMetric {
    SimMetric {
        event: event.into(),
        rate,
        lifts: lifts.to_vec(),
        value: None,
        window_hours,
        pre_days,
        late_share: 0.2,
    }
}

/// The `device` attribute: mobile 60%, desktop 30%, tablet 10%.
pub fn devices() -> SimAttribute {
    SimAttribute {
        name: "device".into(),
        values: vec![
            ("mobile".into(), 0.6),
            ("desktop".into(), 0.3),
            ("tablet".into(), 0.1),
        ],
    }
}

/// The trial: three arms, 4,000 units from 2026-10-01, every awkward case at once.
pub fn scenario() -> Scenario {
    let mut revenue = sim_metric("revenue", 0.6, [1.0, 1.1, 0.95], 168.0, 14);
    revenue.value = Some((3.0, 0.8));
    let mut s = Scenario::two_arms(
        "trial",
        4000,
        DateTime::parse_from_rfc3339("2026-10-01T00:00:00Z")
            .map_or(DateTime::<Utc>::MIN_UTC, |t| t.with_timezone(&Utc)),
        vec![
            sim_metric("booking", 0.4, [1.0, 1.25, 1.0], 168.0, 14),
            revenue,
            sim_metric("session", 2.0, [1.0, 1.0, 1.05], 72.0, 0),
            sim_metric("click", 3.0, [1.0, 1.3, 1.3], 24.0, 0),
            sim_metric("cancel", 0.1, [1.0, 1.0, 1.4], 168.0, 0),
        ],
    );
    s.variants = vec![
        ("control".into(), 0.4),
        ("fast".into(), 0.3),
        ("slow".into(), 0.3),
    ];
    s.repeat_exposures = 2;
    s.triggered_share = 0.7;
    s.two_variant_share = 0.03;
    s.edge_events = true;
    s.attribute = Some(devices());
    s.latency = Some(SimLatency {
        mu: 3.9,
        sigma: 0.5,
        multipliers: vec![1.0, 0.9, 1.3],
    });
    s
}

/// The catalog's metrics for it, as the API takes them: every kind and source, CUPED.
pub fn metrics() -> Vec<Value> {
    vec![
        json!({"name": "bookings", "kind": "proportion", "event": "booking", "window_hours": 168,
               "direction": "increase", "cuped_days": 14}),
        json!({"name": "revenue", "kind": "mean", "event": "revenue", "window_hours": 168,
               "direction": "increase", "cuped_days": 14}),
        json!({"name": "revenue_per_session", "kind": "ratio", "event": "revenue",
               "denominator_event": "session", "window_hours": 72, "direction": "increase"}),
        json!({"name": "clicks", "kind": "count", "event": "click", "window_hours": 24,
               "direction": "increase"}),
        json!({"name": "cancellations", "kind": "proportion", "event": "cancel", "window_hours": 168,
               "direction": "decrease"}),
        json!({"name": "mean_latency", "kind": "mean", "source": "exposure_latency", "window_hours": 48,
               "direction": "decrease"}),
        json!({"name": "p95_latency", "kind": "quantile", "quantile": 0.95, "source": "exposure_latency",
               "direction": "decrease"}),
        json!({"name": "p90_revenue", "kind": "quantile", "quantile": 0.9, "event": "revenue",
               "window_hours": 72, "direction": "increase"}),
    ]
}

/// The experiment `trial` over them (analysed 2026-10-01 to 2026-10-11), as the API takes it.
pub fn experiment(triggered_only: bool) -> Value {
    json!({
        "key": "trial", "hypothesis": "Faster ranking sells more.",
        "variants": [{"name": "control", "weight": 0.4}, {"name": "fast", "weight": 0.3},
                     {"name": "slow", "weight": 0.3}],
        "metrics": {"primary": "bookings", "guardrails": ["cancellations", "mean_latency", "p95_latency"],
                    "proxies": ["clicks"], "secondary": ["revenue", "revenue_per_session", "p90_revenue"]},
        "analysis": {"method": "frequentist", "triggered_only": triggered_only,
                     "start": "2026-10-01T00:00:00Z", "end": "2026-10-11T00:00:00Z"}
    })
}
