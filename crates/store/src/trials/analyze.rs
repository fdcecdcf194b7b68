//! Running an experiment's analysis plan on the DuckDB file: the I/O half of
//! `rctgate_analysis` (which generates the SQL and builds the scorecard).
//!
//! Queries run on a separate read connection, so ingestion is never blocked by an analysis.
//! Only per-variant (and per-segment, per-day) sums come back.

use crate::error::{StoreError, StoreResult};
use crate::store::Store;
use crate::trials::distributions::output_distributions;
use crate::trials::timing::timed;
use crate::trials::unit_state::{KeepRows, KeptUnits, Refresh, SERIES};
use chrono::{DateTime, Utc};
use duckdb::Connection;
use rctgate_analysis::contrasts;
use rctgate_analysis::novelty::{self, NoveltyRow};
use rctgate_analysis::plan::COLUMNS_PER_METRIC;
use rctgate_analysis::plan::{
    quantile_bounds_sql, quantile_cluster_sql, quantile_counts_sql, quantile_ranks,
};
use rctgate_analysis::{
    ArmSums, DailySums, DuckDb, ExposureWindow, Inputs, LatencySummary, MetricSums, Plan, QuantileArm,
    QuantileArms, Scorecard, SegmentKey, TriggerCounts,
};
use rctgate_domain::{Experiment, Status};

/// What to compute besides the scorecard itself.
#[derive(Debug, Clone, Copy)]
pub struct AnalyzeOptions<'a> {
    /// Also split every metric by this exposure attribute.
    pub segment: Option<&'a str>,
    /// Also compute the primary metric's daily cumulative series (one more query, about a
    /// third of the scorecard's time); off, `cumulative` is empty.
    pub series: bool,
    /// Whether a running trial's kept unit rows are used (and kept); see `unit_state`.
    pub kept: KeptUnits,
}

impl Default for AnalyzeOptions<'_> {
    fn default() -> Self {
        AnalyzeOptions {
            segment: None,
            series: true,
            kept: KeptUnits::default(),
        }
    }
}

impl Store {
    /// The scorecard of experiment `key` as of now. A stopped experiment is analysed over
    /// its window, up to when it stopped; its frozen scorecard is [`Store::frozen_results`].
    pub fn analyze(&self, key: &str, options: &AnalyzeOptions<'_>) -> StoreResult<Scorecard> {
        let experiment = self.get_experiment(key)?;
        self.analyze_experiment(&experiment, crate::time::now(), options)
    }

    /// What `GET /v1/experiments/{key}/results` answers: the frozen scorecard of a stopped
    /// experiment, else the scorecard as of now; with a segment, always computed (over the
    /// stopped experiment's final window).
    pub fn results(&self, key: &str, options: &AnalyzeOptions<'_>) -> StoreResult<serde_json::Value> {
        if options.segment.is_none() {
            if let Some(frozen) = self.frozen_json(key)? {
                return Ok(frozen);
            }
        }
        let card = self.analyze(key, options)?;
        serde_json::to_value(&card).map_err(|err| StoreError::Corrupt(format!("scorecard to JSON: {err}")))
    }

    /// The scorecard of `experiment` (as given, not as stored) as of `now`. A design's trial
    /// is analysed once per contrast besides the analysis of every arm on all units
    /// (`rctgate_analysis::contrasts`).
    pub(crate) fn analyze_experiment(
        &self,
        experiment: &Experiment,
        now: DateTime<Utc>,
        options: &AnalyzeOptions<'_>,
    ) -> StoreResult<Scorecard> {
        let specs = contrasts::contrasts(experiment.design);
        if specs.is_empty() {
            return self.analyze_arms(experiment, now, options, None);
        }
        // The series over time is the deciding contrast's (`contrasts::combine`).
        let overall = self.analyze_arms(
            experiment,
            now,
            &AnalyzeOptions {
                series: false,
                // The unit rows of one plan are kept per trial; a design's trial has several.
                kept: KeptUnits::Ignore,
                ..*options
            },
            None,
        )?;
        let exposed = contrasts::exposed_units(&overall);
        let mut analysed = Vec::with_capacity(specs.len());
        for spec in specs {
            let sub = contrasts::sub_trial(experiment, &spec);
            let series = options.series && spec.decides;
            // The deciding contrast's plan counts the whole trial's exposed units.
            let progress = spec.decides.then_some(exposed);
            let card = self.analyze_arms(
                &sub,
                now,
                &AnalyzeOptions {
                    segment: None,
                    series,
                    kept: KeptUnits::Ignore,
                },
                progress,
            )?;
            analysed.push((spec, card));
        }
        Ok(contrasts::combine(experiment, overall, analysed))
    }

    /// Keeps the unit rows of experiment `key` (`unit_state`): computes them if none are kept
    /// for its current plan, and with [`KeepRows::MissingOrStale`] refreshes kept ones with
    /// the events since, so that its next analyses cost only what arrives after. A stopped trial (its scorecard is frozen), one
    /// with several contrasts (a design's) or one without a window start keeps none.
    /// Computing them takes about as long as a scorecard: the server calls this off any
    /// request. `true` when it computed them now.
    pub fn keep_unit_rows(&self, key: &str, which: KeepRows) -> StoreResult<bool> {
        let experiment = self.get_experiment(key)?;
        if !contrasts::contrasts(experiment.design).is_empty() || experiment.status == Status::Stopped {
            return Ok(false);
        }
        let mut plan = Plan::new(
            &experiment,
            |name| self.get_metric(name).ok(),
            ExposureWindow::of(&experiment, crate::time::now()),
            None,
        )?;
        if plan.window.start.is_none() {
            return Ok(false);
        }
        let conn = self.read_connection()?;
        self.units_from_kept_rows(&conn, &mut plan, UNITS, Refresh::Keep(which), true)
    }

    /// The scorecard of every arm of `experiment` against its control, as of `now`;
    /// `planned_progress` as `rctgate_analysis::Inputs` has it.
    fn analyze_arms(
        &self,
        experiment: &Experiment,
        now: DateTime<Utc>,
        options: &AnalyzeOptions<'_>,
        planned_progress: Option<u64>,
    ) -> StoreResult<Scorecard> {
        let mut plan = Plan::new(
            experiment,
            |name| self.get_metric(name).ok(),
            ExposureWindow::of(experiment, now),
            options.segment,
        )?;
        let conn = timed("open a read connection", || self.read_connection())?;
        // The units, grouped from the exposures once and read by every query below.
        // With their scorecard values when rows are kept for the trial (segmented scorecards
        // group those rows by the segment read from their attributes).
        let kept = options.kept != KeptUnits::Ignore
            && plan.window.start.is_some()
            && timed("units (kept rows)", || {
                let mode = match options.kept {
                    KeptUnits::Keep => Refresh::WriteBack,
                    _ => Refresh::Read,
                };
                self.units_from_kept_rows(&conn, &mut plan, UNITS, mode, options.series)
            })?;
        if !kept && plan.segment.is_none() {
            timed("units", || group_units(&conn, &mut plan))?;
            if let Some(latencies) = plan.latencies_sql(&DuckDb) {
                timed("latencies", || {
                    conn.execute_batch(&format!(
                        "CREATE OR REPLACE TEMP TABLE {LATENCIES} AS {latencies}"
                    ))
                })?;
                plan.latencies_table = Some(LATENCIES.to_string());
            }
        }
        let card = self.analyze_plan(&conn, &plan, experiment, now, options, planned_progress);
        // Dropped whatever happened; the connection is this analysis' own anyway.
        let dropped = conn.execute_batch(&format!(
            "DROP TABLE IF EXISTS {UNITS}; DROP TABLE IF EXISTS {LATENCIES}; DROP TABLE IF EXISTS {SERIES}"
        ));
        let card = card?;
        dropped?;
        Ok(card)
    }

    fn analyze_plan(
        &self,
        conn: &Connection,
        plan: &Plan,
        experiment: &Experiment,
        now: DateTime<Utc>,
        options: &AnalyzeOptions<'_>,
        planned_progress: Option<u64>,
    ) -> StoreResult<Scorecard> {
        let rows = timed("scorecard sums", || arm_sums(conn, plan))?;
        let daily = if options.series {
            timed("daily series", || daily_sums(conn, plan))?
        } else {
            Vec::new()
        };
        let quantiles = timed("quantiles", || {
            (0..plan.metrics.len())
                .filter_map(|index| quantile_arms(conn, plan, index).transpose())
                .collect::<StoreResult<Vec<QuantileArms>>>()
        })?;
        let latency = timed("latency summary", || latency_summary(conn, plan))?;
        let triggers = timed("trigger rates", || trigger_counts(conn, plan))?;
        let confidence_bounds = confidence_bounds(conn, plan)?;
        let segment_triggers = segment_trigger_counts(conn, plan)?;
        // The model outputs' shape and shifts become diagnostics of the scorecard.
        let outputs = timed("output distributions", || {
            output_distributions(conn, plan, || self.references(experiment))
        })?;
        let mut card = rctgate_analysis::build(
            &Inputs {
                experiment,
                plan,
                as_of: now,
                quantiles: &quantiles,
                latency: &latency,
                output_diagnostics: &outputs.diagnostics,
                triggers: &triggers,
                confidence_bounds: &confidence_bounds,
                segment_triggers: &segment_triggers,
                planned_progress,
            },
            &rows,
            &daily,
        );
        if options.series {
            timed("novelty", || attach_novelty(conn, plan, experiment, &mut card))?;
        }
        Ok(card)
    }
}

/// The primary's effect by days since first exposure (`rctgate_analysis::novelty`), and its
/// diagnostic, when the window is long enough and the primary splits by day.
fn attach_novelty(
    conn: &Connection,
    plan: &Plan,
    experiment: &Experiment,
    card: &mut Scorecard,
) -> StoreResult<()> {
    let Some(horizon) = novelty::horizon(plan) else {
        return Ok(());
    };
    // Novelty is the trial's, not a segment's, and a segmented plan has no units table (its
    // units carry segment tokens): the unsegmented units are grouped here, once the primary
    // is known to split by day, and dropped with the others at the end of `analyze_arms`.
    let mut whole = Plan {
        segment: None,
        units_table: Some(UNITS.to_string()),
        ..plan.clone()
    };
    let Some(sql) = whole.novelty_sql(&DuckDb, horizon) else {
        return Ok(());
    };
    if plan.units_table.is_none() {
        group_units(conn, &mut whole)?;
    }
    let mut statement = conn.prepare(&sql)?;
    let rows = statement
        .query_map([], |row| {
            Ok(NoveltyRow {
                variant: usize::try_from(row.get::<_, i64>(0)?).unwrap_or(usize::MAX),
                day: row.get(1)?,
                sum: row.get::<_, Option<f64>>(2)?.unwrap_or(0.0),
                sum_squares: row.get::<_, Option<f64>>(3)?.unwrap_or(0.0),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let (novelty, diagnostic) = novelty::analyse(experiment, &whole, &rows, horizon);
    card.novelty = novelty;
    card.diagnostics.extend(diagnostic);
    Ok(())
}

/// Groups `plan`'s exposures by unit into the temporary units table its later queries read.
fn group_units(conn: &Connection, plan: &mut Plan) -> duckdb::Result<()> {
    conn.execute_batch(&format!(
        "CREATE OR REPLACE TEMP TABLE {UNITS} AS {}",
        plan.units_sql(&DuckDb)
    ))?;
    plan.units_table = Some(UNITS.to_string());
    Ok(())
}

/// The temporary table a quantile metric's values are kept in while its arms are read; one
/// per connection, and a read connection serves one analysis.
const QUANTILE_VALUES: &str = "rctgate_quantile_values";

/// The temporary table of an analysis' counted units (`Plan::units_sql`).
const UNITS: &str = "rctgate_units";

/// The temporary table of the counted units' latencies (`Plan::latencies_sql`).
const LATENCIES: &str = "rctgate_latencies";

/// The arms of metric `index` if it is a quantile: its values kept in a temporary table, then
/// each arm's count, its quantile and bounds at the ranks the count gives, and the per-unit
/// sums at that quantile.
fn quantile_arms(conn: &Connection, plan: &Plan, index: usize) -> StoreResult<Option<QuantileArms>> {
    let Some(values) = plan.quantile_values_sql(&DuckDb, index) else {
        return Ok(None);
    };
    let level = plan.metrics[index].metric.quantile.unwrap_or(0.5);
    conn.execute_batch(&format!(
        "CREATE OR REPLACE TEMP TABLE {QUANTILE_VALUES} AS {values}"
    ))?;
    let arms = read_quantile_arms(conn, plan, level);
    // Dropped whatever happened, so the next analysis on this connection starts clean.
    let dropped = conn.execute_batch(&format!("DROP TABLE IF EXISTS {QUANTILE_VALUES}"));
    let arms = arms?;
    dropped?;
    Ok(Some((index, arms)))
}

fn read_quantile_arms(conn: &Connection, plan: &Plan, level: f64) -> StoreResult<Vec<Option<QuantileArm>>> {
    let mut statement = conn.prepare(&quantile_counts_sql(QUANTILE_VALUES))?;
    let counts: Vec<(usize, u64)> = statement
        .query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))?
        .map(|row| {
            let (variant, n) = row?;
            Ok((
                usize::try_from(variant).unwrap_or(usize::MAX),
                u64::try_from(n).unwrap_or(0),
            ))
        })
        .collect::<StoreResult<_>>()?;
    let mut arms: Vec<Option<QuantileArm>> = vec![None; plan.variants.len()];
    let mut estimates = Vec::new();
    for (variant, n) in counts {
        if variant >= arms.len() || n == 0 {
            continue;
        }
        let ranks = quantile_ranks(n, level);
        let (estimate, lower, upper): (f64, f64, f64) = conn.query_row(
            &quantile_bounds_sql(&DuckDb, QUANTILE_VALUES, variant, n, ranks),
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?;
        estimates.push((variant, estimate));
        arms[variant] = Some(QuantileArm {
            n,
            estimate,
            lower,
            upper,
            units: 0,
            below_sum: 0.0,
            below_sum_squares: 0.0,
            values_sum: 0.0,
            values_sum_squares: 0.0,
            below_values_sum_product: 0.0,
        });
    }
    if estimates.is_empty() {
        return Ok(arms);
    }
    let mut statement = conn.prepare(&quantile_cluster_sql(QUANTILE_VALUES, &estimates))?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let variant = usize::try_from(row.get::<_, i64>(0)?).unwrap_or(usize::MAX);
        if let Some(Some(arm)) = arms.get_mut(variant) {
            arm.units = u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0);
            arm.below_sum = row.get(2)?;
            arm.below_sum_squares = row.get(3)?;
            arm.values_sum = row.get(4)?;
            arm.values_sum_squares = row.get(5)?;
            arm.below_values_sum_product = row.get(6)?;
        }
    }
    Ok(arms)
}

/// Each arm's model latency, in plan order of the variants; empty when no exposure carries
/// `latency_ms`.
fn latency_summary(conn: &Connection, plan: &Plan) -> StoreResult<Vec<LatencySummary>> {
    let mut statement = conn.prepare(&plan.latency_sql(&DuckDb))?;
    let mut found: Vec<LatencySummary> = statement
        .query_map([], |row| {
            Ok(LatencySummary {
                variant: row.get(0)?,
                requests: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                mean: row.get(2)?,
                p50: row.get(3)?,
                p95: row.get(4)?,
                p99: row.get(5)?,
                std_dev: row.get(6)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    found.sort_by_key(|summary| plan.variants.iter().position(|name| *name == summary.variant));
    Ok(found)
}

/// Each model-confidence bucket's lowest and highest output (none without the units table).
fn confidence_bounds(conn: &Connection, plan: &Plan) -> StoreResult<Vec<(u8, f64, f64)>> {
    let Some(sql) = plan.confidence_bounds_sql() else {
        return Ok(Vec::new());
    };
    let mut statement = conn.prepare(&sql)?;
    let rows = statement.query_map([], |row| {
        Ok((
            u8::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
            row.get::<_, f64>(1)?,
            row.get::<_, f64>(2)?,
        ))
    })?;
    rows.collect::<Result<_, _>>().map_err(StoreError::from)
}

/// With a segment: each (variant, segment token)'s exposed, triggered and marked units.
fn segment_trigger_counts(
    conn: &Connection,
    plan: &Plan,
) -> StoreResult<Vec<(usize, Option<String>, TriggerCounts)>> {
    let Some(sql) = plan.segment_trigger_counts_sql(&DuckDb) else {
        return Ok(Vec::new());
    };
    let mut statement = conn.prepare(&sql)?;
    let count = |row: &duckdb::Row<'_>, i: usize| row.get::<_, i64>(i).map(|n| u64::try_from(n).unwrap_or(0));
    let rows = statement.query_map([], |row| {
        let variant = row
            .get::<_, Option<i64>>(0)?
            .and_then(|i| usize::try_from(i).ok());
        Ok(variant.map(|variant| {
            (
                variant,
                row.get::<_, Option<String>>(1),
                count(row, 2),
                count(row, 3),
                count(row, 4),
            )
        }))
    })?;
    let mut found = Vec::new();
    for row in rows {
        if let Some((variant, token, units, triggered, marked)) = row? {
            found.push((
                variant,
                token?,
                TriggerCounts {
                    units: units?,
                    triggered: triggered?,
                    marked: marked?,
                },
            ));
        }
    }
    Ok(found)
}

/// Each arm's exposed, triggered and marked units, in variant order (units in several arms
/// left out).
fn trigger_counts(conn: &Connection, plan: &Plan) -> StoreResult<Vec<TriggerCounts>> {
    let mut counts = vec![TriggerCounts::default(); plan.variants.len()];
    let mut statement = conn.prepare(&plan.trigger_counts_sql(&DuckDb))?;
    let mut rows = statement.query([])?;
    let count = |row: &duckdb::Row<'_>, i: usize| row.get::<_, i64>(i).map(|n| u64::try_from(n).unwrap_or(0));
    while let Some(row) = rows.next()? {
        let Some(arm) = row
            .get::<_, Option<i64>>(0)?
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| counts.get_mut(i))
        else {
            continue;
        };
        *arm = TriggerCounts {
            units: count(row, 1)?,
            triggered: count(row, 2)?,
            marked: count(row, 3)?,
        };
    }
    Ok(counts)
}

fn sums_from(row: &duckdb::Row<'_>, first: usize) -> duckdb::Result<MetricSums> {
    let mut sums = [None; COLUMNS_PER_METRIC];
    for (offset, sum) in sums.iter_mut().enumerate() {
        *sum = row.get::<_, Option<f64>>(first + offset)?;
    }
    Ok(sums)
}

/// The plan's queries carry variants as their index.
fn variant_name(plan: &Plan, index: Option<i64>) -> Option<String> {
    index
        .and_then(|i| usize::try_from(i).ok())
        .and_then(|i| plan.variants.get(i).cloned())
}

fn arm_sums(conn: &Connection, plan: &Plan) -> StoreResult<Vec<ArmSums>> {
    let sql = plan.scorecard_sql(&DuckDb);
    let mut statement = conn.prepare(&sql)?;
    let metrics = plan.metrics.len();
    let segmented = plan.segment.is_some();
    let rows = statement.query_map([], |row| {
        let token: Option<String> = row.get(1)?;
        let other: bool = row.get(2)?;
        let n: i64 = row.get(3)?;
        let mut sums = Vec::with_capacity(metrics);
        for metric in 0..metrics {
            sums.push(sums_from(row, 4 + metric * COLUMNS_PER_METRIC)?);
        }
        let variant: Option<i64> = row.get(0)?;
        let sid: i64 = row.get(4 + metrics * COLUMNS_PER_METRIC)?;
        Ok(ArmSums {
            variant: variant_name(plan, variant),
            segment: if segmented {
                SegmentKey::from_token(token.as_deref(), other)
            } else {
                SegmentKey::All
            },
            n: n.max(0) as u64,
            metrics: sums,
            bucket: if segmented {
                0
            } else {
                u8::try_from(sid).unwrap_or(0)
            },
        })
    })?;
    let mut rows: Vec<ArmSums> = rows.collect::<Result<_, _>>()?;
    if let Some((indices, sql)) = plan.latency_means_sql() {
        // Sums over no latency are 0, as the scorecard query would have summed them.
        for row in rows.iter_mut().filter(|row| row.variant.is_some()) {
            for index in &indices {
                let mut zeros = [None; COLUMNS_PER_METRIC];
                zeros.iter_mut().take(5).for_each(|sum| *sum = Some(0.0));
                row.metrics[*index] = zeros;
            }
        }
        let mut statement = conn.prepare(&sql)?;
        let mut found = statement.query([])?;
        while let Some(found) = found.next()? {
            let name = variant_name(plan, found.get::<_, Option<i64>>(0)?);
            let Some(row) = rows
                .iter_mut()
                .find(|row| row.variant.is_some() && row.variant == name)
            else {
                continue;
            };
            for (k, index) in indices.iter().enumerate() {
                let first = 1 + k * 5;
                let mut sums = [None; COLUMNS_PER_METRIC];
                for (offset, sum) in sums.iter_mut().take(5).enumerate() {
                    *sum = found.get::<_, Option<f64>>(first + offset)?;
                }
                row.metrics[*index] = sums;
            }
        }
    }
    Ok(rows)
}

fn daily_sums(conn: &Connection, plan: &Plan) -> StoreResult<Vec<DailySums>> {
    let sql = plan.daily_sql(&DuckDb);
    let mut statement = conn.prepare(&sql)?;
    let rows = statement.query_map([], |row| {
        let n: i64 = row.get(2)?;
        let variant: Option<i64> = row.get(1)?;
        Ok(DailySums {
            day_micros: row.get(0)?,
            variant: variant_name(plan, variant).unwrap_or_default(),
            n: n.max(0) as u64,
            sums: sums_from(row, 3)?,
        })
    })?;
    rows.collect::<Result<_, _>>().map_err(StoreError::from)
}
