//! Where Spark's per-unit id may be computed. `monotonically_increasing_id()` depends on the
//! partition each row sits in, so it is a unit's id only in a relation computed once: the
//! units `Engine::keep` checkpoints. A query that grouped the units itself and read them
//! twice could number them differently on each read and join one unit's values to another
//! unit, without any error. These tests hold every other query to the unit's text.

use chrono::{DateTime, Duration, Utc};
use rctgate_analysis::{novelty, DuckDb, ExposureWindow, Plan, SparkSql};
use rctgate_domain::{from_json_value, Experiment, Metric};
use serde_json::json;

const POSITIONAL_ID: &str = "monotonically_increasing_id()";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

fn catalog(name: &str) -> Option<Metric> {
    let metric = match name {
        "bookings" => {
            json!({"name": name, "kind": "proportion", "event": "booking", "direction": "increase", "window_hours": 168})
        }
        "revenue" => {
            json!({"name": name, "kind": "mean", "event": "revenue", "direction": "increase", "cuped_days": 14})
        }
        "clicks" => {
            json!({"name": name, "kind": "count", "event": "click", "direction": "increase", "window_hours": 72})
        }
        _ => return None,
    };
    Some(from_json_value(metric).expect("metric"))
}

fn plan(segment: Option<&str>, units_table: Option<&str>) -> Plan {
    let mut experiment: Experiment = from_json_value(json!({
        "key": "ranker-v7", "hypothesis": "v7 ranks better.",
        "variants": [{"name": "control", "weight": 0.5}, {"name": "treatment", "weight": 0.5}],
        "metrics": {"primary": "bookings", "guardrails": [], "proxies": ["clicks"], "secondary": ["revenue"]}
    }))
    .expect("experiment");
    experiment.started_at = Some(now() - Duration::days(14));
    let window = ExposureWindow::of(&experiment, now());
    let mut plan = Plan::new(&experiment, catalog, window, segment).expect("plan");
    plan.units_table = units_table.map(str::to_string);
    plan
}

/// Every query of `plan` an analysis may send, named.
fn queries(plan: &Plan) -> Vec<(&'static str, String)> {
    let d = &SparkSql;
    let mut queries = vec![
        ("scorecard", plan.scorecard_sql(d)),
        ("daily", plan.daily_sql(d)),
        ("trigger counts", plan.trigger_counts_sql(d)),
        ("model exposures", plan.model_exposures_sql(d)),
    ];
    queries.extend(
        plan.segment_trigger_counts_sql(d)
            .map(|sql| ("segment trigger counts", sql)),
    );
    queries.extend(plan.primary_events_sql(d).map(|sql| ("primary events", sql)));
    if let Some(horizon) = novelty::horizon(plan) {
        queries.extend(plan.novelty_sql(d, horizon).map(|sql| ("novelty", sql)));
    }
    queries.extend(
        (0..plan.metrics.len())
            .filter_map(|i| plan.quantile_values_sql(d, i).map(|sql| ("quantile values", sql))),
    );
    queries
}

#[test]
fn only_the_kept_units_carry_the_positional_id_on_spark() {
    let sql = plan(None, None).exposed_units_sql(&SparkSql);
    assert_eq!(sql.matches(POSITIONAL_ID).count(), 1, "{sql}");
    assert!(sql.contains(&format!("{POSITIONAL_ID} AS uid")), "{sql}");
    // DuckDB numbers the rows wherever it groups them.
    assert!(!plan(None, None)
        .exposed_units_sql(&DuckDb)
        .contains(POSITIONAL_ID));
}

#[test]
fn queries_that_group_the_units_themselves_key_them_by_their_text_on_spark() {
    for (segment, units_table) in [
        (None, None),
        (Some("device"), None),
        (None, Some("rctgate_units")),
        // A segmented analysis keeps no units table of its own; its novelty reads the
        // unsegmented one, and its trigger counts group the units again.
        (Some("device"), Some("rctgate_units")),
    ] {
        let plan = plan(segment, units_table);
        let queries = queries(&plan);
        assert!(queries.len() >= 4, "{segment:?} {units_table:?}");
        for (name, sql) in queries {
            assert!(
                !sql.contains(POSITIONAL_ID),
                "the {name} query (segment {segment:?}, units table {units_table:?}) computes a positional id:\n{sql}"
            );
        }
        // Where the query groups the units itself, the id is the unit's text.
        if units_table.is_none() {
            let sql = plan.scorecard_sql(&SparkSql);
            assert!(sql.contains("unit AS uid"), "{sql}");
        }
    }
}
