//! A trial's per-unit rows, kept in the file and refreshed from the events that arrived
//! since, so that analysing a running trial again costs its new events, not its history.
//!
//! The rows are [`Plan::unit_rows_sql`]'s: each exposed unit's variant, t0, trigger flags,
//! model output, first counted exposure's attributes (segments are read from them) and
//! scorecard values, with a number `uid`; beside them, each unit's rows of the primary's daily
//! series ([`Plan::daily_rows_sql`]). A unit's rows are a function of that unit's exposures of
//! the experiment before the window's end and of its metric events alone, so a refresh
//! recomputes exactly the units that something could have changed (the *touched* units):
//! - units with an exposure of the experiment or a metric event the plan reads inserted since
//!   the last refresh (events tables are append-only, so their `rowid` is a watermark);
//! - units with an exposure whose time lies between the last refresh's window end and this
//!   one's (an exposure dated after the end did not count then and counts now).
//!
//! Every other row is reused as it is, so the scorecard equals a full recomputation up to the
//! order in which the engine sums (tests compare at 1e-9 relative).
//!
//! The rows of one plan live in tables `unit_state_<plan id>` and `unit_series_<plan id>`;
//! `unit_states` records, per experiment, the plan id (a hash of the SQL that computes the
//! rows, which holds the metrics' definitions, the variants, the window's start and
//! `triggered_only`), the watermarks and the window end of the last refresh. A changed plan
//! starts new rows and drops the old ones; stopping the trial drops them. The server writes
//! rows, under one lock: it keeps them after the first request that found none and
//! refreshes them every few minutes ([`Refresh::Keep`], [`KeepRows`]), and writes every
//! refresh an analysis made back ([`Refresh::WriteBack`]); so does `rctgate import` on a file,
//! once, at its end (`Store::keep_open_trials`). A read-only command refreshes them in memory
//! and writes nothing ([`Refresh::Read`]).

use crate::error::StoreResult;
use crate::events::tables::last_rowid_sql;
use crate::store::Store;
use crate::trials::timing::timed;
use duckdb::{Connection, OptionalExt};
use rctgate_analysis::{Dialect, DuckDb, Plan};
use sha2::{Digest, Sha256};

/// Whether an analysis uses the unit rows kept for a trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeptUnits {
    /// Compute every unit from the events (what the kept rows are tested against).
    Ignore,
    /// Use the rows kept in the file, refreshed in memory from the events since; write
    /// nothing (read-only commands).
    #[default]
    Read,
    /// Use them and write the refreshed rows back (the server, which analyses the same
    /// running trials again and again); with none, compute from the events, and the caller
    /// keeps rows for the next time ([`Store::keep_unit_rows`], off the request).
    Keep,
}

/// Bumped when the rows' meaning changes without the SQL that computes them changing.
const ROWS_VERSION: &str = "2";

/// The temporary table of the units a refresh recomputes.
const TOUCHED: &str = "rctgate_touched_units";
/// The temporary table of their recomputed rows.
const FRESH: &str = "rctgate_fresh_units";
/// The temporary table of their recomputed daily rows.
const FRESH_SERIES: &str = "rctgate_fresh_series";
/// The temporary table of every unit's daily rows when they are read, not kept.
pub(crate) const SERIES: &str = "rctgate_series";

/// What `unit_states` records about one experiment's kept rows.
struct Kept {
    table: String,
    /// The table of the primary's daily rows per unit (`Plan::daily_rows_sql`), if kept.
    series: Option<String>,
    exposures_rowid: i64,
    events_rowid: i64,
    window_end_us: i64,
}

/// What a refresh of kept unit rows does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refresh {
    /// Refresh the kept rows in memory for this analysis; write nothing.
    Read,
    /// Refresh them for this analysis and write them back.
    WriteBack,
    /// Compute and keep them when there are none, and refresh and write back kept ones as
    /// the argument says; no analysis follows (the server, off any request).
    Keep(KeepRows),
}

/// Which unit rows [`Store::keep_unit_rows`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepRows {
    /// Only rows none are kept for (after a request that found none; one that found some
    /// has just written them back).
    Missing,
    /// Those, and kept rows refreshed with the events since (the server's timer).
    MissingOrStale,
}

/// What [`Store::keep_unit_rows`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowsKept {
    /// None were kept for the trial's plan; they are now.
    Computed,
    /// Kept rows were refreshed with the events since ([`KeepRows::MissingOrStale`]).
    Refreshed,
    /// Kept rows were there and left as they are ([`KeepRows::Missing`]).
    LeftAsKept,
    /// The trial keeps no rows: stopped, a design's, without a window start, or its events
    /// are another engine's.
    NotKept,
}

impl Store {
    /// With [`Refresh::Read`] or [`Refresh::WriteBack`]: creates the analysis' units table
    /// `units` on `conn` with every unit's scorecard values (`Plan::units_from_rows_sql`),
    /// from the rows kept for `plan` refreshed with the events since, and points `plan` at
    /// it; with `series`, at the daily series' rows too. `false` (and `plan` unchanged) when
    /// nothing is kept for the plan. With [`Refresh::Keep`]: computes and keeps the rows when
    /// there are none (`true` then), else refreshes them if asked (`false`). One transaction on `conn`, so the watermarks and the rows are of one
    /// snapshot, and kept rows are never half-written.
    pub(crate) fn units_from_kept_rows(
        &self,
        conn: &Connection,
        plan: &mut Plan,
        units: &str,
        mode: Refresh,
        series: bool,
    ) -> StoreResult<bool> {
        // Kept rows are written by one refresh at a time: two would conflict on the same rows.
        let _writing = (mode != Refresh::Read).then(|| self.kept_units_lock());
        // duckdb's transaction, as the store's other writes use: it rolls back when dropped
        // uncommitted, on an error or a panic alike.
        let tx = conn.unchecked_transaction()?;
        let result = refresh(&tx, plan, units, mode, series);
        let ended = match &result {
            Ok(_) => tx.commit(),
            Err(_) => tx.rollback(),
        };
        let dropped = conn.execute_batch(&format!(
            "DROP TABLE IF EXISTS {TOUCHED}; DROP TABLE IF EXISTS {FRESH}; DROP TABLE IF EXISTS {FRESH_SERIES}"
        ));
        let found = result?;
        ended?;
        dropped?;
        Ok(found)
    }
}

fn refresh(
    conn: &Connection,
    plan: &mut Plan,
    units: &str,
    mode: Refresh,
    series: bool,
) -> StoreResult<bool> {
    let id = plan_id(plan);
    let kept = timed("kept rows: found", || find(conn, &plan.experiment, &id))?;
    match (&kept, mode) {
        (None, Refresh::Read | Refresh::WriteBack) | (Some(_), Refresh::Keep(KeepRows::Missing)) => {
            return Ok(false);
        }
        _ => {}
    }
    let (exposures_rowid, events_rowid): (i64, i64) = timed("kept rows: watermarks", || {
        conn.query_row(
            &format!(
                "SELECT ({}), ({})",
                last_rowid_sql("exposures"),
                last_rowid_sql("metric_events")
            ),
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
    })?;
    let end_us = plan.window.end.timestamp_micros();
    if let Some(kept) = &kept {
        timed("kept rows: touched units", || {
            conn.execute_batch(&format!(
                "CREATE OR REPLACE TEMP TABLE {TOUCHED} AS {}",
                touched_sql(plan, kept, end_us)
            ))
        })?;
    }
    // Each row keeps its number (`uid`, which the analysis' per-unit queries group by):
    // recomputed rows take numbers above every kept one, so numbering the kept rows again,
    // a window over all of them, is never needed.
    let numbered = match &kept {
        Some(kept) => conn.query_row(
            &format!("SELECT coalesce(max(uid), 0) FROM {}", kept.table),
            [],
            |row| row.get::<_, i64>(0),
        )?,
        None => 0,
    };
    timed("kept rows: their unit rows", || {
        conn.execute_batch(&format!(
            "CREATE OR REPLACE TEMP TABLE {FRESH} AS
             SELECT r.*, {numbered} + row_number() OVER () AS uid FROM ({}) AS r",
            plan.unit_rows_sql(&DuckDb, kept.as_ref().map(|_| TOUCHED))
        ))
    })?;
    // The kept rows of `table` but the touched units', then the recomputed ones.
    let rows = |table: &str, fresh: &str| {
        format!(
            "SELECT k.* FROM {table} k ANTI JOIN {TOUCHED} t ON k.unit = t.unit UNION ALL SELECT * FROM {fresh}"
        )
    };
    if let (Some(kept), Refresh::Read | Refresh::WriteBack) = (&kept, mode) {
        timed("kept rows: the units table", || {
            conn.execute_batch(&format!(
                "CREATE OR REPLACE TEMP TABLE {units} AS {}",
                plan.units_from_rows_sql(&DuckDb, &rows(&kept.table, FRESH))
            ))
        })?;
        plan.units_table = Some(units.to_string());
        plan.units_carry_values = true;
    }
    // The daily rows of the recomputed units; of every unit when none are kept yet.
    let kept_series = kept.as_ref().and_then(|kept| kept.series.as_deref());
    let writes = mode != Refresh::Read;
    if writes || (series && kept_series.is_some()) {
        // Every unit's when the daily rows are not kept yet (dropped by hand).
        let source = match (&kept, kept_series) {
            (Some(kept), None) => format!("({})", rows(&kept.table, FRESH)),
            _ => FRESH.to_string(),
        };
        let daily = Plan {
            units_table: Some(source.clone()),
            ..plan.bare()
        };
        timed("kept rows: their daily rows", || {
            conn.execute_batch(&format!(
                "CREATE OR REPLACE TEMP TABLE {FRESH_SERIES} AS
                 SELECT u.unit, r.* EXCLUDE (uid) FROM ({}) AS r JOIN {source} u ON u.uid = r.uid",
                daily.daily_rows_sql(&DuckDb)
            ))
        })?;
    }
    // What the caller learns: with `Keep`, whether the rows were computed now; else whether
    // the units table is there.
    let answer = !matches!(mode, Refresh::Keep(_)) || kept.is_none();
    let series_table = format!("unit_series_{id}");
    if writes {
        let watermarks = (exposures_rowid, events_rowid, end_us);
        timed("kept rows: written back", || {
            write_back(conn, &plan.experiment, kept, &id, &series_table, watermarks)
        })?;
        // Written back in this transaction: the daily series sums the kept table itself.
        plan.series_table = (series && mode == Refresh::WriteBack).then_some(series_table);
    } else if let (true, Some(kept_series)) = (series, kept_series) {
        conn.execute_batch(&format!(
            "CREATE OR REPLACE TEMP TABLE {SERIES} AS {}",
            rows(kept_series, FRESH_SERIES)
        ))?;
        plan.series_table = Some(SERIES.to_string());
    }
    Ok(answer)
}

/// Writes the refreshed rows (`FRESH`, `FRESH_SERIES`) back into the kept tables, creating
/// them if `kept` is `None`, and the watermarks into `unit_states`.
fn write_back(
    conn: &Connection,
    key: &str,
    kept: Option<Kept>,
    id: &str,
    series_table: &str,
    (exposures_rowid, events_rowid, end_us): (i64, i64, i64),
) -> StoreResult<()> {
    let experiment = DuckDb.string_literal(key);
    match kept {
        None => {
            // Rows of an earlier plan of this experiment are of no use any more.
            drop_tables(conn, key)?;
            let table = format!("unit_state_{id}");
            conn.execute_batch(&format!(
                "DELETE FROM unit_states WHERE experiment = {experiment};
                 CREATE TABLE {table} AS SELECT * FROM {FRESH};
                 CREATE TABLE {series_table} AS SELECT * FROM {FRESH_SERIES};
                 INSERT INTO unit_states VALUES ({experiment}, '{id}', '{table}', '{series_table}',
                        {exposures_rowid}, {events_rowid}, {end_us}, now())"
            ))?;
        }
        Some(kept) => {
            let series_sql = match &kept.series {
                Some(table) => format!(
                    "DELETE FROM {table} WHERE unit IN (SELECT unit FROM {TOUCHED});
                     INSERT INTO {table} SELECT * FROM {FRESH_SERIES};"
                ),
                None => format!("CREATE TABLE {series_table} AS SELECT * FROM {FRESH_SERIES};"),
            };
            conn.execute_batch(&format!(
                "DELETE FROM {table} WHERE unit IN (SELECT unit FROM {TOUCHED});
                 INSERT INTO {table} SELECT * FROM {FRESH};
                 {series_sql}
                 UPDATE unit_states SET series_table = '{series_table}', exposures_rowid = {exposures_rowid},
                        events_rowid = {events_rowid}, window_end_us = {end_us}, refreshed_at = now()
                 WHERE experiment = {experiment}",
                table = kept.table
            ))?;
        }
    }
    Ok(())
}

/// The units whose rows may differ from the kept ones: see the module doc.
fn touched_sql(plan: &Plan, kept: &Kept, end_us: i64) -> String {
    let d = DuckDb;
    let (from, to) = (kept.window_end_us.min(end_us), kept.window_end_us.max(end_us));
    let events: Vec<String> = plan
        .metric_event_names()
        .iter()
        .map(|name| d.string_literal(name))
        .collect();
    let events = if events.is_empty() {
        String::new()
    } else {
        format!(
            " UNION ALL SELECT unit FROM metric_events WHERE rowid > {} AND event IN ({})",
            kept.events_rowid,
            events.join(", ")
        )
    };
    format!(
        "SELECT DISTINCT unit FROM (
  SELECT unit FROM exposures WHERE experiment = {experiment}
    AND (rowid > {exposures_rowid} OR (ts >= {from} AND ts < {to})){events}
) AS touched",
        experiment = d.string_literal(&plan.experiment),
        exposures_rowid = kept.exposures_rowid,
        from = d.timestamp_literal(from),
        to = d.timestamp_literal(to),
    )
}

/// The plan's id: a hash of the SQL computing its rows, at a fixed window end (the end moves
/// with every refresh of a running trial; the rows do not depend on it but through which
/// exposures count, which the refresh follows).
fn plan_id(plan: &Plan) -> String {
    let fixed = Plan {
        window: rctgate_analysis::ExposureWindow {
            start: plan.window.start,
            end: chrono::DateTime::UNIX_EPOCH,
        },
        ..plan.bare()
    };
    let mut hasher = Sha256::new();
    hasher.update(ROWS_VERSION.as_bytes());
    hasher.update(fixed.unit_rows_sql(&DuckDb, None).as_bytes());
    hasher.update(fixed.daily_rows_sql(&DuckDb).as_bytes());
    hex::encode(&hasher.finalize()[..8])
}

fn find(conn: &Connection, experiment: &str, id: &str) -> StoreResult<Option<Kept>> {
    let kept = conn
        .query_row(
            "SELECT table_name, series_table, exposures_rowid, events_rowid, window_end_us \
             FROM unit_states WHERE experiment = ? AND plan = ?",
            duckdb::params![experiment, id],
            |row| {
                Ok(Kept {
                    table: row.get(0)?,
                    series: row.get(1)?,
                    exposures_rowid: row.get(2)?,
                    events_rowid: row.get(3)?,
                    window_end_us: row.get(4)?,
                })
            },
        )
        .optional()?;
    // Tables dropped by hand (the docs say they may be) are computed again.
    let exists = |table: &str| -> StoreResult<bool> {
        let count: i64 = conn.query_row(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?",
            [table],
            |row| row.get(0),
        )?;
        Ok(count > 0)
    };
    match kept {
        Some(kept) if exists(&kept.table)? => {
            let series = match kept.series {
                Some(series) if exists(&series)? => Some(series),
                _ => None,
            };
            Ok(Some(Kept { series, ..kept }))
        }
        _ => Ok(None),
    }
}

/// Drops every table kept for `experiment`.
fn drop_tables(conn: &Connection, experiment: &str) -> StoreResult<()> {
    let mut statement =
        conn.prepare("SELECT table_name, series_table FROM unit_states WHERE experiment = ?")?;
    let tables = statement
        .query_map([experiment], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (table, series) in tables {
        conn.execute_batch(&format!("DROP TABLE IF EXISTS {table}"))?;
        if let Some(series) = series {
            conn.execute_batch(&format!("DROP TABLE IF EXISTS {series}"))?;
        }
    }
    Ok(())
}

/// Drops the rows kept for `experiment` (it stopped: its scorecard is frozen).
pub(crate) fn forget(conn: &Connection, experiment: &str) -> StoreResult<()> {
    drop_tables(conn, experiment)?;
    conn.execute("DELETE FROM unit_states WHERE experiment = ?", [experiment])?;
    Ok(())
}
