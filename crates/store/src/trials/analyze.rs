//! Running an experiment's analysis plan on the DuckDB file: the I/O half of
//! `rctgate_analysis` (which generates the SQL and builds the scorecard).
//!
//! Queries run on a separate read connection, so ingestion is never blocked by an analysis.
//! Only per-variant (and per-segment, per-day) sums come back.

use crate::error::{StoreError, StoreResult};
use crate::store::Store;
use chrono::{DateTime, Utc};
use duckdb::Connection;
use rctgate_analysis::plan::COLUMNS_PER_METRIC;
use rctgate_analysis::{
    ArmSums, DailySums, DuckDb, ExposureWindow, Inputs, MetricSums, Plan, Scorecard, SegmentKey,
};
use rctgate_domain::Experiment;

/// What to compute besides the scorecard itself.
#[derive(Debug, Clone, Copy)]
pub struct AnalyzeOptions<'a> {
    /// Also split every metric by this exposure attribute.
    pub segment: Option<&'a str>,
    /// Also compute the primary metric's daily cumulative series (one more query, about a
    /// third of the scorecard's time); off, `cumulative` is empty.
    pub series: bool,
}

impl Default for AnalyzeOptions<'_> {
    fn default() -> Self {
        AnalyzeOptions {
            segment: None,
            series: true,
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

    /// The scorecard of `experiment` (as given, not as stored) as of `now`.
    pub(crate) fn analyze_experiment(
        &self,
        experiment: &Experiment,
        now: DateTime<Utc>,
        options: &AnalyzeOptions<'_>,
    ) -> StoreResult<Scorecard> {
        let plan = Plan::new(
            experiment,
            |name| self.get_metric(name).ok(),
            ExposureWindow::of(experiment, now),
            options.segment,
        )?;
        let conn = self.read_connection()?;
        let rows = arm_sums(&conn, &plan)?;
        let daily = if options.series {
            daily_sums(&conn, &plan)?
        } else {
            Vec::new()
        };
        Ok(rctgate_analysis::build(
            &Inputs {
                experiment,
                plan: &plan,
                as_of: now,
            },
            &rows,
            &daily,
        ))
    }
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
        Ok(ArmSums {
            variant: variant_name(plan, variant),
            segment: if segmented {
                SegmentKey::from_token(token.as_deref(), other)
            } else {
                SegmentKey::All
            },
            n: n.max(0) as u64,
            metrics: sums,
        })
    })?;
    rows.collect::<Result<_, _>>().map_err(StoreError::from)
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
