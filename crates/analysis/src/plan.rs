//! The analysis plan: one experiment's metrics turned into SQL that returns only sufficient
//! statistics.
//!
//! Metric semantics (SPEC §7, §9), for every unit exposed inside the experiment's window:
//! - t0 is the unit's first exposure (its first *triggered* exposure with `triggered_only`,
//!   when units that were never triggered do not count);
//! - a metric's value counts the unit's events of its name in `[t0, t0 + window)`, the CUPED
//!   covariate the same over `[t0 - cuped_days, t0)`; units without events count as 0;
//! - a unit exposed to more than one variant is excluded (its row has a NULL variant, so the
//!   caller can count it in the diagnostics).
//!
//! [`Plan::scorecard_sql`] computes every metric in one query: exposures are reduced to one
//! row per unit, joined once to the metric events of every metric's event names, reduced to
//! one row per unit with a column per metric value, and summed per variant (and segment).
//! [`Plan::daily_sql`] gives the primary metric's daily increments of the same sums, so the
//! cumulative effect over time costs one more query, not one per day.

use crate::dialect::{Dialect, EventCoding};
use chrono::{DateTime, Utc};
use rctgate_domain::{Experiment, Metric, MetricKind, MetricSource, ValidationError};
use serde::{Deserialize, Serialize};

/// Microseconds in a (UTC) day.
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// `day` of a [`Plan::novelty_sql`] row holding a variant's sums of the early-minus-late
/// difference and its square.
pub const NOVELTY_EARLY_MINUS_LATE: i64 = -1;
/// `day` of a [`Plan::novelty_sql`] row holding a variant's units (in the first sum).
pub const NOVELTY_UNITS: i64 = -2;

/// Segment values shown by name; the rest are pooled as "(other)".
pub const TOP_SEGMENTS: usize = 20;

/// Sufficient-statistic columns per metric, in this order: sum, sum_squares, den_sum,
/// den_sum_squares, num_den_sum_product, pre_sum, pre_sum_squares, post_pre_sum_product.
pub const COLUMNS_PER_METRIC: usize = 8;

/// The event code of the exposures' latencies among the joined events (metric events' codes
/// are their names' positions, from 0).
const LATENCY_CODE: i64 = -1;

/// A metric's role in the experiment (SPEC §7 `metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Decides `ship`.
    Primary,
    /// Must not get worse than the margin.
    Guardrail,
    /// A leading indicator; never decisive.
    Proxy,
    /// Reported and adjusted with the primary.
    Secondary,
}

impl Role {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Guardrail => "guardrail",
            Role::Proxy => "proxy",
            Role::Secondary => "secondary",
        }
    }
}

/// One metric of the plan with its role.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedMetric {
    /// The catalog definition.
    pub metric: Metric,
    /// Its role in this experiment.
    pub role: Role,
}

impl PlannedMetric {
    /// Whether the metric carries a CUPED covariate.
    pub fn cuped(&self) -> bool {
        self.metric.cuped_days.is_some() && self.metric.kind != MetricKind::Ratio
    }

    /// Whether its values are the exposures' latencies.
    pub fn reads_latency(&self) -> bool {
        self.metric.source == MetricSource::ExposureLatency
    }

    /// Whether it is a quantile, computed by its own queries ([`Plan::quantile_values_sql`])
    /// rather than from the scorecard query's per-unit sums.
    pub fn is_quantile(&self) -> bool {
        self.metric.kind == MetricKind::Quantile
    }

    /// Whether it is analysed as a ratio: a ratio metric, or the mean latency per request
    /// (a unit's latencies over its requests).
    pub fn is_ratio(&self) -> bool {
        self.metric.kind == MetricKind::Ratio
            || (self.reads_latency() && self.metric.kind == MetricKind::Mean)
    }

    fn window_micros(&self) -> i64 {
        hours_to_micros(self.metric.window_hours)
    }

    fn lookback_micros(&self) -> i64 {
        match self.metric.cuped_days {
            Some(days) if self.cuped() => i64::from(days) * 86_400_000_000,
            _ => 0,
        }
    }
}

fn hours_to_micros(hours: f64) -> i64 {
    // Windows are validated positive and finite; a century caps absurd values.
    (hours.min(876_000.0) * 3_600_000_000.0).round() as i64
}

/// The exposures that count: `[start, end)`; no start means from the first exposure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ExposureWindow {
    /// First exposure time that counts.
    pub start: Option<DateTime<Utc>>,
    /// Exposures at or after this time do not count.
    pub end: DateTime<Utc>,
}

impl ExposureWindow {
    /// SPEC §7: `analysis.start`/`end` when given, else when the experiment started and
    /// stopped (or `now`). A draft never started has no lower bound.
    pub fn of(experiment: &Experiment, now: DateTime<Utc>) -> ExposureWindow {
        let start = experiment.analysis.start.or(experiment.started_at);
        let end = experiment
            .analysis
            .end
            .or(experiment.stopped_at)
            .unwrap_or(now)
            .min(now);
        ExposureWindow { start, end }
    }
}

/// Everything the SQL depends on.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The experiment key.
    pub experiment: String,
    /// Variant names, control first.
    pub variants: Vec<String>,
    /// Metrics in scorecard order: primary, guardrails, proxies, secondary.
    pub metrics: Vec<PlannedMetric>,
    /// Which exposures count.
    pub window: ExposureWindow,
    /// Only triggered units, from their first triggered exposure.
    pub triggered_only: bool,
    /// The exposure attribute to split by, if any.
    pub segment: Option<String>,
    /// A table already holding [`Plan::units_from_exposed_sql`]'s rows, which the queries
    /// then read instead of grouping the exposures again (not with a segment).
    pub units_table: Option<String>,
    /// A table already holding [`Plan::latencies_sql`]'s rows (with `units_table`, no
    /// segment): latency metrics then read it instead of joining the scorecard's events.
    pub latencies_table: Option<String>,
    /// With `units_table`: whether its rows also carry each unit's scorecard values and
    /// attributes (the rows of [`Plan::units_from_rows_sql`]); the scorecard then only sums
    /// them, by segment if there is one.
    pub units_carry_values: bool,
    /// A table whose `unit` column limits the exposures read to those units' (a refresh of
    /// kept unit rows recomputes only the units that new events touched).
    pub only_units: Option<String>,
    /// A table already holding [`Plan::daily_rows_sql`]'s rows, which the daily series then
    /// only sums.
    pub series_table: Option<String>,
    /// With `units_table`, no segment: a table already holding [`Plan::primary_events_sql`]'s
    /// rows, which the daily series and the novelty split read instead of joining the events
    /// again.
    pub primary_events_table: Option<String>,
    /// With `units_table`: whether joins of events to it send the units to every worker
    /// ([`Dialect::broadcast_hint`]) rather than moving the events by unit. Set when the units
    /// are few enough to hold in each worker's memory (`Engine::broadcast_limit`).
    pub broadcast_units: bool,
}

impl Plan {
    /// The plan for `experiment`; `lookup` finds a metric of the catalog by name. A metric the
    /// catalog lacks (deleted since) is an error naming the experiment's field.
    pub fn new(
        experiment: &Experiment,
        lookup: impl Fn(&str) -> Option<Metric>,
        window: ExposureWindow,
        segment: Option<&str>,
    ) -> Result<Plan, ValidationError> {
        let roles = &experiment.metrics;
        let mut metrics = Vec::new();
        let listed = std::iter::once((Role::Primary, "metrics.primary".to_string(), &roles.primary))
            .chain(listed("metrics.guardrails", Role::Guardrail, &roles.guardrails))
            .chain(listed("metrics.proxies", Role::Proxy, &roles.proxies))
            .chain(listed("metrics.secondary", Role::Secondary, &roles.secondary));
        for (role, field, name) in listed {
            let metric = lookup(name).ok_or_else(|| {
                ValidationError::new(
                    field.clone(),
                    format!(
                        "Metric {name:?} is not in the catalog; create it or remove it from the experiment."
                    ),
                )
            })?;
            if role == Role::Primary && !metric.can_decide() {
                return Err(metric.primary_refusal());
            }
            let planned = PlannedMetric { metric, role };
            metrics.push(planned);
        }
        if let Some(name) = segment {
            rctgate_domain::names::check_identifier("segment", name)?;
        }
        Ok(Plan {
            metrics,
            segment: segment.map(str::to_string),
            ..Plan::exposures_only(experiment, window)
        })
    }

    /// One query for every metric: rows of `variant` (NULL for units in more than one
    /// variant), `segment` (the attribute's raw JSON token, NULL when missing or pooled),
    /// `other` (pooled into "(other)"), `n`, then [`COLUMNS_PER_METRIC`] DOUBLE columns per
    /// metric in plan order, then `sid` (with a segment its rank; without, the units table's
    /// confidence bucket, 0 for none).
    pub fn scorecard_sql(&self, d: &dyn Dialect) -> String {
        let (values, sums) = self.unit_values();
        if let Some(table) = self.units_table.as_ref().filter(|_| self.units_carry_values) {
            // Each unit's values came with its row (`Plan::unit_rows_sql`).
            return self.sums_of_units_sql(d, table, &sums.join(", "));
        }
        let (lo, hi) = self.join_bounds();
        // The joined rows carry only integers and the value: each event's time relative to
        // its unit's t0 is computed once, so the per-metric window tests are integer
        // comparisons; the per-unit grouping is on the unit's number, not its text, and the
        // variant and segment ride along as small integers. Segment numbers become their
        // tokens again only on the final few rows.
        let segment = if self.segment.is_some() {
            "LEFT JOIN ranked r ON r.rank = p.sid AND p.sid > 0".to_string()
        } else {
            format!(
                "LEFT JOIN (SELECT CAST(NULL AS {}) AS token, 0 AS rank) r ON false",
                d.text_type()
            )
        };
        let events = self.events_subquery(d, &self.joined_metrics());
        let per_unit = match self.broadcast(d).filter(|_| !values.columns.is_empty()) {
            // The units go to every worker: each sums its events per unit before anything
            // moves, so what moves is at most a row per unit and worker, not every event.
            // Units without events then join back, their values 0 as over no event.
            Some(hint) => format!(
                "joined AS (
  SELECT {hint}u.uid, e.code, e.value, e.tus - u.t0us AS dt
  FROM units u JOIN ({events}) e
    ON e.unit = u.unit AND e.tus >= u.t0us - {lo} AND e.tus < u.t0us + {hi}
),
event_values AS (SELECT uid, {values} FROM joined GROUP BY uid),
per_unit AS (
  SELECT u.uid, u.variant, u.sid, {zero_filled}
  FROM units u LEFT JOIN event_values x ON x.uid = u.uid
)",
                values = values.columns.join(", "),
                zero_filled = (0..values.columns.len())
                    .map(|i| format!("coalesce(x.v{i}, 0) AS v{i}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            None => format!(
                "joined AS (
  SELECT u.uid, u.variant, u.sid, e.code, e.value, e.tus - u.t0us AS dt
  FROM units u LEFT JOIN ({events}) e
    ON e.unit = u.unit AND e.tus >= u.t0us - {lo} AND e.tus < u.t0us + {hi}
),
per_unit AS (
  SELECT uid, any_value(variant) AS variant, any_value(sid) AS sid, {values}
  FROM joined
  GROUP BY uid
)",
                values = values.columns.join(", "),
            ),
        };
        format!(
            "WITH {units},
{per_unit}
SELECT p.variant, r.token AS segment, {other} AS other, count(*) AS n, {sums}, p.sid AS sid
FROM per_unit p {segment}
GROUP BY p.variant, p.sid, r.token",
            other = if self.segment.is_some() {
                "p.sid = 0"
            } else {
                "false"
            },
            units = self.units_ctes(d),
            sums = sums.join(", "),
        )
    }

    /// The names of the metric events the plan reads (besides the exposures' latencies).
    pub fn metric_event_names(&self) -> Vec<&str> {
        event_names(&self.metrics)
    }

    /// [`Plan::scorecard_sql`]'s rows from a units table whose rows carry their values:
    /// per variant and confidence decile, or with a segment per variant and segment value
    /// (ranked as `units_ctes` ranks them, from each unit's `attributes`).
    fn sums_of_units_sql(&self, d: &dyn Dialect, table: &str, sums: &str) -> String {
        let Some(name) = &self.segment else {
            return format!(
                "SELECT p.variant, CAST(NULL AS {text}) AS segment, false AS other, count(*) AS n, {sums}, p.sid AS sid
FROM {table} p WHERE p.t0 IS NOT NULL
GROUP BY p.variant, p.sid",
                text = d.text_type(),
            );
        };
        format!(
            "WITH {texts},
tokens AS (
  SELECT u.*, x.token
  FROM {table} u LEFT JOIN texts x ON x.attributes IS NOT DISTINCT FROM u.attributes
  WHERE u.t0 IS NOT NULL
),
ranked AS (
  SELECT token, row_number() OVER (ORDER BY count(*) DESC, token NULLS LAST) AS rank
  FROM tokens GROUP BY token
),
p AS (
  SELECT t.*, CASE WHEN r.rank <= {TOP_SEGMENTS} THEN r.rank ELSE 0 END AS seg
  FROM tokens t JOIN ranked r ON r.token IS NOT DISTINCT FROM t.token
)
SELECT p.variant, r.token AS segment, p.seg = 0 AS other, count(*) AS n, {sums}, p.seg AS sid
FROM p LEFT JOIN ranked r ON r.rank = p.seg AND p.seg > 0
GROUP BY p.variant, p.seg, r.token",
            texts = segment_texts(d, table, name),
        )
    }

    /// The metrics whose events the scorecard's join reads (latency metrics read the
    /// latencies table instead when it is there).
    fn joined_metrics(&self) -> Vec<PlannedMetric> {
        let separate = self.separate_latency();
        self.metrics
            .iter()
            .filter(|planned| !(separate && planned.reads_latency()))
            .cloned()
            .collect()
    }

    /// The scorecard's per-unit value columns, and each metric's [`COLUMNS_PER_METRIC`] sums
    /// over them (NULL for what other queries compute: quantiles, and latency means when
    /// the latencies table is there).
    fn unit_values(&self) -> (UnitValues, Vec<String>) {
        let names = event_names(&self.metrics);
        let bounds = self.join_bounds();
        let mut values = UnitValues::default();
        let mut sums = Vec::new();
        let separate = self.separate_latency();
        for planned in &self.metrics {
            if separate && planned.reads_latency() {
                // Its own query over the latencies table (`Plan::latency_means_sql`).
                sums.extend(vec!["CAST(NULL AS DOUBLE)".to_string(); COLUMNS_PER_METRIC]);
            } else {
                sums.extend(metric_sums(planned, &names, bounds, &mut values));
            }
        }
        (values, sums)
    }

    /// A plan of no metrics: the queries over `experiment`'s exposures alone in `window`
    /// (its model outputs' distributions).
    pub fn exposures_only(experiment: &Experiment, window: ExposureWindow) -> Plan {
        Plan::of_parts(
            experiment.key.clone(),
            experiment.variant_names(),
            Vec::new(),
            window,
            experiment.analysis.triggered_only,
        )
    }

    /// This plan without a segment or tables of an analysis in progress: what kept unit
    /// rows are computed from (they are the same whatever the segment).
    pub fn bare(&self) -> Plan {
        Plan::of_parts(
            self.experiment.clone(),
            self.variants.clone(),
            self.metrics.clone(),
            self.window,
            self.triggered_only,
        )
    }

    /// A plan of what defines the trial's numbers, with no segment and no tables of an
    /// analysis in progress: the one place that lists those, so that a new one cannot be
    /// left set by [`Plan::bare`].
    fn of_parts(
        experiment: String,
        variants: Vec<String>,
        metrics: Vec<PlannedMetric>,
        window: ExposureWindow,
        triggered_only: bool,
    ) -> Plan {
        Plan {
            experiment,
            variants,
            metrics,
            window,
            triggered_only,
            segment: None,
            units_table: None,
            latencies_table: None,
            units_carry_values: false,
            only_units: None,
            series_table: None,
            primary_events_table: None,
            broadcast_units: false,
        }
    }

    /// The names of [`Plan::unit_rows_sql`]'s value columns, in order.
    pub fn value_columns(&self) -> Vec<String> {
        let count = self.bare().unit_values().0.columns.len();
        (0..count).map(|i| format!("v{i}")).collect()
    }

    /// Every exposed unit of the experiment, one row each, with its scorecard values:
    /// `unit`, `variant`, `t0`, `t0us`, `triggered`, `marked`, `output`, `attributes` (of
    /// its first counted exposure, for segments), then
    /// [`Plan::value_columns`] (NULL for a unit that does not count). With `only` (a table
    /// with a `unit` column), only those units, each from all its exposures and events.
    /// A store keeps these rows for a running trial and recomputes only the units new
    /// events touch; [`Plan::units_from_rows_sql`] turns them into the units table.
    pub fn unit_rows_sql(&self, d: &dyn Dialect, only: Option<&str>) -> String {
        let own = Plan {
            only_units: only.map(str::to_string),
            ..self.bare()
        };
        let (values, _) = own.unit_values();
        let (lo, hi) = own.join_bounds();
        let columns: String = own
            .value_columns()
            .iter()
            .map(|name| format!(", p.{name}"))
            .collect();
        let per_unit = if values.columns.is_empty() {
            "SELECT DISTINCT uid FROM joined".to_string()
        } else {
            format!(
                "SELECT uid, {} FROM joined GROUP BY uid",
                values.columns.join(", ")
            )
        };
        format!(
            "WITH {units},
joined AS (
  SELECT u.uid, e.code, e.value, e.tus - u.t0us AS dt
  FROM units u LEFT JOIN ({events}) e
    ON e.unit = u.unit AND e.tus >= u.t0us - {lo} AND e.tus < u.t0us + {hi}
),
per_unit AS ({per_unit})
SELECT x.unit, x.variant, x.t0, x.t0us, x.triggered, x.marked, x.output, x.attributes{columns}
FROM exposed_units x LEFT JOIN per_unit p ON p.uid = x.uid",
            units = own.units_ctes_for(d, UnitsFor::StoreRows),
            events = own.events_subquery(d, &own.metrics),
        )
    }

    /// The units table ([`Plan::units_from_exposed_sql`]'s columns, `attributes`, then
    /// [`Plan::value_columns`]) from
    /// `rows`, a relation of [`Plan::unit_rows_sql`]'s rows each with a distinct number
    /// `uid`; the model-confidence deciles are those of all the rows.
    pub fn units_from_rows_sql(&self, d: &dyn Dialect, rows: &str) -> String {
        let values: String = self
            .value_columns()
            .iter()
            .map(|name| format!(", {name}"))
            .collect();
        self.decile_units(
            d,
            &format!("exposed_units AS ({rows})"),
            &format!(", attributes{values}"),
        )
    }

    /// The primary metric's daily increments: rows of `day` (microseconds since the epoch, UTC
    /// midnight), `variant`, `n` (units whose t0 falls that day), then the
    /// [`COLUMNS_PER_METRIC`] sums' increments that day. Summed over the days up to D, they
    /// are the scorecard's sums as of the end of day D (events after D not yet counted).
    pub fn daily_sql(&self, d: &dyn Dialect) -> String {
        let primary = &self.metrics[0];
        let ratio = primary.metric.kind == MetricKind::Ratio;
        let null3 = "CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE)";
        let den = if ratio {
            "sum(ds), sum(dss), sum(nd)"
        } else {
            null3
        };
        let pre = if primary.cuped() {
            "sum(xs), sum(xss), sum(yx)"
        } else {
            null3
        };
        // A unit's daily rows are the same whatever the segment: the series is the trial's.
        let increments = match &self.series_table {
            Some(table) => format!("SELECT * FROM {table}"),
            None => self.daily_rows_sql(d),
        };
        format!(
            "SELECT day * {MICROS_PER_DAY} AS day, variant, CAST(sum(n) AS BIGINT) AS n, sum(s), sum(ss), {den}, {pre}
FROM ({increments}) AS increments
GROUP BY day, variant
ORDER BY day, variant"
        )
    }

    /// The primary's daily increments per unit, which [`Plan::daily_sql`] sums per day and
    /// variant: rows of `uid`, `day` (days since the epoch), `variant`, `n`, `s`, `ss`, `ds`,
    /// `dss`, `nd`, `xs`, `xss`, `yx`: one row for the day of the unit's t0 (`n` 1, its
    /// covariate), one per day its value changed. With `only_units` and the units table,
    /// only those units' rows (a store keeps them with the unit rows).
    pub fn daily_rows_sql(&self, d: &dyn Dialect) -> String {
        let primary = &self.metrics[0];
        let metric = &primary.metric;
        let ratio = metric.kind == MetricKind::Ratio;
        let cuped = primary.cuped();
        let (window, lookback) = (primary.window_micros(), primary.lookback_micros());
        let names = event_names(std::slice::from_ref(primary));
        let event = event_code(&names, &metric.event).to_string();
        let post = format!("dt >= 0 AND dt < {window}");
        // Per unit and day, the increment of the numerator's accumulator: a count of events
        // for proportion and count metrics, a sum of values otherwise; the unit's value is
        // the accumulator itself, or whether it is positive for a proportion.
        let step = |name: &str| {
            let condition = format!("code = {name}");
            match metric.kind {
                MetricKind::Proportion | MetricKind::Count => {
                    format!("CAST({} AS DOUBLE)", count_where(&condition))
                }
                // A quantile is never the primary (`Plan::new`).
                MetricKind::Mean | MetricKind::Ratio | MetricKind::Quantile => {
                    format!("CAST(coalesce({}, 0) AS DOUBLE)", sum_where("value", &condition))
                }
            }
        };
        let value = |acc: &str| match metric.kind {
            MetricKind::Proportion => format!("CAST({acc} > 0 AS DOUBLE)"),
            _ => acc.to_string(),
        };
        let den_step = match (&metric.denominator_event, ratio) {
            (Some(denominator), true) => step(&event_code(&names, denominator).to_string()),
            _ => "CAST(0 AS DOUBLE)".to_string(),
        };
        let x = if cuped {
            "coalesce(p.x, 0)"
        } else {
            "CAST(0 AS DOUBLE)"
        };
        let pre_join = if cuped {
            " LEFT JOIN pre p ON p.uid = u.uid"
        } else {
            ""
        };
        let joined = match &self.primary_events_table {
            // Its rows are these, with the primary's full window and lookback.
            Some(table) => format!("joined AS (SELECT uid, variant, code, value, tus, dt FROM {table})"),
            None => format!(
                "joined AS (
  SELECT u.uid, u.variant, e.code, e.value, e.tus, e.tus - u.t0us AS dt
  FROM included u JOIN ({events}) e
    ON e.unit = u.unit AND e.tus >= u.t0us - {lookback} AND e.tus < u.t0us + {window}
)",
                events = self.events_subquery(d, std::slice::from_ref(primary)),
            ),
        };
        let mut ctes = vec![
            self.units_ctes(d),
            "included AS (SELECT unit, uid, variant, t0us FROM units WHERE variant IS NOT NULL)".to_string(),
            joined,
        ];
        if cuped {
            ctes.push(format!(
                "pre AS (SELECT uid, {x} AS x FROM joined GROUP BY uid)",
                x = unit_value(metric.kind, &format!("code = {event} AND dt < 0")),
            ));
        }
        ctes.push(format!(
            "entries AS (
  SELECT u.uid, {day} AS day, u.variant, 1 AS n, {zero} AS s, {zero} AS ss, {zero} AS ds, {zero} AS dss,
         {zero} AS nd, {x} AS xs, {x} * {x} AS xss, {zero} AS yx
  FROM included u{pre_join}
)",
            day = d.day_number("u.t0us"),
            zero = "CAST(0 AS DOUBLE)",
        ));
        ctes.push(format!(
            "steps AS (
  SELECT uid, any_value(variant) AS variant, {day} AS day, {dy} AS dy, {dd} AS dd
  FROM joined WHERE {post}
  GROUP BY uid, {day}
)",
            day = d.day_number("tus"),
            dy = step(&event),
            dd = den_step,
        ));
        ctes.push(
            "running AS (
  SELECT uid, variant, day,
         coalesce(sum(dy) OVER earlier, 0) AS y_a, sum(dy) OVER through AS y_b,
         coalesce(sum(dd) OVER earlier, 0) AS d_a, sum(dd) OVER through AS d_b
  FROM steps
  WINDOW earlier AS (PARTITION BY uid ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
         through AS (PARTITION BY uid ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)"
            .to_string(),
        );
        let (ya, yb) = (value("r.y_a"), value("r.y_b"));
        let change_x = if cuped {
            "coalesce(p.x, 0)"
        } else {
            "CAST(0 AS DOUBLE)"
        };
        let change_join = if cuped {
            " LEFT JOIN pre p ON p.uid = r.uid"
        } else {
            ""
        };
        ctes.push(format!(
            "changes AS (
  SELECT r.uid, r.day, r.variant, 0 AS n,
         {yb} - {ya} AS s, {yb} * {yb} - {ya} * {ya} AS ss,
         r.d_b - r.d_a AS ds, r.d_b * r.d_b - r.d_a * r.d_a AS dss, {yb} * r.d_b - {ya} * r.d_a AS nd,
         CAST(0 AS DOUBLE) AS xs, CAST(0 AS DOUBLE) AS xss, {change_x} * ({yb} - {ya}) AS yx
  FROM running r{change_join}
)"
        ));
        format!(
            "WITH {ctes}
SELECT * FROM entries UNION ALL SELECT * FROM changes",
            ctes = ctes.join(",\n"),
        )
    }

    /// Whether latency metrics read the latencies table rather than the scorecard's join.
    fn separate_latency(&self) -> bool {
        self.latencies_table.is_some() && self.units_table.is_some() && self.segment.is_none()
    }

    /// Every latency of a counted unit's exposures from its t0 on, one row each: `variant`
    /// (index), `uid`, `dt` (microseconds since t0), `value`; `None` when no metric reads
    /// latencies. Kept in a table (`latencies_table`), it is joined to the units once for every
    /// latency metric: joining ~2M latencies into the scorecard's event join cost more than
    /// their share of its rows (BENCHMARKS.md, "Analysis").
    pub fn latencies_sql(&self, d: &dyn Dialect) -> Option<String> {
        let latency: Vec<PlannedMetric> = self
            .metrics
            .iter()
            .filter(|p| p.reads_latency())
            .cloned()
            .collect();
        let window = latency.iter().map(PlannedMetric::window_micros).max()?;
        let unsegmented = Plan {
            segment: None,
            latencies_table: None,
            ..self.clone()
        };
        Some(format!(
            "WITH {units}
SELECT u.variant, u.uid, e.tus - u.t0us AS dt, e.value
FROM units u JOIN ({events}) e
  ON e.unit = u.unit AND e.tus >= u.t0us AND e.tus < u.t0us + {window}
WHERE u.variant IS NOT NULL",
            units = unsegmented.units_ctes(d),
            events = self.events_subquery(d, &latency),
        ))
    }

    /// With the latencies table, the per-variant sums of every mean latency metric (a ratio
    /// per request: a unit's latencies in the metric's window over their count): rows of
    /// `variant` (index), then for each such metric in plan order its sum, sum_squares,
    /// den_sum, den_sum_squares and num_den_sum_product. Units without latencies add nothing
    /// to the sums (their values are 0), and the scorecard query counts them.
    pub fn latency_means_sql(&self) -> Option<(Vec<usize>, String)> {
        let table = self
            .latencies_table
            .as_ref()
            .filter(|_| self.separate_latency())?;
        let indices: Vec<usize> = self
            .metrics
            .iter()
            .enumerate()
            .filter(|(_, p)| p.reads_latency() && !p.is_quantile())
            .map(|(i, _)| i)
            .collect();
        if indices.is_empty() {
            return None;
        }
        let mut per_unit = Vec::new();
        let mut sums = Vec::new();
        for (k, index) in indices.iter().enumerate() {
            let window = self.metrics[*index].window_micros();
            per_unit.push(format!(
                "CAST(coalesce(sum(value) FILTER (WHERE dt < {window}), 0) AS DOUBLE) AS y{k}, \
                 CAST(count(*) FILTER (WHERE dt < {window}) AS DOUBLE) AS n{k}"
            ));
            sums.push(format!(
                "sum(y{k}), sum(y{k} * y{k}), sum(n{k}), sum(n{k} * n{k}), sum(y{k} * n{k})"
            ));
        }
        Some((
            indices,
            format!(
                "SELECT variant, {sums}
FROM (SELECT variant, uid, {per_unit} FROM {table} GROUP BY variant, uid) AS per_unit
GROUP BY variant",
                sums = sums.join(", "),
                per_unit = per_unit.join(", "),
            ),
        ))
    }

    /// The values of quantile metric `index` of [`Plan::metrics`], one row per value of a
    /// unit counted in a variant, in the metric's window: `variant` (index), `uid`, `value`.
    /// `None` when that metric is not a quantile. The store keeps them in a temporary table
    /// and reads them three times ([`quantile_counts_sql`], [`quantile_bounds_sql`],
    /// [`quantile_cluster_sql`]): the quantile's bounds depend on each arm's count, and the
    /// per-unit sums on its quantile.
    pub fn quantile_values_sql(&self, d: &dyn Dialect, index: usize) -> Option<String> {
        let planned = self.metrics.get(index).filter(|planned| planned.is_quantile())?;
        if let Some(table) = self
            .latencies_table
            .as_ref()
            .filter(|_| self.separate_latency() && planned.reads_latency())
        {
            return Some(format!(
                "SELECT variant, uid, value FROM {table} WHERE dt < {}",
                planned.window_micros()
            ));
        }
        // Quantiles are not split by segment: the units need no segment columns.
        let unsegmented = Plan {
            segment: None,
            ..self.clone()
        };
        Some(format!(
            "WITH {units}
SELECT u.variant, u.uid, e.value
FROM units u JOIN ({events}) e
  ON e.unit = u.unit AND e.tus >= u.t0us AND e.tus < u.t0us + {window}
WHERE u.variant IS NOT NULL AND e.value IS NOT NULL",
            units = unsegmented.units_ctes(d),
            events = self.events_subquery(d, std::slice::from_ref(planned)),
            window = planned.window_micros(),
        ))
    }

    /// The model's part of the exposures, one scan of the experiment's exposures in the window
    /// that carry `latency_ms` or `model_output`, per variant (name): its latency over those
    /// with `latency_ms`, `requests`, `mean`, `p50`, `p95`, `p99`, `std_dev` (sample; every
    /// request counted, a unit seen in two variants too: this describes the model's speed, the
    /// latency metrics test it); then its outputs' `count`, `min` and `max` (the range
    /// [`Plan::output_range_sql`] gives over every arm).
    pub fn model_exposures_sql(&self, d: &dyn Dialect) -> String {
        format!(
            "SELECT variant, count(latency_ms) AS requests, avg(latency_ms) AS mean, {quantiles},
       coalesce(stddev_samp(latency_ms), 0) AS std_dev,
       count(model_output), min(model_output), max(model_output)
FROM exposures
WHERE {filter}
GROUP BY variant",
            quantiles = d.continuous_quantiles("latency_ms", &[0.5, 0.95, 0.99]),
            filter = self.exposures_with(d, "coalesce(latency_ms, model_output)"),
        )
    }

    /// The experiment's exposures in the window of one of its variants that carry `column`,
    /// as a filter (`WHERE ...`) on `exposures`.
    fn exposures_with(&self, d: &dyn Dialect, column: &str) -> String {
        let variants: Vec<String> = self.variants.iter().map(|name| d.string_literal(name)).collect();
        let start = self
            .window
            .start
            .map(|start| format!(" AND ts >= {}", d.timestamp_literal(start.timestamp_micros())))
            .unwrap_or_default();
        format!(
            "experiment = {} AND variant IN ({}) AND {column} IS NOT NULL{start} AND ts < {}",
            d.string_literal(&self.experiment),
            variants.join(", "),
            d.timestamp_literal(self.window.end.timestamp_micros())
        )
    }

    /// The model outputs' range over every arm: one row of `n`, `min`, `max`.
    pub fn output_range_sql(&self, d: &dyn Dialect) -> String {
        format!(
            "SELECT count(*), min(model_output), max(model_output) FROM exposures WHERE {}",
            self.exposures_with(d, "model_output")
        )
    }

    /// The nine deciles of the model outputs over every arm (the bins of outputs outside
    /// [0, 1]; scores need none): one row.
    pub fn output_deciles_sql(&self, d: &dyn Dialect) -> String {
        let deciles: Vec<f64> = (1..10).map(|i| f64::from(i) / 10.0).collect();
        format!(
            "SELECT {} FROM exposures WHERE {}",
            d.continuous_quantiles("model_output", &deciles),
            self.exposures_with(d, "model_output")
        )
    }

    /// Counts of model outputs per variant (name), UTC day (microseconds) and bin of `edges`
    /// (bin i is `[edges[i], edges[i + 1])`, the last closed; outputs outside are not
    /// counted): rows of `variant`, `day`, `bin`, `n`. Every exposure of the window counts.
    pub fn output_histogram_sql(&self, d: &dyn Dialect, edges: &[f64]) -> String {
        let (Some(first), Some(last)) = (edges.first(), edges.last()) else {
            return format!(
                "SELECT CAST(NULL AS {}), CAST(0 AS BIGINT), CAST(0 AS BIGINT), CAST(0 AS BIGINT) WHERE false",
                d.text_type()
            );
        };
        let bins = edges.len() - 1;
        let width = (last - first) / bins as f64;
        let equal = edges
            .iter()
            .enumerate()
            .all(|(i, edge)| (edge - (first + width * i as f64)).abs() <= 1e-12 * width.abs().max(1.0));
        let bin = if equal {
            // Equal bins (the scores' 20 on [0, 1]): arithmetic, not a chain of comparisons.
            // Scaled by bins / range (20.0 for the scores), so that an output on an edge i/20
            // lands in bin i as the edges say, which dividing by 0.05 does not always give.
            let scale = bins as f64 / (last - first);
            format!(
                "least(CAST(floor((model_output - {first:?}) * {scale:?}) AS BIGINT), {})",
                bins - 1
            )
        } else {
            let inner: Vec<String> = edges[1..bins]
                .iter()
                .enumerate()
                .map(|(bin, edge)| format!("WHEN model_output < {edge:?} THEN {bin}"))
                .collect();
            format!("CASE {} ELSE {} END", inner.join(" "), bins - 1)
        };
        format!(
            "SELECT variant, {day} * {MICROS_PER_DAY} AS day, {bin} AS bin, count(*) AS n
FROM exposures
WHERE {filter} AND model_output >= {first:?} AND model_output <= {last:?}
GROUP BY 1, 2, 3 ORDER BY 2, 1, 3",
            day = d.day_number(&d.epoch_micros("ts")),
            filter = self.exposures_with(d, "model_output"),
        )
    }

    /// Every exposed unit, one row each, grouped from the exposures, before its model-confidence
    /// decile: the first of the two steps that keep the units table
    /// ([`Plan::units_from_exposed_sql`]). The deciles read every unit twice (their edges,
    /// then each unit's bucket), and an engine that does not keep a `WITH` result (Spark)
    /// would group the exposures once per read.
    pub fn exposed_units_sql(&self, d: &dyn Dialect) -> String {
        let own = Plan {
            units_table: None,
            ..self.clone()
        };
        format!(
            "WITH {} SELECT * FROM exposed_units",
            own.units_ctes_for(d, UnitsFor::Keeping)
        )
    }

    /// Over `table`, which holds [`Plan::exposed_units_sql`]'s rows: one row of whether any
    /// unit says whether it triggered (which decides the scored units, see
    /// [`Plan::decile_edges_sql`]) and the count of counted units (those with a `t0`).
    pub fn decile_flags_sql(&self, d: &dyn Dialect, table: &str) -> String {
        format!(
            "SELECT coalesce(bool_or(marked), false), {} FROM {table}",
            d.aggregate_where("count", "*", Some("t0 IS NOT NULL"))
        )
    }

    /// The nine model-confidence decile edges over `table`'s scored units (see
    /// [`Plan::units_from_exposed_sql`]), `any_marked` from [`Plan::decile_flags_sql`]: one
    /// row, NULLs when no unit is scored.
    pub fn decile_edges_sql(&self, d: &dyn Dialect, table: &str, any_marked: bool) -> String {
        format!(
            "SELECT {} FROM {table} WHERE {}",
            d.discrete_quantiles("output", &decile_fractions()),
            scored_units(if any_marked { "true" } else { "false" }),
        )
    }

    /// The units table's rows from `table`, which holds [`Plan::exposed_units_sql`]'s: every
    /// exposed unit, one row each (`unit`, `uid`, `variant`, `t0`, `t0us`, `sid`, `triggered`,
    /// `marked`, `output`), for an engine to keep in a table (`units_table`) when several
    /// queries of one analysis read them: grouping the exposures by unit is the largest shared
    /// part of the scorecard, the daily series, each quantile metric and the trigger rates.
    /// The counted units are those with a `t0` (with `triggered_only`, the triggered ones);
    /// the others stay for the trigger rates. Without a segment only (with one, the scorecard
    /// also needs each unit's segment token).
    ///
    /// Each unit's decile is read against `edges` ([`Plan::decile_edges_sql`], `None` when
    /// no unit is scored), literals here: the rows cost one comparison per edge over `table`,
    /// cheap enough for an engine to compute on each read ([`crate::Engine::derive`]).
    pub fn units_from_exposed_sql(
        &self,
        d: &dyn Dialect,
        table: &str,
        any_marked: bool,
        edges: Option<&[f64]>,
    ) -> String {
        let sid = match edges {
            Some(edges) => {
                let edges: Vec<String> = edges.iter().map(|edge| d.double_literal(*edge)).collect();
                format!(
                    "CASE WHEN {} THEN {} ELSE 0 END",
                    scored_units(if any_marked { "true" } else { "false" }),
                    decile_of(|i| edges[i - 1].clone()),
                )
            }
            None => "0".to_string(),
        };
        format!("SELECT unit, uid, variant, t0, t0us, {sid} AS sid, triggered, marked, output FROM {table}")
    }

    /// The units table's rows from `ctes`, which define `exposed_units` (one row per unit
    /// with `uid`), each with its model-confidence decile, then the columns `extra` lists
    /// (`, name, ...`).
    fn decile_units(&self, d: &dyn Dialect, ctes: &str, extra: &str) -> String {
        // Each scored unit's model-confidence decile rides as `sid` (no segment here): the
        // scorecard query's per-variant rows then come per decile too, at no extra pass
        // (`ArmSums::bucket`). The decile's edges are one aggregate over the scored units: no
        // sort, and the table keeps its order (a window `ntile` made the analysis 15% slower).
        format!(
            "WITH {ctes},
flags AS (SELECT coalesce(bool_or(marked), false) AS any_marked FROM exposed_units),
scored AS (
  SELECT x.*, {} AS scored
  FROM exposed_units x, flags f
),
edges AS (SELECT {} AS edges FROM scored WHERE scored)
SELECT unit, uid, variant, t0, t0us,
       CASE WHEN scored THEN {} ELSE 0 END AS sid,
       triggered, marked, output{extra}
FROM scored, edges e",
            scored_units("f.any_marked"),
            d.discrete_quantile_list("output", &decile_fractions()),
            decile_of(|i| d.list_element("e.edges", i)),
        )
    }

    /// With the units table and no segment: the primary's events joined to the counted units
    /// of a variant, within the primary's lookback and window of each unit's t0, rows of
    /// `unit`, `uid`, `variant`, `t0us`, `code`, `value`, `tus`, `dt`; kept, they spare the
    /// daily series and the novelty split a join of the events each (on Spark a pass over
    /// the events is seconds, whatever it reads).
    pub fn primary_events_sql(&self, d: &dyn Dialect) -> Option<String> {
        let table = self.units_table.as_ref().filter(|_| self.segment.is_none())?;
        let primary = self.metrics.first()?;
        let only = self
            .only_units
            .as_ref()
            .map(|only| format!(" AND u.unit IN (SELECT unit FROM {only})"))
            .unwrap_or_default();
        Some(format!(
            "SELECT {hint}u.unit, u.uid, u.variant, u.t0us, e.code, e.value, e.tus, e.tus - u.t0us AS dt
FROM {table} u JOIN ({events}) e
  ON e.unit = u.unit AND e.tus >= u.t0us - {lookback} AND e.tus < u.t0us + {window}
WHERE u.t0 IS NOT NULL AND u.variant IS NOT NULL{only}",
            events = self.events_subquery(d, std::slice::from_ref(primary)),
            lookback = primary.lookback_micros(),
            window = primary.window_micros(),
            hint = self.broadcast(d).unwrap_or_default(),
        ))
    }

    /// The dialect's hint to send the units (aliased `u`) to every worker, when the plan
    /// reads a units table small enough ([`Plan::broadcast_units`]).
    fn broadcast(&self, d: &dyn Dialect) -> Option<String> {
        (self.broadcast_units && self.units_table.is_some())
            .then(|| d.broadcast_hint("u"))
            .flatten()
    }

    /// With the units table and a primary that splits by day (proportion, count, mean): the
    /// rows of `novelty::NoveltyRow` over the units observed `days` days since their
    /// first exposure, `variant`, `day`, `sum`, `sum_squares` (see the `novelty` module).
    pub fn novelty_sql(&self, d: &dyn Dialect, (days, early): (i64, i64)) -> Option<String> {
        let table = self.units_table.as_ref().filter(|_| self.segment.is_none())?;
        let primary = self.metrics.first()?;
        let metric = &primary.metric;
        if !matches!(
            metric.kind,
            MetricKind::Proportion | MetricKind::Count | MetricKind::Mean
        ) || primary.is_ratio()
        {
            return None;
        }
        let names = event_names(std::slice::from_ref(primary));
        let event = event_code(&names, &metric.event);
        let value = match metric.kind {
            MetricKind::Proportion => "CAST(1 AS DOUBLE)".to_string(),
            MetricKind::Count => "CAST(count(*) AS DOUBLE)".to_string(),
            _ => "CAST(coalesce(sum(e.value), 0) AS DOUBLE)".to_string(),
        };
        let horizon = days * MICROS_PER_DAY;
        let end = self.window.end.timestamp_micros();
        let late = days - early;
        let eligible = format!("t0 IS NOT NULL AND variant IS NOT NULL AND t0us + {horizon} <= {end}");
        // The novelty horizon is at most the primary's window (`novelty::horizon`), so the
        // kept primary events hold every row it reads.
        let daily = match &self.primary_events_table {
            Some(kept) => format!(
                "SELECT e.uid, e.variant, CAST(floor(e.dt / {MICROS_PER_DAY}) AS BIGINT) AS day, {value} AS v
  FROM {kept} e
  WHERE e.code = {event} AND e.dt >= 0 AND e.dt < {horizon} AND e.t0us + {horizon} <= {end}
  GROUP BY e.uid, e.variant, 3"
            ),
            None => format!(
                "SELECT u.uid, u.variant, CAST(floor((e.tus - u.t0us) / {MICROS_PER_DAY}) AS BIGINT) AS day, {value} AS v
  FROM eligible u JOIN ({events}) e
    ON e.unit = u.unit AND e.tus >= u.t0us AND e.tus < u.t0us + {horizon}
  WHERE e.code = {event}
  GROUP BY u.uid, u.variant, 3",
                events = self.events_subquery(d, std::slice::from_ref(primary)),
            ),
        };
        Some(format!(
            "WITH eligible AS (
  SELECT unit, uid, variant, t0us FROM {table}
  WHERE {eligible}
),
daily AS (
  {daily}
),
units_d AS (
  SELECT uid, variant,
         sum(CASE WHEN day < {early} THEN v ELSE 0 END) / {early}.0
           - sum(CASE WHEN day >= {early} THEN v ELSE 0 END) / {late}.0 AS d
  FROM daily GROUP BY uid, variant
)
SELECT variant, day, sum(v), sum(v * v) FROM daily GROUP BY variant, day
UNION ALL
SELECT variant, {contrast}, sum(d), sum(d * d) FROM units_d GROUP BY variant
UNION ALL
SELECT variant, {units}, CAST(count(*) AS DOUBLE), CAST(0 AS DOUBLE) FROM eligible GROUP BY variant",
            contrast = NOVELTY_EARLY_MINUS_LATE,
            units = NOVELTY_UNITS,
        ))
    }

    /// With the units table: each confidence bucket's lowest and highest model output, rows of
    /// `bucket`, `low`, `high`.
    pub fn confidence_bounds_sql(&self) -> Option<String> {
        let table = self.units_table.as_ref().filter(|_| self.segment.is_none())?;
        Some(format!(
            "SELECT sid, min(output), max(output) FROM {table} WHERE sid > 0 GROUP BY sid ORDER BY sid"
        ))
    }

    /// Per variant (index; NULL for units in several variants): the exposed units, those with
    /// a triggered exposure, and those with any exposure that says whether it triggered
    /// (`triggered` true or false): rows of `variant`, `units`, `triggered`, `marked`.
    pub fn trigger_counts_sql(&self, d: &dyn Dialect) -> String {
        // A units table holds every exposed unit; one built from kept rows whatever the segment.
        let whole = self.segment.is_none() || self.units_carry_values;
        let source = match &self.units_table {
            Some(table) if whole => format!("SELECT * FROM {table}"),
            _ => {
                let unsegmented = Plan {
                    segment: None,
                    units_table: None,
                    ..self.clone()
                };
                format!("WITH {} SELECT * FROM exposed_units", unsegmented.units_ctes(d))
            }
        };
        format!(
            "SELECT variant, count(*) AS units, count(*) FILTER (WHERE triggered) AS triggered, \
             count(*) FILTER (WHERE marked) AS marked FROM ({source}) AS exposed_units \
             GROUP BY variant ORDER BY variant"
        )
    }

    /// The exposures the analysis counts (the experiment's, of its variants, in the window),
    /// with the variant as its index (control 0: integer comparisons and grouping) in `vid`
    /// and whether it triggered in `trig`.
    fn counted_exposures(&self, d: &dyn Dialect) -> String {
        let start = self
            .window
            .start
            .map(|start| format!(" AND ts >= {}", d.timestamp_literal(start.timestamp_micros())))
            .unwrap_or_default();
        let variants: Vec<String> = self.variants.iter().map(|name| d.string_literal(name)).collect();
        format!(
            "SELECT unit, ts, {trig} AS trig, attributes, model_output, {index} AS vid
    FROM exposures
    WHERE experiment = {key} AND variant IN ({variants}){start} AND ts < {end}{only}",
            // Whether the exposure triggered: its `triggered`, or, for the model-disagreement
            // design, a `shadow_output` that differs from `model_output`; NULL when it says
            // neither.
            trig = "CASE WHEN triggered IS NOT NULL OR shadow_output IS NOT NULL \
                    THEN coalesce(triggered, false) OR coalesce(model_output <> shadow_output, false) END",
            index = position_in("variant", &variants),
            key = d.string_literal(&self.experiment),
            variants = variants.join(", "),
            end = d.timestamp_literal(self.window.end.timestamp_micros()),
            only = self
                .only_units
                .as_ref()
                .map(|table| format!(" AND unit IN (SELECT unit FROM {table})"))
                .unwrap_or_default(),
        )
    }

    /// With a segment: every exposed unit per variant (index; NULL for units in several) and
    /// segment token (its first exposure's attribute, NULL when missing), with the triggered
    /// and marked ones: rows of `variant`, `token`, `units`, `triggered`, `marked`.
    pub fn segment_trigger_counts_sql(&self, d: &dyn Dialect) -> Option<String> {
        let name = self.segment.as_ref()?;
        // Kept rows carry the attributes of each unit's first counted exposure, which is its
        // first exposure unless only triggered exposures count.
        if let Some(table) = self
            .units_table
            .as_ref()
            .filter(|_| self.units_carry_values && !self.triggered_only)
        {
            return Some(format!(
                "WITH {texts}
SELECT u.variant, x.token, count(*) AS units, count(*) FILTER (WHERE u.triggered) AS triggered,
       count(*) FILTER (WHERE u.marked) AS marked
FROM {table} u LEFT JOIN texts x ON x.attributes IS NOT DISTINCT FROM u.attributes
GROUP BY u.variant, x.token",
                texts = segment_texts(d, table, name),
            ));
        }
        Some(format!(
            "SELECT variant, token, count(*) AS units, count(*) FILTER (WHERE triggered) AS triggered,
       count(*) FILTER (WHERE marked) AS marked
FROM (
  SELECT CASE WHEN min(vid) = max(vid) THEN min(vid) END AS variant,
         nullif({token}, '') AS token,
         coalesce(bool_or(trig), false) AS triggered, count(trig) > 0 AS marked
  FROM ({counted}) AS counted
  GROUP BY unit
) AS per_unit
GROUP BY variant, token",
            token = d.attribute_token(&d.arg_min("attributes", "ts", None), name),
            counted = self.counted_exposures(d),
        ))
    }

    /// `exposed` (one row per unit), `exposed_units` (without a segment: variant NULL for
    /// units in several variants, t0 NULL for units that do not count, trigger flags) and
    /// `units` (the counted ones, with segment columns when split).
    fn units_ctes(&self, d: &dyn Dialect) -> String {
        self.units_ctes_for(d, UnitsFor::OneQuery)
    }

    /// [`Plan::units_ctes`], for what `purpose` says.
    fn units_ctes_for(&self, d: &dyn Dialect, purpose: UnitsFor) -> String {
        let with_attributes = purpose == UnitsFor::StoreRows;
        if let (Some(table), None) = (&self.units_table, &self.segment) {
            let only = self
                .only_units
                .as_ref()
                .map(|only| format!(" AND unit IN (SELECT unit FROM {only})"))
                .unwrap_or_default();
            return format!("units AS (SELECT * FROM {table} WHERE t0 IS NOT NULL{only})");
        }
        let triggered = self.triggered_only.then_some("trig");
        // The attributes of the unit's first counted exposure, which a segment is read from.
        let first_attributes = format!(", {} AS attributes", d.arg_min("attributes", "ts", triggered));
        let attributes = match self.segment {
            Some(_) => first_attributes,
            // The model's output on the unit's first counted exposure that carries one.
            None => {
                let scored = match triggered {
                    Some(triggered) => format!("model_output IS NOT NULL AND {triggered}"),
                    None => "model_output IS NOT NULL".to_string(),
                };
                let output = format!(", {} AS output", d.arg_min("model_output", "ts", Some(&scored)));
                if with_attributes {
                    output + &first_attributes
                } else {
                    output
                }
            }
        };
        let exposed = format!(
            "exposed AS (
  SELECT unit, min(vid) AS variant, min(vid) <> max(vid) AS mixed, {t0} AS t0,
         coalesce(bool_or(trig), false) AS any_triggered, count(trig) > 0 AS marked{attributes}
  FROM ({counted}) AS counted
  GROUP BY unit
)",
            t0 = d.aggregate_where("min", "ts", triggered),
            counted = self.counted_exposures(d),
        );
        let variant = "CASE WHEN NOT mixed THEN variant END AS variant";
        let t0us = d.epoch_micros("t0");
        match &self.segment {
            None => format!(
                "{exposed},
exposed_units AS (
  SELECT unit, {uid} AS uid, {variant}, t0, {t0us} AS t0us, 0 AS sid,
         any_triggered AS triggered, marked, output{carried}
  FROM exposed
),
units AS (SELECT * FROM exposed_units WHERE t0 IS NOT NULL)",
                carried = if with_attributes { ", attributes" } else { "" },
                uid = d.unit_number("unit", purpose == UnitsFor::Keeping),
            ),
            Some(name) => format!(
                "{exposed},
tokens AS (
  SELECT unit, {variant}, t0, nullif({token}, '') AS token
  FROM exposed WHERE t0 IS NOT NULL
),
ranked AS (
  SELECT token, row_number() OVER (ORDER BY count(*) DESC, token NULLS LAST) AS rank
  FROM tokens GROUP BY token
),
units AS (
  SELECT t.unit, {uid} AS uid, t.variant, t.t0, {t0us} AS t0us,
         CASE WHEN r.rank <= {TOP_SEGMENTS} THEN r.rank ELSE 0 END AS sid
  FROM tokens t JOIN ranked r ON r.token IS NOT DISTINCT FROM t.token
)",
                token = d.attribute_token("attributes", name),
                t0us = d.epoch_micros("t.t0"),
                uid = d.unit_number("t.unit", purpose == UnitsFor::Keeping),
            ),
        }
    }

    /// The metric events any of `metrics` reads, and only their columns.
    ///
    /// Besides `unit`, `ts` and `value`, each row carries `code`, its event name's position in
    /// [`event_names`] (so per-metric tests compare integers, and the names are compared once,
    /// at the scan), and `tus`, its time in epoch microseconds.
    fn events_subquery(&self, d: &dyn Dialect, metrics: &[PlannedMetric]) -> String {
        let names = event_names(metrics);
        let literals: Vec<String> = names.iter().map(|name| d.string_literal(name)).collect();
        let events = (!names.is_empty()).then(|| {
            let (coded, code) = match d.event_coding() {
                EventCoding::Join => {
                    let pairs: Vec<String> = literals
                        .iter()
                        .enumerate()
                        .map(|(code, name)| format!("({name}, {code})"))
                        .collect();
                    (
                        format!(
                            "metric_events m JOIN (VALUES {}) AS c(event, code) ON m.event = c.event{}",
                            pairs.join(", "),
                            self.events_time_filter(d, "m.ts"),
                        ),
                        "c.code".to_string(),
                    )
                }
                EventCoding::Case => (
                    format!(
                        "metric_events m{} AND m.event IN ({})",
                        self.events_time_filter(d, "m.ts"),
                        literals.join(", "),
                    ),
                    position_in("m.event", &literals),
                ),
            };
            format!(
                "SELECT m.unit, m.value, {code} AS code, {} AS tus FROM {coded}",
                d.epoch_micros("m.ts"),
            )
        });
        // The exposures' latencies join as events of their own code, so a latency metric's
        // window and sums are every other metric's.
        let latencies = metrics.iter().any(PlannedMetric::reads_latency).then(|| {
            format!(
                "SELECT unit, latency_ms AS value, {LATENCY_CODE} AS code, {tus} AS tus \
                 FROM exposures WHERE experiment = {key} AND latency_ms IS NOT NULL{start} AND ts < {end}",
                tus = d.epoch_micros("ts"),
                key = d.string_literal(&self.experiment),
                start = self
                    .window
                    .start
                    .map(|start| format!(" AND ts >= {}", d.timestamp_literal(start.timestamp_micros())))
                    .unwrap_or_default(),
                end = d.timestamp_literal(self.window.end.timestamp_micros()),
            )
        });
        match (events, latencies) {
            (Some(events), Some(latencies)) => format!("{events} UNION ALL {latencies}"),
            (Some(only), None) | (None, Some(only)) => only,
            // No metric reads anything (not a plan `new` builds): an empty relation.
            (None, None) => {
                format!(
                    "SELECT CAST(NULL AS {}) AS unit, CAST(NULL AS DOUBLE) AS value, 0 AS code, 0 AS tus WHERE false",
                    d.text_type()
                )
            }
        }
    }

    /// ` WHERE` bounds on the metric events' `column` (their timestamp) that every event any
    /// query of the plan joins satisfies: each counted unit's t0 lies in the exposure window,
    /// and each joined event within (lookback, window) of it. The join tests the exact bounds
    /// per unit; this coarser test lets DuckDB skip whole row groups by their min/max times,
    /// so an analysis reads the experiment's weeks, not every event ever stored.
    fn events_time_filter(&self, d: &dyn Dialect, column: &str) -> String {
        let (lookback, window) = self.join_bounds();
        let end = self.window.end.timestamp_micros().saturating_add(window);
        let upper = format!(" WHERE {column} < {}", d.timestamp_literal(end));
        match self.window.start {
            Some(start) => format!(
                "{upper} AND {column} >= {}",
                d.timestamp_literal(start.timestamp_micros().saturating_sub(lookback))
            ),
            None => upper,
        }
    }

    /// How far before and after t0 any metric looks, in microseconds: (lookback, window).
    fn join_bounds(&self) -> (i64, i64) {
        let lookback = self
            .metrics
            .iter()
            .map(PlannedMetric::lookback_micros)
            .max()
            .unwrap_or(0);
        let window = self
            .metrics
            .iter()
            .map(PlannedMetric::window_micros)
            .max()
            .unwrap_or(0);
        (lookback, window)
    }
}

/// Model-confidence buckets: deciles of the scored units' model outputs.
pub const CONFIDENCE_BUCKETS: u8 = 10;

/// The count of values per variant in `table` (of [`Plan::quantile_values_sql`]'s rows):
/// rows of `variant`, `n`.
pub fn quantile_counts_sql(table: &str) -> String {
    format!("SELECT variant, count(*) AS n FROM {table} GROUP BY variant ORDER BY variant")
}

/// The 1-based ranks of a quantile and of the order statistics bounding it at 95% among `n`
/// sorted values: ceil(n·ν) and ceil(n·ν ∓ 1.96·√(n·ν(1-ν))), clamped to [1, n]. They are
/// what the engine selects (`Dialect::discrete_quantiles`) and gbstats reads the variance from.
pub fn quantile_ranks(n: u64, level: f64) -> [u64; 3] {
    let n_f = n as f64;
    let spread = rctgate_stats::distribution::normal_quantile(0.975) * (n_f * level * (1.0 - level)).sqrt();
    let rank = |position: f64| (position.ceil().max(1.0).min(n_f.max(1.0))) as u64;
    [
        rank(n_f * level),
        rank(n_f * level - spread),
        rank(n_f * level + spread),
    ]
}

/// The values of `variant` in `table` at the 1-based `ranks` (estimate, lower, upper): one
/// row of three columns. Each rank r is asked as the fraction (r - ½)/n, which the inverted
/// distribution function maps back to rank r whatever the rounding.
pub fn quantile_bounds_sql(d: &dyn Dialect, table: &str, variant: usize, n: u64, ranks: [u64; 3]) -> String {
    let fractions: Vec<f64> = ranks
        .iter()
        .map(|rank| ((*rank as f64 - 0.5) / n.max(1) as f64).clamp(0.0, 1.0))
        .collect();
    format!(
        "SELECT {} FROM {table} WHERE variant = {variant}",
        d.discrete_quantiles("value", &fractions)
    )
}

/// Per variant, the per-unit sums of a quantile over clustered values: units, then Σ and Σ² of
/// each unit's count of values at or below its arm's estimate (`estimates[variant]`), Σ and Σ²
/// of its count of values, and Σ of their product. Rows of `variant` and those six columns.
pub fn quantile_cluster_sql(table: &str, estimates: &[(usize, f64)]) -> String {
    let cases: Vec<String> = estimates
        .iter()
        .map(|(variant, estimate)| format!("WHEN {variant} THEN {estimate:?}"))
        .collect();
    format!(
        "SELECT variant, count(*) AS units, sum(n_below), sum(n_below * n_below), sum(n_values), \
         sum(n_values * n_values), sum(n_below * n_values)
FROM (
  SELECT variant, uid, CAST(count(*) FILTER (WHERE value <= CASE variant {cases} END) AS DOUBLE) AS n_below,
         CAST(count(*) AS DOUBLE) AS n_values
  FROM {table} GROUP BY variant, uid
) AS per_unit
GROUP BY variant ORDER BY variant",
        cases = cases.join(" "),
    )
}

/// `texts`: each distinct `attributes` text of `table`'s units with the segment token of
/// attribute `name` read from it, once per text rather than once per unit (units share a few).
fn segment_texts(d: &dyn Dialect, table: &str, name: &str) -> String {
    format!(
        "texts AS (
  SELECT attributes, nullif({token}, '') AS token
  FROM (SELECT DISTINCT attributes FROM {table}) AS a
)",
        token = d.attribute_token("a.attributes", name),
    )
}

/// `column`'s position among `literals` (0-based), by a `CASE`; NULL when it is none of them.
fn position_in(column: &str, literals: &[String]) -> String {
    let arms: String = literals
        .iter()
        .enumerate()
        .map(|(position, literal)| format!(" WHEN {literal} THEN {position}"))
        .collect();
    format!("CASE {column}{arms} END")
}

/// What [`Plan::units_ctes_for`] builds the units for: it decides each unit's `uid` and
/// whether the units carry their attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnitsFor {
    /// Read within one query.
    OneQuery,
    /// Kept ([`crate::Engine::keep`]): computed once, so `uid` may be an id that depends on
    /// where each row sits ([`Dialect::unit_number`]).
    Keeping,
    /// The store's kept unit rows (one query): each unit also carries the attributes a segment
    /// would be read from, so that the rows serve segmented scorecards too.
    StoreRows,
}

/// The fractions of the nine model-confidence decile edges.
fn decile_fractions() -> Vec<f64> {
    (1..CONFIDENCE_BUCKETS)
        .map(|i| f64::from(i) / f64::from(CONFIDENCE_BUCKETS))
        .collect()
}

/// Whether an exposed unit is scored for the confidence deciles: counted, in one arm, with a
/// model output, and triggered when any unit says whether it triggered (`any_marked`).
fn scored_units(any_marked: &str) -> String {
    format!(
        "output IS NOT NULL AND t0 IS NOT NULL AND variant IS NOT NULL AND (triggered OR NOT {any_marked})"
    )
}

/// A scored unit's decile: 1 plus the count of the nine edges (`edge(i)`, 1-based) below its
/// output, so a unit whose output equals an edge is in the lower decile.
fn decile_of(edge: impl Fn(usize) -> String) -> String {
    let above: Vec<String> = (1..CONFIDENCE_BUCKETS as usize)
        .map(|i| format!("CAST(output > {} AS INTEGER)", edge(i)))
        .collect();
    format!("1 + {}", above.join(" + "))
}

/// The distinct event names `metrics` read, sorted: an event's code is its position here.
fn event_names(metrics: &[PlannedMetric]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for planned in metrics.iter().filter(|planned| !planned.reads_latency()) {
        names.push(&planned.metric.event);
        if let Some(denominator) = &planned.metric.denominator_event {
            names.push(denominator);
        }
    }
    names.sort_unstable();
    names.dedup();
    names
}

/// The code of `name` among `names` (see [`event_names`]).
fn event_code(names: &[&str], name: &str) -> usize {
    names
        .iter()
        .position(|candidate| *candidate == name)
        .unwrap_or(usize::MAX)
}

fn listed<'a>(
    field: &'a str,
    role: Role,
    names: &'a [String],
) -> impl Iterator<Item = (Role, String, &'a String)> + 'a {
    names
        .iter()
        .enumerate()
        .map(move |(index, name)| (role, format!("{field}[{index}]"), name))
}

/// One unit's value of a metric of `kind` over its joined events (columns `event`, `value`,
/// `dt`) where `condition` holds; 0 when none does.
fn unit_value(kind: MetricKind, condition: &str) -> String {
    match kind {
        MetricKind::Proportion => format!("CAST({} > 0 AS DOUBLE)", count_where(condition)),
        MetricKind::Count => format!("CAST({} AS DOUBLE)", count_where(condition)),
        MetricKind::Mean | MetricKind::Ratio | MetricKind::Quantile => {
            format!("CAST(coalesce({}, 0) AS DOUBLE)", sum_where("value", condition))
        }
    }
}

/// The number of rows where `condition` holds, as a sum of a `CASE` rather than
/// `count(*) FILTER (WHERE ...)`: a per-unit grouping holds one such aggregate per metric
/// column over every joined event, and DuckDB updates a plain sum of a computed column
/// faster than it applies one filter per aggregate (the scorecard query 4-12% faster on the
/// analysis bench, alternating runs). Never NULL: the group it runs in has at least one row.
fn count_where(condition: &str) -> String {
    format!("sum(CASE WHEN {condition} THEN 1 ELSE 0 END)")
}

/// The sum of `argument` over the rows where `condition` holds; NULL when none does (as
/// `sum(...) FILTER (WHERE ...)`), for the reason [`count_where`] gives.
fn sum_where(argument: &str, condition: &str) -> String {
    format!("sum(CASE WHEN {condition} THEN {argument} END)")
}

/// The per-unit value columns of the scorecard query, each computed once however many metrics
/// use it (revenue as a mean and as a ratio's numerator share one column).
#[derive(Default)]
struct UnitValues {
    /// `expression AS vN`.
    columns: Vec<String>,
    expressions: Vec<String>,
}

impl UnitValues {
    /// The column name of `expression`, adding it if new.
    fn column(&mut self, expression: String) -> String {
        let index = match self.expressions.iter().position(|known| *known == expression) {
            Some(index) => index,
            None => {
                self.columns
                    .push(format!("{expression} AS v{}", self.expressions.len()));
                self.expressions.push(expression);
                self.expressions.len() - 1
            }
        };
        format!("p.v{index}")
    }
}

/// A metric's [`COLUMNS_PER_METRIC`] per-variant sums over its per-unit value columns.
/// `joined` is the join's (lookback, window): bounds it already guarantees are not tested
/// again.
fn metric_sums(
    planned: &PlannedMetric,
    names: &[&str],
    joined: (i64, i64),
    values: &mut UnitValues,
) -> Vec<String> {
    let metric = &planned.metric;
    let null = || "CAST(NULL AS DOUBLE)".to_string();
    if planned.is_quantile() {
        // Its own queries compute it (`Plan::quantile_values_sql`).
        return vec![null(); COLUMNS_PER_METRIC];
    }
    let within = |event: &str, from: i64, to: i64| {
        let code = if planned.reads_latency() {
            LATENCY_CODE
        } else {
            i64::try_from(event_code(names, event)).unwrap_or(i64::MAX)
        };
        let mut condition = format!("code = {code}");
        if from > -joined.0 {
            condition.push_str(&format!(" AND dt >= {from}"));
        }
        if to < joined.1 {
            condition.push_str(&format!(" AND dt < {to}"));
        }
        condition
    };
    let window = planned.window_micros();
    let y = values.column(unit_value(metric.kind, &within(&metric.event, 0, window)));
    let mut sums = vec![format!("sum({y})"), format!("sum({y} * {y})")];
    // A latency mean is per request: the unit's latencies over its count of them.
    let denominator = match &metric.denominator_event {
        Some(denominator) if metric.kind == MetricKind::Ratio => {
            Some(unit_value(MetricKind::Mean, &within(denominator, 0, window)))
        }
        _ if planned.is_ratio() => Some(unit_value(MetricKind::Count, &within("", 0, window))),
        _ => None,
    };
    match denominator {
        Some(denominator) => {
            let den = values.column(denominator);
            sums.extend([
                format!("sum({den})"),
                format!("sum({den} * {den})"),
                format!("sum({y} * {den})"),
            ]);
        }
        _ => sums.extend([null(), null(), null()]),
    }
    if planned.cuped() {
        let lookback = planned.lookback_micros();
        let x = values.column(unit_value(metric.kind, &within(&metric.event, -lookback, 0)));
        sums.extend([
            format!("sum({x})"),
            format!("sum({x} * {x})"),
            format!("sum({y} * {x})"),
        ]);
    } else {
        sums.extend([null(), null(), null()]);
    }
    sums
}
