//! The query engine an analysis runs on, as the analysis sees it: SQL in (spelled by the
//! engine's [`Dialect`]), a few rows of plain values out, and named intermediate results kept
//! for the queries after. DuckDB (the embedded file) and Spark (through Spark Connect)
//! implement it at the edges, in `rctgate-store` and `rctgate-spark`; `execute` runs a plan
//! on either, so the two engines cannot read their answers differently.
//!
//! Only sums, counts and a handful of quantiles come back, so a row of owned [`Cell`]s
//! costs nothing next to the query that produced it.

use crate::dialect::Dialect;

/// One value of a result row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl Cell {
    /// An integer; a float only when it holds an integer exactly (engines differ in the
    /// types of `sum` and `count`).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Cell::Int(value) => Some(*value),
            Cell::Float(value) if value.fract() == 0.0 && value.abs() < 9.007_199_254_740_992e15 => {
                Some(*value as i64)
            }
            _ => None,
        }
    }

    /// A number as a float (integers converted).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Float(value) => Some(*value),
            Cell::Int(value) => Some(*value as f64),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Cell::Bool(value) => Some(*value),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Cell::Text(value) => Some(value),
            _ => None,
        }
    }
}

/// A query the engine refused or could not run, in its own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineError(pub String);

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EngineError {}

/// Rows of cells, in the order of the query's select list.
pub type Rows = Vec<Vec<Cell>>;

/// An engine holding `exposures` and `metric_events` in the SPEC §6 columns.
pub trait Engine {
    /// How it spells the SQL.
    fn dialect(&self) -> &dyn Dialect;

    /// Every row of `sql`.
    fn rows(&self, sql: &str) -> Result<Rows, EngineError>;

    /// Keeps the rows of `sql` under `name` for the queries after (a temporary table, or a
    /// cached view), replacing any kept before under that name.
    fn keep(&self, name: &str, sql: &str) -> Result<(), EngineError>;

    /// Names the rows of `sql`, which reads only what was kept, under `name` for the queries
    /// after, replacing any kept before under that name: an engine may compute them on each
    /// read (a view) where that is cheaper than keeping them.
    fn derive(&self, name: &str, sql: &str) -> Result<(), EngineError>;

    /// Forgets what [`Engine::keep`] kept or [`Engine::derive`] named under `name` (nothing
    /// if there is nothing).
    fn forget(&self, name: &str) -> Result<(), EngineError>;

    /// The most kept units a join of events may send to every worker
    /// ([`crate::Dialect::broadcast_hint`]); `None` where joins are not distributed, 0 never.
    fn broadcast_limit(&self) -> Option<u64>;

    /// The engine as several threads may query at once, where queries side by side finish
    /// sooner than one after another: a distributed engine schedules one query's tasks into
    /// the slots another leaves idle (its last tasks, its planning, a one-task stage). `None`
    /// where each query already uses the whole machine (DuckDB); the analysis then runs its
    /// queries one after another.
    fn concurrent(&self) -> Option<&(dyn Engine + Sync)>;
}

/// Reading one row's cells by position, with the column's position in the error.
pub(crate) struct Row<'a>(pub(crate) &'a [Cell]);

impl<'a> Row<'a> {
    /// The first of `rows`, for the queries that answer one row; no row reads as NULLs.
    pub(crate) fn first(rows: &'a Rows) -> Row<'a> {
        Row(rows.first().map_or(&[][..], Vec::as_slice))
    }
}

impl Row<'_> {
    fn cell(&self, index: usize) -> &Cell {
        self.0.get(index).unwrap_or(&Cell::Null)
    }

    /// An integer, or an error naming the column (a NULL too).
    pub(crate) fn int(&self, index: usize) -> Result<i64, EngineError> {
        self.cell(index)
            .as_i64()
            .ok_or_else(|| unexpected(index, "an integer", self.cell(index)))
    }

    pub(crate) fn int_or_null(&self, index: usize) -> Result<Option<i64>, EngineError> {
        match self.cell(index) {
            Cell::Null => Ok(None),
            cell => cell
                .as_i64()
                .map(Some)
                .ok_or_else(|| unexpected(index, "an integer", cell)),
        }
    }

    /// A count (negative ones, which no count is, read as 0).
    pub(crate) fn count(&self, index: usize) -> Result<u64, EngineError> {
        Ok(u64::try_from(self.int(index)?).unwrap_or(0))
    }

    pub(crate) fn float(&self, index: usize) -> Result<f64, EngineError> {
        self.cell(index)
            .as_f64()
            .ok_or_else(|| unexpected(index, "a number", self.cell(index)))
    }

    pub(crate) fn float_or_null(&self, index: usize) -> Result<Option<f64>, EngineError> {
        match self.cell(index) {
            Cell::Null => Ok(None),
            cell => cell
                .as_f64()
                .map(Some)
                .ok_or_else(|| unexpected(index, "a number", cell)),
        }
    }

    pub(crate) fn boolean(&self, index: usize) -> Result<bool, EngineError> {
        self.cell(index)
            .as_bool()
            .ok_or_else(|| unexpected(index, "a boolean", self.cell(index)))
    }

    pub(crate) fn text_or_null(&self, index: usize) -> Result<Option<String>, EngineError> {
        match self.cell(index) {
            Cell::Null => Ok(None),
            Cell::Text(text) => Ok(Some(text.clone())),
            cell => Err(unexpected(index, "text", cell)),
        }
    }

    pub(crate) fn text(&self, index: usize) -> Result<String, EngineError> {
        self.text_or_null(index)?
            .ok_or_else(|| unexpected(index, "text", &Cell::Null))
    }
}

fn unexpected(index: usize, wanted: &str, found: &Cell) -> EngineError {
    EngineError(format!(
        "column {} of an analysis query holds {found:?} where {wanted} was expected",
        index + 1
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_across_the_engines_types() {
        assert_eq!(Cell::Float(3.0).as_i64(), Some(3));
        assert_eq!(Cell::Float(3.5).as_i64(), None);
        assert_eq!(Cell::Int(7).as_f64(), Some(7.0));
        assert_eq!(Cell::Text("7".into()).as_f64(), None);
        let cells = [Cell::Null, Cell::Int(-2), Cell::Text("x".into())];
        let row = Row(&cells);
        assert_eq!(row.int_or_null(0), Ok(None));
        assert_eq!(row.count(1), Ok(0));
        assert!(row.int(0).is_err_and(|e| e.0.contains("column 1")));
        assert!(row.float(2).is_err_and(|e| e.0.contains("column 3")));
        assert_eq!(row.int(9).map_err(|e| e.0.contains("column 10")), Err(true));
    }
}
