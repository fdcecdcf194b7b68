//! Running a [`Plan`] on an [`Engine`]: every query of a scorecard, in order, and what each
//! returns read into the sums `build` turns into the scorecard. The same code reads DuckDB's
//! answers and Spark's.
//!
//! Intermediate results the plan reads several times (each counted unit, their latencies, a
//! quantile metric's values) are kept in the engine under the names below, and forgotten by
//! the caller ([`forget_kept`]) once the analysis is done, whatever happened.

use chrono::{DateTime, Utc};
use rctgate_domain::Experiment;

use crate::distribution::{self, ArmReference, BinCount, Distributions, Histogram};
use crate::engine::{Engine, EngineError, Row};
use crate::novelty::{self, NoveltyRow};
use crate::plan::{
    quantile_bounds_sql, quantile_cluster_sql, quantile_counts_sql, quantile_ranks, COLUMNS_PER_METRIC,
    CONFIDENCE_BUCKETS,
};
use crate::{
    ArmSums, DailySums, Inputs, LatencySummary, MetricSums, Plan, QuantileArm, QuantileArms, Scorecard,
    SegmentKey, TriggerCounts,
};

/// An analysis' units with their deciles (`Plan::units_from_exposed_sql`), named by
/// [`Engine::derive`]: a table on DuckDB, a view over [`EXPOSED_UNITS`] on Spark.
pub const UNITS: &str = "rctgate_units";
/// The kept table of every exposed unit before its model-confidence decile
/// (`Plan::exposed_units_sql`), which [`UNITS`] is computed from.
pub const EXPOSED_UNITS: &str = "rctgate_exposed_units";
/// The kept table of the counted units' latencies (`Plan::latencies_sql`).
pub const LATENCIES: &str = "rctgate_latencies";
/// The kept table a quantile metric's values are in while its arms are read.
pub const QUANTILE_VALUES: &str = "rctgate_quantile_values";
/// The kept table of the primary's events joined to the counted units
/// (`Plan::primary_events_sql`), read by the daily series and the novelty split.
pub const PRIMARY_EVENTS: &str = "rctgate_primary_events";

/// Each arm's model version and its reference distribution: (variant, version, reference).
pub type References = Vec<(String, String, Histogram)>;

/// What a scorecard needs besides the plan.
pub struct Run<'a, R> {
    pub experiment: &'a Experiment,
    pub now: DateTime<Utc>,
    /// Also the primary's daily series and the novelty check.
    pub series: bool,
    /// As `Inputs::planned_progress`.
    pub planned_progress: Option<u64>,
    /// The arms' reference distributions, asked for only when there are outputs to compare
    /// (it reads the model registry).
    pub references: R,
}

/// Groups `plan`'s exposures by unit into the kept table [`UNITS`] that its later queries
/// read, and their latencies into [`LATENCIES`] when a latency metric reads them (not with a
/// segment: a segmented plan groups its units per query).
fn keep_units(engine: &dyn Engine, plan: &mut Plan) -> Result<(), EngineError> {
    let counted = keep_units_table(engine, plan)?;
    plan.units_table = Some(UNITS.to_string());
    // Where joins are distributed, few enough units go to every worker (`Plan::broadcast_units`).
    if let Some(limit) = engine.broadcast_limit().filter(|limit| *limit > 0) {
        plan.broadcast_units = counted <= limit;
    }
    if let Some(latencies) = plan.latencies_sql(engine.dialect()) {
        engine.keep(LATENCIES, &latencies)?;
        plan.latencies_table = Some(LATENCIES.to_string());
    }
    Ok(())
}

/// Names `plan`'s units [`UNITS`], in two steps: the units grouped from the exposures and
/// kept as [`EXPOSED_UNITS`], then each one's decile against edges read first, which the
/// engine may compute on each read (see [`Plan::units_from_exposed_sql`]). Returns the count
/// of counted units.
fn keep_units_table(engine: &dyn Engine, plan: &Plan) -> Result<u64, EngineError> {
    let d = engine.dialect();
    engine.keep(EXPOSED_UNITS, &plan.exposed_units_sql(d))?;
    let flags = engine.rows(&plan.decile_flags_sql(d, EXPOSED_UNITS))?;
    let flags = Row::first(&flags);
    let (any_marked, counted) = (flags.boolean(0)?, flags.count(1)?);
    let edges = engine.rows(&plan.decile_edges_sql(d, EXPOSED_UNITS, any_marked))?;
    let edges = Row::first(&edges);
    let edges = (0..usize::from(CONFIDENCE_BUCKETS) - 1)
        .map(|i| edges.float_or_null(i))
        .collect::<Result<Option<Vec<f64>>, EngineError>>()?;
    engine.derive(
        UNITS,
        &plan.units_from_exposed_sql(d, EXPOSED_UNITS, any_marked, edges.as_deref()),
    )?;
    Ok(counted)
}

/// Forgets every table an analysis keeps; call it once the analysis is done, whatever
/// happened. Those that read others first: an engine may keep them as views (Spark).
pub fn forget_kept(engine: &dyn Engine) -> Result<(), EngineError> {
    for name in [QUANTILE_VALUES, PRIMARY_EVENTS, LATENCIES, UNITS, EXPOSED_UNITS] {
        engine.forget(name)?;
    }
    Ok(())
}

/// The scorecard of `plan`, with everything a scorecard shows; with `group`, its units are
/// grouped and kept first (`keep_units`, which records them in `plan`) for every later
/// query to read.
///
/// Its queries fall in parts that each read only what the part kept: the model's latency and
/// outputs (the exposures alone), and after the units, the arms' sums, the primary's series
/// and the units' diagnostics. Where the engine runs queries side by side usefully
/// ([`Engine::concurrent`]), each part runs on a thread of its own, so the model's part
/// overlaps the grouping of the units; elsewhere one after another.
pub fn scorecard<E>(
    engine: &dyn Engine,
    plan: &mut Plan,
    group: bool,
    run: Run<'_, impl FnOnce() -> Result<References, E>>,
) -> Result<Scorecard, E>
where
    E: From<EngineError>,
{
    let (units, model) = match engine.concurrent() {
        Some(shared) => {
            // The model's part reads the exposures, which the units' keep does not change.
            let exposures = plan.clone();
            std::thread::scope(|scope| {
                let units = scope.spawn(|| unit_parts(shared, plan, group, run.series));
                let model = model_diagnostics(engine, &exposures, run.references);
                (joined(units), model)
            })
        }
        None => (
            unit_parts(engine, plan, group, run.series),
            model_diagnostics(engine, plan, run.references),
        ),
    };
    let (
        UnitParts {
            rows,
            series,
            diagnostics,
        },
        model,
    ) = (units?, model?);
    let plan = &*plan;
    let mut card = crate::build(
        &Inputs {
            experiment: run.experiment,
            plan,
            as_of: run.now,
            quantiles: &diagnostics.quantiles,
            latency: &model.latency,
            output_diagnostics: &model.outputs.diagnostics,
            triggers: &diagnostics.triggers,
            confidence_bounds: &diagnostics.confidence_bounds,
            segment_triggers: &diagnostics.segment_triggers,
            planned_progress: run.planned_progress,
        },
        &rows,
        &series.daily,
    );
    if let Some(novelty) = series.novelty {
        let (split, diagnostic) =
            novelty::analyse(run.experiment, &novelty.plan, &novelty.rows, novelty.horizon);
        card.novelty = split;
        card.diagnostics.extend(diagnostic);
    }
    Ok(card)
}

/// What a thread returned, its panic carried on to the caller.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// The primary's daily sums and novelty rows, when the analysis shows its series.
#[derive(Default)]
struct PrimarySeries {
    daily: Vec<DailySums>,
    novelty: Option<NoveltyRows>,
}

/// The novelty query's rows, with the plan and horizon `novelty::analyse` reads them by.
struct NoveltyRows {
    plan: Plan,
    horizon: (i64, i64),
    rows: Vec<NoveltyRow>,
}

/// The primary's series: its events joined to the units once and kept (the daily series and
/// the novelty split each read them), then both.
fn primary_series(engine: &dyn Engine, plan: &Plan, series: bool) -> Result<PrimarySeries, EngineError> {
    if !series {
        return Ok(PrimarySeries::default());
    }
    let kept_primary;
    let series_plan = match plan.primary_events_sql(engine.dialect()) {
        Some(sql) if plan.series_table.is_none() => {
            engine.keep(PRIMARY_EVENTS, &sql)?;
            kept_primary = Plan {
                primary_events_table: Some(PRIMARY_EVENTS.to_string()),
                ..plan.clone()
            };
            &kept_primary
        }
        _ => plan,
    };
    Ok(PrimarySeries {
        daily: daily_sums(engine, series_plan)?,
        novelty: novelty_rows(engine, series_plan)?,
    })
}

/// What the units' part of a scorecard reads (see [`scorecard`]).
struct UnitParts {
    rows: Vec<ArmSums>,
    series: PrimarySeries,
    diagnostics: UnitDiagnostics,
}

/// With `group`, the units kept first; then the arms' sums, the primary's series and the
/// units' diagnostics, side by side where the engine runs queries so.
fn unit_parts(
    engine: &dyn Engine,
    plan: &mut Plan,
    group: bool,
    series: bool,
) -> Result<UnitParts, EngineError> {
    if group {
        keep_units(engine, plan)?;
    }
    let plan = &*plan;
    let (rows, series, diagnostics) = match engine.concurrent() {
        Some(shared) => std::thread::scope(|scope| {
            let rows = scope.spawn(|| arm_sums(shared, plan));
            let series = scope.spawn(|| primary_series(shared, plan, series));
            let diagnostics = unit_diagnostics(shared, plan);
            (joined(rows), joined(series), diagnostics)
        }),
        None => (
            arm_sums(engine, plan),
            primary_series(engine, plan, series),
            unit_diagnostics(engine, plan),
        ),
    };
    Ok(UnitParts {
        rows: rows?,
        series: series?,
        diagnostics: diagnostics?,
    })
}

/// The diagnostics read from the units: quantile metrics' arms, trigger rates, the
/// confidence deciles' bounds.
struct UnitDiagnostics {
    quantiles: Vec<QuantileArms>,
    triggers: Vec<TriggerCounts>,
    confidence_bounds: Vec<(u8, f64, f64)>,
    segment_triggers: Vec<(usize, Option<String>, TriggerCounts)>,
}

fn unit_diagnostics(engine: &dyn Engine, plan: &Plan) -> Result<UnitDiagnostics, EngineError> {
    Ok(UnitDiagnostics {
        quantiles: (0..plan.metrics.len())
            .filter_map(|index| quantile_arms(engine, plan, index).transpose())
            .collect::<Result<Vec<QuantileArms>, EngineError>>()?,
        triggers: trigger_counts(engine, plan)?,
        confidence_bounds: confidence_bounds(engine, plan)?,
        segment_triggers: segment_trigger_counts(engine, plan)?,
    })
}

/// The diagnostics read from the exposures alone: the model's latency and its outputs.
struct ModelDiagnostics {
    latency: Vec<LatencySummary>,
    outputs: Distributions,
}

fn model_diagnostics<E>(
    engine: &dyn Engine,
    plan: &Plan,
    references: impl FnOnce() -> Result<References, E>,
) -> Result<ModelDiagnostics, E>
where
    E: From<EngineError>,
{
    let (latency, range) = model_exposures(engine, plan)?;
    Ok(ModelDiagnostics {
        latency,
        // The model outputs' shape and shifts become diagnostics of the scorecard.
        outputs: distributions_in(engine, plan, range, references)?,
    })
}

/// The rows of the primary's effect by days since first exposure (`novelty`), when the
/// window is long enough and the primary splits by day.
fn novelty_rows(engine: &dyn Engine, plan: &Plan) -> Result<Option<NoveltyRows>, EngineError> {
    let Some(horizon) = novelty::horizon(plan) else {
        return Ok(None);
    };
    // Novelty is the trial's, not a segment's, and a segmented plan has no units table (its
    // units carry segment tokens): the unsegmented units are grouped here, once the primary
    // is known to split by day, and forgotten with the others at the end of the analysis.
    let whole = Plan {
        segment: None,
        units_table: Some(UNITS.to_string()),
        ..plan.clone()
    };
    let Some(sql) = whole.novelty_sql(engine.dialect(), horizon) else {
        return Ok(None);
    };
    if plan.units_table.is_none() {
        keep_units_table(engine, &whole)?;
    }
    let rows = engine
        .rows(&sql)?
        .iter()
        .map(|cells| {
            let row = Row(cells);
            Ok(NoveltyRow {
                variant: usize::try_from(row.int(0)?).unwrap_or(usize::MAX),
                day: row.int(1)?,
                sum: row.float_or_null(2)?.unwrap_or(0.0),
                sum_squares: row.float_or_null(3)?.unwrap_or(0.0),
            })
        })
        .collect::<Result<Vec<_>, EngineError>>()?;
    Ok(Some(NoveltyRows {
        plan: whole,
        horizon,
        rows,
    }))
}

fn sums_from(row: &Row<'_>, first: usize) -> Result<MetricSums, EngineError> {
    let mut sums = [None; COLUMNS_PER_METRIC];
    for (offset, sum) in sums.iter_mut().enumerate() {
        *sum = row.float_or_null(first + offset)?;
    }
    Ok(sums)
}

/// The plan's queries carry variants as their index.
fn variant_name(plan: &Plan, index: Option<i64>) -> Option<String> {
    index
        .and_then(|i| usize::try_from(i).ok())
        .and_then(|i| plan.variants.get(i).cloned())
}

/// The scorecard query's rows: per variant and segment (or confidence bucket) sums.
pub fn arm_sums(engine: &dyn Engine, plan: &Plan) -> Result<Vec<ArmSums>, EngineError> {
    let metrics = plan.metrics.len();
    let segmented = plan.segment.is_some();
    let mut rows = engine
        .rows(&plan.scorecard_sql(engine.dialect()))?
        .iter()
        .map(|cells| {
            let row = Row(cells);
            let mut sums = Vec::with_capacity(metrics);
            for metric in 0..metrics {
                sums.push(sums_from(&row, 4 + metric * COLUMNS_PER_METRIC)?);
            }
            let sid = row.int(4 + metrics * COLUMNS_PER_METRIC)?;
            Ok(ArmSums {
                variant: variant_name(plan, row.int_or_null(0)?),
                segment: if segmented {
                    SegmentKey::from_token(row.text_or_null(1)?.as_deref(), row.boolean(2)?)
                } else {
                    SegmentKey::All
                },
                n: row.count(3)?,
                metrics: sums,
                bucket: if segmented {
                    0
                } else {
                    u8::try_from(sid).unwrap_or(0)
                },
            })
        })
        .collect::<Result<Vec<ArmSums>, EngineError>>()?;
    if let Some((indices, sql)) = plan.latency_means_sql() {
        // Sums over no latency are 0, as the scorecard query would have summed them.
        for row in rows.iter_mut().filter(|row| row.variant.is_some()) {
            for index in &indices {
                let mut zeros = [None; COLUMNS_PER_METRIC];
                zeros.iter_mut().take(5).for_each(|sum| *sum = Some(0.0));
                row.metrics[*index] = zeros;
            }
        }
        for cells in engine.rows(&sql)? {
            let found = Row(&cells);
            let name = variant_name(plan, found.int_or_null(0)?);
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
                    *sum = found.float_or_null(first + offset)?;
                }
                row.metrics[*index] = sums;
            }
        }
    }
    Ok(rows)
}

/// The primary's daily sums (`Plan::daily_sql`).
pub fn daily_sums(engine: &dyn Engine, plan: &Plan) -> Result<Vec<DailySums>, EngineError> {
    engine
        .rows(&plan.daily_sql(engine.dialect()))?
        .iter()
        .map(|cells| {
            let row = Row(cells);
            Ok(DailySums {
                day_micros: row.int(0)?,
                variant: variant_name(plan, row.int_or_null(1)?).unwrap_or_default(),
                n: row.count(2)?,
                sums: sums_from(&row, 3)?,
            })
        })
        .collect()
}

/// The arms of metric `index` if it is a quantile: its values kept, then each arm's count,
/// its quantile and bounds at the ranks the count gives, and the per-unit sums at that
/// quantile.
fn quantile_arms(
    engine: &dyn Engine,
    plan: &Plan,
    index: usize,
) -> Result<Option<QuantileArms>, EngineError> {
    let Some(values) = plan.quantile_values_sql(engine.dialect(), index) else {
        return Ok(None);
    };
    let level = plan.metrics[index].metric.quantile.unwrap_or(0.5);
    engine.keep(QUANTILE_VALUES, &values)?;
    let arms = read_quantile_arms(engine, plan, level);
    // Forgotten whatever happened, so the next metric starts clean.
    let forgotten = engine.forget(QUANTILE_VALUES);
    let arms = arms?;
    forgotten?;
    Ok(Some((index, arms)))
}

fn read_quantile_arms(
    engine: &dyn Engine,
    plan: &Plan,
    level: f64,
) -> Result<Vec<Option<QuantileArm>>, EngineError> {
    let mut arms: Vec<Option<QuantileArm>> = vec![None; plan.variants.len()];
    let mut estimates = Vec::new();
    for cells in engine.rows(&quantile_counts_sql(QUANTILE_VALUES))? {
        let row = Row(&cells);
        let variant = usize::try_from(row.int(0)?).unwrap_or(usize::MAX);
        let n = row.count(1)?;
        if variant >= arms.len() || n == 0 {
            continue;
        }
        let ranks = quantile_ranks(n, level);
        let bounds = engine.rows(&quantile_bounds_sql(
            engine.dialect(),
            QUANTILE_VALUES,
            variant,
            n,
            ranks,
        ))?;
        let bound = Row::first(&bounds);
        let estimate = bound.float(0)?;
        estimates.push((variant, estimate));
        arms[variant] = Some(QuantileArm {
            n,
            estimate,
            lower: bound.float(1)?,
            upper: bound.float(2)?,
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
    for cells in engine.rows(&quantile_cluster_sql(QUANTILE_VALUES, &estimates))? {
        let row = Row(&cells);
        let variant = usize::try_from(row.int(0)?).unwrap_or(usize::MAX);
        if let Some(Some(arm)) = arms.get_mut(variant) {
            arm.units = row.count(1)?;
            arm.below_sum = row.float(2)?;
            arm.below_sum_squares = row.float(3)?;
            arm.values_sum = row.float(4)?;
            arm.values_sum_squares = row.float(5)?;
            arm.below_values_sum_product = row.float(6)?;
        }
    }
    Ok(arms)
}

/// Each arm's model latency, in plan order of the variants (empty when no exposure carries
/// `latency_ms`), and the outputs' range over every arm, from one scan of the exposures.
fn model_exposures(
    engine: &dyn Engine,
    plan: &Plan,
) -> Result<(Vec<LatencySummary>, OutputRange), EngineError> {
    let mut latency = Vec::new();
    let mut range = OutputRange::default();
    for cells in engine.rows(&plan.model_exposures_sql(engine.dialect()))? {
        let row = Row(&cells);
        let requests = row.count(1)?;
        if requests > 0 {
            latency.push(LatencySummary {
                variant: row.text(0)?,
                requests,
                mean: row.float(2)?,
                p50: row.float(3)?,
                p95: row.float(4)?,
                p99: row.float(5)?,
                std_dev: row.float(6)?,
            });
        }
        range.add(row.count(7)?, row.float_or_null(8)?, row.float_or_null(9)?);
    }
    latency.sort_by_key(|summary| plan.variants.iter().position(|name| *name == summary.variant));
    Ok((latency, range))
}

/// The model outputs' count and range over every arm (`Plan::output_range_sql`).
#[derive(Debug, Default, Clone, Copy)]
struct OutputRange {
    n: u64,
    min: Option<f64>,
    max: Option<f64>,
}

impl OutputRange {
    fn read(engine: &dyn Engine, plan: &Plan) -> Result<OutputRange, EngineError> {
        let found = engine.rows(&plan.output_range_sql(engine.dialect()))?;
        let row = Row::first(&found);
        let mut range = OutputRange::default();
        range.add(row.count(0)?, row.float_or_null(1)?, row.float_or_null(2)?);
        Ok(range)
    }

    /// Adds one arm's count and range.
    fn add(&mut self, n: u64, min: Option<f64>, max: Option<f64>) {
        self.n += n;
        self.min = [self.min, min].into_iter().flatten().reduce(f64::min);
        self.max = [self.max, max].into_iter().flatten().reduce(f64::max);
    }
}

/// Each model-confidence bucket's lowest and highest output (none without the units table).
fn confidence_bounds(engine: &dyn Engine, plan: &Plan) -> Result<Vec<(u8, f64, f64)>, EngineError> {
    let Some(sql) = plan.confidence_bounds_sql() else {
        return Ok(Vec::new());
    };
    engine
        .rows(&sql)?
        .iter()
        .map(|cells| {
            let row = Row(cells);
            Ok((
                u8::try_from(row.int(0)?).unwrap_or(0),
                row.float(1)?,
                row.float(2)?,
            ))
        })
        .collect()
}

/// With a segment: each (variant, segment token)'s exposed, triggered and marked units.
fn segment_trigger_counts(
    engine: &dyn Engine,
    plan: &Plan,
) -> Result<Vec<(usize, Option<String>, TriggerCounts)>, EngineError> {
    let Some(sql) = plan.segment_trigger_counts_sql(engine.dialect()) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for cells in engine.rows(&sql)? {
        let row = Row(&cells);
        let Some(variant) = row.int_or_null(0)?.and_then(|i| usize::try_from(i).ok()) else {
            continue;
        };
        found.push((variant, row.text_or_null(1)?, trigger_counts_from(&row, 2)?));
    }
    Ok(found)
}

fn trigger_counts_from(row: &Row<'_>, first: usize) -> Result<TriggerCounts, EngineError> {
    Ok(TriggerCounts {
        units: row.count(first)?,
        triggered: row.count(first + 1)?,
        marked: row.count(first + 2)?,
    })
}

/// Each arm's exposed, triggered and marked units, in variant order (units in several arms
/// left out).
fn trigger_counts(engine: &dyn Engine, plan: &Plan) -> Result<Vec<TriggerCounts>, EngineError> {
    let mut counts = vec![TriggerCounts::default(); plan.variants.len()];
    for cells in engine.rows(&plan.trigger_counts_sql(engine.dialect()))? {
        let row = Row(&cells);
        let Some(arm) = row
            .int_or_null(0)?
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| counts.get_mut(i))
        else {
            continue;
        };
        *arm = trigger_counts_from(&row, 1)?;
    }
    Ok(counts)
}

/// The distributions of `plan`'s arms' model outputs; `references` gives (variant, model
/// version, reference), asked for only when there are outputs to compare.
pub fn output_distributions<E>(
    engine: &dyn Engine,
    plan: &Plan,
    references: impl FnOnce() -> Result<References, E>,
) -> Result<Distributions, E>
where
    E: From<EngineError>,
{
    let range = OutputRange::read(engine, plan)?;
    distributions_in(engine, plan, range, references)
}

/// [`output_distributions`] with the outputs' range already read.
fn distributions_in<E>(
    engine: &dyn Engine,
    plan: &Plan,
    range: OutputRange,
    references: impl FnOnce() -> Result<References, E>,
) -> Result<Distributions, E>
where
    E: From<EngineError>,
{
    let d = engine.dialect();
    let OutputRange { n, min, max } = range;
    let scores = matches!((min, max), (Some(min), Some(max)) if min >= 0.0 && max <= 1.0);
    let deciles = if n > 0 && !scores {
        let found = engine.rows(&plan.output_deciles_sql(d))?;
        let row = Row::first(&found);
        (0..9)
            .map(|i| row.float_or_null(i).map(|v| v.unwrap_or(f64::NAN)))
            .collect::<Result<Vec<f64>, EngineError>>()?
    } else {
        Vec::new()
    };
    let bins = distribution::choose_bins(n, min.unwrap_or(f64::NAN), max.unwrap_or(f64::NAN), &deciles);
    let rows = match &bins {
        Some((_, edges)) => bin_counts(engine, plan, edges)?,
        None => Vec::new(),
    };
    let registered = if bins.is_some() { references()? } else { Vec::new() };
    let mut references = Vec::with_capacity(registered.len());
    for (variant, model_version, reference) in &registered {
        let mut counts = vec![0u64; reference.counts.len()];
        for row in bin_counts(engine, plan, &reference.edges)? {
            if &row.variant == variant {
                if let Some(count) = counts.get_mut(row.bin) {
                    *count += row.n;
                }
            }
        }
        references.push(ArmReference {
            variant,
            model_version,
            reference,
            counts,
        });
    }
    Ok(distribution::analyse(
        &plan.experiment,
        &plan.variants,
        bins,
        &rows,
        &references,
    ))
}

fn bin_counts(engine: &dyn Engine, plan: &Plan, edges: &[f64]) -> Result<Vec<BinCount>, EngineError> {
    engine
        .rows(&plan.output_histogram_sql(engine.dialect(), edges))?
        .iter()
        .map(|cells| {
            let row = Row(cells);
            Ok(BinCount {
                variant: row.text(0)?,
                day_micros: row.int(1)?,
                bin: usize::try_from(row.int(2)?).unwrap_or(usize::MAX),
                n: row.count(3)?,
            })
        })
        .collect()
}
