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

use crate::dialect::Dialect;
use chrono::{DateTime, Utc};
use rctgate_domain::{Experiment, Metric, MetricKind, ValidationError};
use serde::{Deserialize, Serialize};

/// Segment values shown by name; the rest are pooled as "(other)".
pub const TOP_SEGMENTS: usize = 20;

/// Sufficient-statistic columns per metric, in this order: sum, sum_squares, den_sum,
/// den_sum_squares, num_den_sum_product, pre_sum, pre_sum_squares, post_pre_sum_product.
pub const COLUMNS_PER_METRIC: usize = 8;

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
                    field,
                    format!(
                        "Metric {name:?} is not in the catalog; create it or remove it from the experiment."
                    ),
                )
            })?;
            metrics.push(PlannedMetric { metric, role });
        }
        if let Some(name) = segment {
            rctgate_domain::names::check_identifier("segment", name)?;
        }
        Ok(Plan {
            experiment: experiment.key.clone(),
            variants: experiment.variant_names(),
            metrics,
            window,
            triggered_only: experiment.analysis.triggered_only,
            segment: segment.map(str::to_string),
        })
    }

    /// One query for every metric: rows of `variant` (NULL for units in more than one
    /// variant), `segment` (the attribute's raw JSON token, NULL when missing or pooled),
    /// `other` (pooled into "(other)"), `n`, then [`COLUMNS_PER_METRIC`] DOUBLE columns per
    /// metric in plan order.
    pub fn scorecard_sql(&self, d: &dyn Dialect) -> String {
        let mut values = Vec::new();
        let mut sums = Vec::new();
        for (i, planned) in self.metrics.iter().enumerate() {
            let (value_columns, sum_columns) = metric_columns(d, i, planned);
            values.extend(value_columns);
            sums.extend(sum_columns);
        }
        let (lo, hi) = self.join_bounds();
        format!(
            "WITH {units},
per_unit AS (
  SELECT u.variant, u.segment, u.other, {values}
  FROM units u LEFT JOIN ({events}) e
    ON e.unit = u.unit AND e.ts >= {lo} AND e.ts < {hi}
  GROUP BY u.unit, u.variant, u.segment, u.other
)
SELECT variant, segment, other, count(*) AS n, {sums}
FROM per_unit
GROUP BY variant, segment, other",
            units = self.units_ctes(d),
            values = values.join(", "),
            events = self.events_subquery(d, &self.metrics),
            lo = d.add_micros("u.t0", -lo),
            hi = d.add_micros("u.t0", hi),
            sums = sums.join(", "),
        )
    }

    /// The primary metric's daily increments: rows of `day` (microseconds since the epoch, UTC
    /// midnight), `variant`, `n` (units whose t0 falls that day), then the
    /// [`COLUMNS_PER_METRIC`] sums' increments that day. Summed over the days up to D, they
    /// are the scorecard's sums as of the end of day D (events after D not yet counted).
    pub fn daily_sql(&self, d: &dyn Dialect) -> String {
        let primary = &self.metrics[0];
        let metric = &primary.metric;
        let ratio = metric.kind == MetricKind::Ratio;
        let cuped = primary.cuped();
        let window = primary.window_micros();
        let events = self.events_subquery(d, std::slice::from_ref(primary));
        let post = |event: &str| {
            format!(
                "e.event = {} AND e.ts >= u.t0 AND e.ts < {}",
                d.string_literal(event),
                d.add_micros("u.t0", window)
            )
        };
        // Per unit and day, the increment of the numerator's raw accumulator: a count of
        // events for proportion and count metrics, a sum of values otherwise.
        let raw = |condition: String| match metric.kind {
            MetricKind::Proportion | MetricKind::Count => {
                format!("CAST(count(CASE WHEN {condition} THEN 1 END) AS DOUBLE)")
            }
            MetricKind::Mean | MetricKind::Ratio => {
                format!("CAST(coalesce(sum(CASE WHEN {condition} THEN e.value END), 0) AS DOUBLE)")
            }
        };
        // The unit's value from its accumulator.
        let value = |acc: &str| match metric.kind {
            MetricKind::Proportion => format!("(CASE WHEN {acc} > 0 THEN 1.0 ELSE 0.0 END)"),
            _ => acc.to_string(),
        };
        let mut ctes = vec![
            self.units_ctes(d),
            "included AS (SELECT unit, variant, t0 FROM units WHERE variant IS NOT NULL)".to_string(),
        ];
        let (x, x_join) = if cuped {
            let lookback = primary.lookback_micros();
            let condition = format!(
                "e.event = {} AND e.ts >= {} AND e.ts < u.t0",
                d.string_literal(&metric.event),
                d.add_micros("u.t0", -lookback)
            );
            ctes.push(format!(
                "pre AS (
  SELECT u.unit, {x} AS x
  FROM included u LEFT JOIN ({events}) e
    ON e.unit = u.unit AND e.ts >= {lo} AND e.ts < u.t0
  GROUP BY u.unit
)",
                x = unit_value(metric.kind, &condition),
                lo = d.add_micros("u.t0", -lookback),
            ));
            ("p.x", " JOIN pre p ON p.unit = u.unit")
        } else {
            ("0.0", "")
        };
        let den_step = if ratio {
            raw(post(metric.denominator_event.as_deref().unwrap_or_default()))
        } else {
            "0.0".to_string()
        };
        ctes.push(format!(
            "entries AS (
  SELECT {day} AS day, u.variant, count(*) AS n, 0.0 AS s, 0.0 AS ss, 0.0 AS ds, 0.0 AS dss, 0.0 AS nd,
         sum({x}) AS xs, sum({x} * {x}) AS xss, 0.0 AS yx
  FROM included u{x_join}
  GROUP BY 1, 2
)",
            day = d.day_of("u.t0"),
        ));
        ctes.push(format!(
            "steps AS (
  SELECT u.unit, u.variant, {day} AS day, {dy} AS dy, {dd} AS dd
  FROM included u JOIN ({events}) e
    ON e.unit = u.unit AND e.ts >= u.t0 AND e.ts < {hi}
  GROUP BY u.unit, u.variant, {day}
)",
            day = d.day_of("e.ts"),
            dy = raw(post(&metric.event)),
            dd = den_step,
            hi = d.add_micros("u.t0", window),
        ));
        ctes.push(
            "running AS (
  SELECT unit, variant, day,
         coalesce(sum(dy) OVER earlier, 0) AS y_a, sum(dy) OVER through AS y_b,
         coalesce(sum(dd) OVER earlier, 0) AS d_a, sum(dd) OVER through AS d_b
  FROM steps
  WINDOW earlier AS (PARTITION BY unit ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
         through AS (PARTITION BY unit ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)"
            .to_string(),
        );
        let (ya, yb) = (value("r.y_a"), value("r.y_b"));
        let x_of_change = if cuped { "p.x" } else { "0.0" };
        let change_join = if cuped {
            " JOIN pre p ON p.unit = r.unit"
        } else {
            ""
        };
        ctes.push(format!(
            "changes AS (
  SELECT r.day, r.variant, 0 AS n,
         {yb} - {ya} AS s, {yb} * {yb} - {ya} * {ya} AS ss,
         r.d_b - r.d_a AS ds, r.d_b * r.d_b - r.d_a * r.d_a AS dss, {yb} * r.d_b - {ya} * r.d_a AS nd,
         0.0 AS xs, 0.0 AS xss, {x_of_change} * ({yb} - {ya}) AS yx
  FROM running r{change_join}
)"
        ));
        let null = "NULL::DOUBLE";
        let (den, pre) = (
            if ratio {
                "sum(ds), sum(dss), sum(nd)"
            } else {
                "NULL::DOUBLE, NULL::DOUBLE, NULL::DOUBLE"
            },
            if cuped {
                "sum(xs), sum(xss), sum(yx)".to_string()
            } else {
                format!("{null}, {null}, {null}")
            },
        );
        format!(
            "WITH {ctes}
SELECT {day_us} AS day, variant, CAST(sum(n) AS BIGINT) AS n, sum(s), sum(ss), {den}, {pre}
FROM (SELECT * FROM entries UNION ALL SELECT * FROM changes) AS increments
GROUP BY day, variant
ORDER BY day, variant",
            ctes = ctes.join(",\n"),
            day_us = d.epoch_micros("day"),
        )
    }

    /// `exposed` (one row per unit) and `units` (variant NULL for units in several variants,
    /// t0, segment columns).
    fn units_ctes(&self, d: &dyn Dialect) -> String {
        let triggered = self.triggered_only.then_some("triggered");
        let start = self
            .window
            .start
            .map(|start| format!(" AND ts >= {}", d.timestamp_literal(start.timestamp_micros())))
            .unwrap_or_default();
        let variants: Vec<String> = self.variants.iter().map(|name| d.string_literal(name)).collect();
        let attributes = match self.segment {
            Some(_) => format!(", {} AS attributes", d.arg_min("attributes", "ts", triggered)),
            None => String::new(),
        };
        let exposed = format!(
            "exposed AS (
  SELECT unit, min(variant) AS variant, count(DISTINCT variant) AS arms, {t0} AS t0{attributes}
  FROM exposures
  WHERE experiment = {key} AND variant IN ({variants}){start} AND ts < {end}
  GROUP BY unit
)",
            t0 = d.min_where("ts", triggered),
            key = d.string_literal(&self.experiment),
            variants = variants.join(", "),
            end = d.timestamp_literal(self.window.end.timestamp_micros()),
        );
        let variant = "CASE WHEN arms = 1 THEN variant END AS variant";
        match &self.segment {
            None => format!(
                "{exposed},
units AS (
  SELECT unit, {variant}, t0, NULL::VARCHAR AS segment, false AS other
  FROM exposed WHERE t0 IS NOT NULL
)"
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
  SELECT t.unit, t.variant, t.t0,
         CASE WHEN r.rank <= {TOP_SEGMENTS} THEN t.token END AS segment, r.rank > {TOP_SEGMENTS} AS other
  FROM tokens t JOIN ranked r ON r.token IS NOT DISTINCT FROM t.token
)",
                token = d.attribute_token("attributes", name),
            ),
        }
    }

    /// The metric events any of `metrics` reads, and only their columns.
    fn events_subquery(&self, d: &dyn Dialect, metrics: &[PlannedMetric]) -> String {
        let mut names: Vec<&str> = Vec::new();
        for planned in metrics {
            names.push(&planned.metric.event);
            if let Some(denominator) = &planned.metric.denominator_event {
                names.push(denominator);
            }
        }
        names.sort_unstable();
        names.dedup();
        let names: Vec<String> = names.iter().map(|name| d.string_literal(name)).collect();
        format!(
            "SELECT unit, event, ts, value FROM metric_events WHERE event IN ({})",
            names.join(", ")
        )
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

/// One unit's value of a metric of `kind` over the joined events where `condition` holds.
fn unit_value(kind: MetricKind, condition: &str) -> String {
    match kind {
        MetricKind::Proportion => format!("CAST(max(CASE WHEN {condition} THEN 1 ELSE 0 END) AS DOUBLE)"),
        MetricKind::Count => format!("CAST(count(CASE WHEN {condition} THEN 1 END) AS DOUBLE)"),
        MetricKind::Mean | MetricKind::Ratio => {
            format!("CAST(coalesce(sum(CASE WHEN {condition} THEN e.value END), 0) AS DOUBLE)")
        }
    }
}

/// Metric `i`'s per-unit value columns (`m{i}_y`, `m{i}_d`, `m{i}_x`) and its
/// [`COLUMNS_PER_METRIC`] per-variant sums.
fn metric_columns(d: &dyn Dialect, i: usize, planned: &PlannedMetric) -> (Vec<String>, Vec<String>) {
    let metric = &planned.metric;
    let within = |event: &str, from: i64, to: i64| {
        format!(
            "e.event = {} AND e.ts >= {} AND e.ts < {}",
            d.string_literal(event),
            d.add_micros("u.t0", from),
            d.add_micros("u.t0", to)
        )
    };
    let window = planned.window_micros();
    let y = format!("m{i}_y");
    let mut values = vec![format!(
        "{} AS {y}",
        unit_value(metric.kind, &within(&metric.event, 0, window))
    )];
    let null = "NULL::DOUBLE".to_string();
    let mut sums = vec![format!("sum({y})"), format!("sum({y} * {y})")];
    match &metric.denominator_event {
        Some(denominator) if metric.kind == MetricKind::Ratio => {
            let den = format!("m{i}_d");
            values.push(format!(
                "{} AS {den}",
                unit_value(MetricKind::Mean, &within(denominator, 0, window))
            ));
            sums.extend([
                format!("sum({den})"),
                format!("sum({den} * {den})"),
                format!("sum({y} * {den})"),
            ]);
        }
        _ => sums.extend([null.clone(), null.clone(), null.clone()]),
    }
    if planned.cuped() {
        let x = format!("m{i}_x");
        let lookback = planned.lookback_micros();
        values.push(format!(
            "{} AS {x}",
            unit_value(metric.kind, &within(&metric.event, -lookback, 0))
        ));
        sums.extend([
            format!("sum({x})"),
            format!("sum({x} * {x})"),
            format!("sum({y} * {x})"),
        ]);
    } else {
        sums.extend([null.clone(), null.clone(), null]);
    }
    (values, sums)
}
