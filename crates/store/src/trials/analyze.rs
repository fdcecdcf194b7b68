//! Running an experiment's analysis plan on the DuckDB file: the plan on the file's read
//! connection as an engine (`duckdb_engine`), run by `rctgate_analysis::execute` (the same
//! code that runs it on Spark), with the trial's kept unit rows when there are some.
//!
//! Queries run on a separate read connection, so ingestion is never blocked by an analysis.
//! Only per-variant (and per-segment, per-day) sums come back.

use crate::error::{StoreError, StoreResult};
use crate::store::Store;
use crate::trials::duckdb_engine::DuckDbEngine;
use crate::trials::timing::timed;
use crate::trials::unit_state::{KeepRows, KeptUnits, Refresh, RowsKept, SERIES};
use chrono::{DateTime, Utc};
use rctgate_analysis::execute::{self, Run};
use rctgate_analysis::{contrasts, Engine};
use rctgate_analysis::{ExposureWindow, Plan, Scorecard};
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

    /// The scorecard of experiment `key` as of now, its events read by `engine` (Spark, say)
    /// instead of the file; the experiment and its metrics still come from the file.
    pub fn analyze_on(
        &self,
        engine: &dyn Engine,
        key: &str,
        options: &AnalyzeOptions<'_>,
    ) -> StoreResult<Scorecard> {
        let experiment = self.get_experiment(key)?;
        self.analyze_experiment_on(&experiment, crate::time::now(), options, Some(engine))
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
        match self.events_engine() {
            Some(open) => {
                let engine = open().map_err(StoreError::Query)?;
                self.analyze_experiment_on(experiment, now, options, Some(&*engine))
            }
            None => self.analyze_experiment_on(experiment, now, options, None),
        }
    }

    /// [`Store::analyze_experiment`] on `engine`, or on the file (with its kept unit rows)
    /// when `None`.
    fn analyze_experiment_on(
        &self,
        experiment: &Experiment,
        now: DateTime<Utc>,
        options: &AnalyzeOptions<'_>,
        engine: Option<&dyn Engine>,
    ) -> StoreResult<Scorecard> {
        let specs = contrasts::contrasts(experiment.design);
        if specs.is_empty() {
            return self.analyze_arms(experiment, now, options, None, engine);
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
            engine,
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
                engine,
            )?;
            analysed.push((spec, card));
        }
        Ok(contrasts::combine(experiment, overall, analysed))
    }

    /// Keeps the unit rows of experiment `key` (`unit_state`): computes them if none are kept
    /// for its current plan, and with [`KeepRows::MissingOrStale`] refreshes kept ones with
    /// the events since, so that its next analyses cost only what arrives after. A stopped
    /// trial (its scorecard is frozen), one with several contrasts (a design's) or one
    /// without a window start keeps none. Computing them takes about as long as a
    /// scorecard: the server calls this off any request.
    pub fn keep_unit_rows(&self, key: &str, which: KeepRows) -> StoreResult<RowsKept> {
        if self.events_engine().is_some() {
            // The events are another engine's; the rows would be the file's.
            return Ok(RowsKept::NotKept);
        }
        let experiment = self.get_experiment(key)?;
        if !contrasts::contrasts(experiment.design).is_empty() || experiment.status == Status::Stopped {
            return Ok(RowsKept::NotKept);
        }
        let mut plan = Plan::new(
            &experiment,
            |name| self.get_metric(name).ok(),
            ExposureWindow::of(&experiment, crate::time::now()),
            None,
        )?;
        if plan.window.start.is_none() {
            return Ok(RowsKept::NotKept);
        }
        let conn = self.read_connection()?;
        let computed =
            self.units_from_kept_rows(&conn, &mut plan, execute::UNITS, Refresh::Keep(which), true)?;
        Ok(match (computed, which) {
            (true, _) => RowsKept::Computed,
            (false, KeepRows::MissingOrStale) => RowsKept::Refreshed,
            (false, KeepRows::Missing) => RowsKept::LeftAsKept,
        })
    }

    /// Keeps the unit rows of every trial not stopped ([`Store::keep_unit_rows`] with
    /// [`KeepRows::MissingOrStale`]), as the server's timer does for running ones: after
    /// `rctgate import`, so that the next analysis of a trial it fed (running, or a draft
    /// analysed over past events) reads its rows instead of every event. The number of
    /// trials whose rows were computed or refreshed.
    pub fn keep_open_trials(&self) -> StoreResult<usize> {
        let mut kept = 0;
        for experiment in self.list_experiments()? {
            if experiment.status != Status::Stopped
                && self.keep_unit_rows(&experiment.key, KeepRows::MissingOrStale)? != RowsKept::NotKept
            {
                kept += 1;
            }
        }
        Ok(kept)
    }

    /// The scorecard of every arm of `experiment` against its control, as of `now`;
    /// `planned_progress` as `rctgate_analysis::Inputs` has it. On the file unless `engine`
    /// is given (the file's kept unit rows serve only the file).
    fn analyze_arms(
        &self,
        experiment: &Experiment,
        now: DateTime<Utc>,
        options: &AnalyzeOptions<'_>,
        planned_progress: Option<u64>,
        engine: Option<&dyn Engine>,
    ) -> StoreResult<Scorecard> {
        let mut plan = Plan::new(
            experiment,
            |name| self.get_metric(name).ok(),
            ExposureWindow::of(experiment, now),
            options.segment,
        )?;
        let run = Run {
            experiment,
            now,
            series: options.series,
            planned_progress,
            references: || self.references(experiment),
        };
        if let Some(engine) = engine {
            let group = plan.segment.is_none();
            return run_plan(engine, &mut plan, group, run);
        }
        let conn = timed("open a read connection", || self.read_connection())?;
        let engine = DuckDbEngine(&conn);
        // The units with their scorecard values when rows are kept for the trial (segmented
        // scorecards group those rows by the segment read from their attributes).
        let kept = options.kept != KeptUnits::Ignore
            && plan.window.start.is_some()
            && timed("units (kept rows)", || {
                let mode = match options.kept {
                    KeptUnits::Keep => Refresh::WriteBack,
                    _ => Refresh::Read,
                };
                self.units_from_kept_rows(&conn, &mut plan, execute::UNITS, mode, options.series)
            })?;
        let group = !kept && plan.segment.is_none();
        let card = run_plan(&engine, &mut plan, group, run);
        // The connection is this analysis' own; what it kept goes with it.
        let dropped = engine.forget(SERIES);
        let card = card?;
        dropped?;
        Ok(card)
    }
}

/// Runs `plan` on `engine`: with `group`, its units grouped once and read by every query
/// (not with a segment, whose queries group their own, nor with kept rows, which are the
/// units already), then the scorecard; what the engine kept is forgotten whatever happened.
fn run_plan(
    engine: &dyn Engine,
    plan: &mut Plan,
    group: bool,
    run: Run<'_, impl FnOnce() -> StoreResult<execute::References>>,
) -> StoreResult<Scorecard> {
    let card = timed("scorecard", || execute::scorecard(engine, plan, group, run));
    let forgotten = execute::forget_kept(engine);
    let card = card?;
    forgotten?;
    Ok(card)
}
