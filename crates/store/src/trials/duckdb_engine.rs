//! The file's read connection as the engine an analysis runs on
//! (`rctgate_analysis::Engine`): the plan's DuckDB SQL, its few result rows as cells, and
//! temporary tables for what the plan keeps.

use duckdb::types::ValueRef;
use duckdb::Connection;
use rctgate_analysis::{Cell, Dialect, DuckDb, Engine, EngineError, Rows};

/// A read connection of the file (one analysis at a time uses it).
pub(crate) struct DuckDbEngine<'a>(pub(crate) &'a Connection);

fn failed(err: duckdb::Error) -> EngineError {
    EngineError(err.to_string())
}

impl Engine for DuckDbEngine<'_> {
    fn dialect(&self) -> &dyn Dialect {
        &DuckDb
    }

    fn rows(&self, sql: &str) -> Result<Rows, EngineError> {
        let started = std::time::Instant::now();
        let mut statement = self.0.prepare(sql).map_err(failed)?;
        let mut rows = statement.query([]).map_err(failed)?;
        let mut found = Vec::new();
        while let Some(row) = rows.next().map_err(failed)? {
            let columns = row.as_ref().column_count();
            let cells = (0..columns)
                .map(|index| cell(row, index))
                .collect::<Result<Vec<Cell>, EngineError>>()?;
            found.push(cells);
        }
        // `RUST_LOG=rctgate_store=debug` traces a slow scorecard to its query.
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            query = sql.lines().next().unwrap_or_default(),
            "analysis query"
        );
        Ok(found)
    }

    fn keep(&self, name: &str, sql: &str) -> Result<(), EngineError> {
        self.0
            .execute_batch(&format!("CREATE OR REPLACE TEMP TABLE {name} AS {sql}"))
            .map_err(failed)
    }

    /// A table too: DuckDB keeps a million units in tens of milliseconds, and every later
    /// query then reads them without computing them again.
    fn derive(&self, name: &str, sql: &str) -> Result<(), EngineError> {
        self.keep(name, sql)
    }

    fn forget(&self, name: &str) -> Result<(), EngineError> {
        self.0
            .execute_batch(&format!("DROP TABLE IF EXISTS {name}"))
            .map_err(failed)
    }

    /// One process: there are no workers to send anything to.
    fn broadcast_limit(&self) -> Option<u64> {
        None
    }

    /// DuckDB runs each query on every core; one connection runs one query at a time.
    fn concurrent(&self) -> Option<&(dyn Engine + Sync)> {
        None
    }
}

/// Column `index` of `row` as a cell: integers of every width, floats, and through DuckDB's
/// own conversion any other number (a DECIMAL, a HUGEINT sum out of `i64`'s range).
fn cell(row: &duckdb::Row<'_>, index: usize) -> Result<Cell, EngineError> {
    Ok(match row.get_ref(index).map_err(failed)? {
        ValueRef::Null => Cell::Null,
        ValueRef::Boolean(value) => Cell::Bool(value),
        ValueRef::TinyInt(value) => Cell::Int(value.into()),
        ValueRef::SmallInt(value) => Cell::Int(value.into()),
        ValueRef::Int(value) => Cell::Int(value.into()),
        ValueRef::BigInt(value) => Cell::Int(value),
        ValueRef::UTinyInt(value) => Cell::Int(value.into()),
        ValueRef::USmallInt(value) => Cell::Int(value.into()),
        ValueRef::UInt(value) => Cell::Int(value.into()),
        ValueRef::HugeInt(value) if i64::try_from(value).is_ok() => Cell::Int(value as i64),
        ValueRef::UBigInt(value) if i64::try_from(value).is_ok() => Cell::Int(value as i64),
        ValueRef::Float(value) => Cell::Float(value.into()),
        ValueRef::Double(value) => Cell::Float(value),
        ValueRef::Text(bytes) => Cell::Text(String::from_utf8_lossy(bytes).into_owned()),
        _ => Cell::Float(row.get::<_, f64>(index).map_err(failed)?),
    })
}
