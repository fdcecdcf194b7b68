//! Parquet import through DuckDB's `read_parquet`, streamed as Arrow batches.
//!
//! Each column is cast in SQL to one of four Arrow types the reader understands: text,
//! DOUBLE, BIGINT or BOOLEAN, and `ts` as microseconds when it is a timestamp column (a text
//! `ts` must be RFC 3339, as everywhere). Rows are numbered in file order (DuckDB preserves
//! insertion order by default).

use super::columns::{Cell, Columns, Role};
use super::sink::{Chunker, RowSink};
use crate::error::ImportError;
use duckdb::arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use duckdb::arrow::compute::cast;
use duckdb::arrow::datatypes::DataType;
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::Connection;
use std::path::Path;

/// A DuckDB instance of its own for reading Parquet, in memory and single-threaded.
///
/// Reading needs nothing from the store's database, and a separate instance keeps the read
/// on the reader thread: with worker threads, DuckDB's streaming results hand every 2,048-row
/// chunk between threads, which cost more (lock traffic, rescheduling) than decoding the
/// chunk on the thread that consumes it, and the store's writer needs the other core.
pub(crate) fn reader(path: &Path) -> Result<Connection, ImportError> {
    duckdb::Config::default()
        .threads(1)
        .and_then(|config| config.enable_autoload_extension(false))
        .and_then(Connection::open_in_memory_with_flags)
        .map_err(|err| ImportError::file(path, format!("Cannot start the Parquet reader: {err}.")))
}

/// Number of rows, from the file's metadata.
pub(super) fn row_count(conn: &Connection, path: &Path) -> Result<u64, ImportError> {
    let sql = format!("SELECT count(*) FROM read_parquet({})", sql_string(path)?);
    let count: i64 = conn
        .query_row(&sql, [], |row| row.get(0))
        .map_err(|err| not_parquet(path, &err))?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Reads `path` into `sink` until the file ends or `sink` says stop.
pub(super) fn read(conn: &Connection, path: &Path, sink: &mut dyn RowSink) -> Result<(), ImportError> {
    let source = sql_string(path)?;
    let described = describe(conn, &source).map_err(|err| not_parquet(path, &err))?;
    let names: Vec<String> = described.iter().map(|(name, _)| name.clone()).collect();
    let columns = Columns::from_names(names).map_err(|message| ImportError::file(path, message))?;
    let kinds: Vec<Kind> = described
        .iter()
        .zip(columns.roles())
        .map(|((_, sql_type), role)| Kind::for_column(*role, sql_type))
        .collect();
    let select: Vec<String> = described
        .iter()
        .zip(&kinds)
        .map(|((name, _), kind)| kind.select(&quote_identifier(name)))
        .collect();
    let sql = format!("SELECT {} FROM read_parquet({source})", select.join(", "));
    let mut statement = conn.prepare(&sql).map_err(|err| not_parquet(path, &err))?;
    let stream = statement
        .stream_arrow([])
        .map_err(|err| not_parquet(path, &err))?;
    let mut row_number = 0u64;
    let mut chunker = Chunker::new();
    for batch in stream {
        let batch = batch.map_err(|err| not_parquet(path, &err))?;
        let arrays = typed_columns(&batch, &kinds).map_err(|message| ImportError::file(path, message))?;
        for row in 0..batch.num_rows() {
            row_number += 1;
            sink.row(row_number, &columns, &|index| arrays[index].cell(row))?;
            if !chunker.after_row(sink, || None) {
                return Ok(());
            }
        }
    }
    chunker.finish(sink, None);
    Ok(())
}

/// How a column is selected and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Float,
    Int,
    Bool,
    /// A timestamp column, selected as microseconds since the epoch.
    Micros,
}

impl Kind {
    fn for_column(role: Role, sql_type: &str) -> Kind {
        let sql_type = sql_type.to_ascii_uppercase();
        let is_timestamp = sql_type.starts_with("TIMESTAMP") || sql_type == "DATE";
        let is_integer = matches!(
            sql_type.as_str(),
            "TINYINT" | "SMALLINT" | "INTEGER" | "BIGINT" | "UTINYINT" | "USMALLINT" | "UINTEGER"
        );
        let is_float = matches!(sql_type.as_str(), "FLOAT" | "DOUBLE" | "REAL")
            || sql_type.starts_with("DECIMAL")
            || matches!(sql_type.as_str(), "UBIGINT" | "HUGEINT" | "UHUGEINT");
        match role {
            Role::Ts if is_timestamp => Kind::Micros,
            Role::Triggered | Role::Attribute if sql_type == "BOOLEAN" => Kind::Bool,
            Role::Value | Role::ModelOutput | Role::LatencyMs if is_integer || is_float => Kind::Float,
            Role::Attribute if is_integer => Kind::Int,
            Role::Attribute if is_float => Kind::Float,
            _ => Kind::Text,
        }
    }

    fn select(self, column: &str) -> String {
        match self {
            Kind::Text => format!("CAST({column} AS VARCHAR)"),
            Kind::Float => format!("CAST({column} AS DOUBLE)"),
            Kind::Int => format!("CAST({column} AS BIGINT)"),
            Kind::Bool => format!("CAST({column} AS BOOLEAN)"),
            Kind::Micros => format!("epoch_us(CAST({column} AS TIMESTAMP))"),
        }
    }

    fn arrow_type(self) -> DataType {
        match self {
            Kind::Text => DataType::Utf8,
            Kind::Float => DataType::Float64,
            Kind::Int | Kind::Micros => DataType::Int64,
            Kind::Bool => DataType::Boolean,
        }
    }
}

/// A column of one Arrow batch, downcast once so reading a cell is a plain index.
enum TypedColumn {
    Text(StringArray),
    Float(Float64Array),
    Int(Int64Array),
    Micros(Int64Array),
    Bool(BooleanArray),
}

impl TypedColumn {
    fn cell(&self, row: usize) -> Cell<'_> {
        let array: &dyn Array = match self {
            TypedColumn::Text(array) => array,
            TypedColumn::Float(array) => array,
            TypedColumn::Int(array) | TypedColumn::Micros(array) => array,
            TypedColumn::Bool(array) => array,
        };
        if array.is_null(row) {
            return Cell::Null;
        }
        match self {
            TypedColumn::Text(array) => match array.value(row) {
                "" => Cell::Null,
                text => Cell::Text(text),
            },
            TypedColumn::Float(array) => Cell::Float(array.value(row)),
            TypedColumn::Int(array) => Cell::Int(array.value(row)),
            TypedColumn::Micros(array) => Cell::Micros(array.value(row)),
            TypedColumn::Bool(array) => Cell::Bool(array.value(row)),
        }
    }
}

fn typed_columns(chunk: &RecordBatch, kinds: &[Kind]) -> Result<Vec<TypedColumn>, String> {
    kinds
        .iter()
        .enumerate()
        .map(|(index, kind)| {
            let array: ArrayRef = cast(chunk.column(index), &kind.arrow_type())
                .map_err(|err| format!("Cannot read column {index}: {err}."))?;
            let downcast_error = || format!("Column {index} has an unexpected type.");
            let any = array.as_any();
            Ok(match kind {
                Kind::Text => TypedColumn::Text(
                    any.downcast_ref::<StringArray>()
                        .ok_or_else(downcast_error)?
                        .clone(),
                ),
                Kind::Float => TypedColumn::Float(
                    any.downcast_ref::<Float64Array>()
                        .ok_or_else(downcast_error)?
                        .clone(),
                ),
                Kind::Int => TypedColumn::Int(
                    any.downcast_ref::<Int64Array>()
                        .ok_or_else(downcast_error)?
                        .clone(),
                ),
                Kind::Micros => TypedColumn::Micros(
                    any.downcast_ref::<Int64Array>()
                        .ok_or_else(downcast_error)?
                        .clone(),
                ),
                Kind::Bool => TypedColumn::Bool(
                    any.downcast_ref::<BooleanArray>()
                        .ok_or_else(downcast_error)?
                        .clone(),
                ),
            })
        })
        .collect()
}

/// Column names and DuckDB types of the file.
fn describe(conn: &Connection, source: &str) -> duckdb::Result<Vec<(String, String)>> {
    let mut statement = conn.prepare(&format!("DESCRIBE SELECT * FROM read_parquet({source})"))?;
    let rows = statement.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
    rows.collect()
}

/// The path as a SQL string literal.
fn sql_string(path: &Path) -> Result<String, ImportError> {
    let text = path
        .to_str()
        .ok_or_else(|| ImportError::file(path, "The path is not valid UTF-8."))?;
    Ok(format!("'{}'", text.replace('\'', "''")))
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn not_parquet(path: &Path, err: &duckdb::Error) -> ImportError {
    ImportError::file(path, format!("Cannot read it as Parquet: {err}."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_cast_by_role_and_type() {
        assert_eq!(
            Kind::for_column(Role::Ts, "TIMESTAMP WITH TIME ZONE"),
            Kind::Micros
        );
        assert_eq!(Kind::for_column(Role::Ts, "VARCHAR"), Kind::Text);
        assert_eq!(Kind::for_column(Role::Value, "INTEGER"), Kind::Float);
        assert_eq!(Kind::for_column(Role::Value, "VARCHAR"), Kind::Text);
        assert_eq!(Kind::for_column(Role::Id, "BIGINT"), Kind::Text);
        assert_eq!(Kind::for_column(Role::Attribute, "BIGINT"), Kind::Int);
        assert_eq!(Kind::for_column(Role::Attribute, "BOOLEAN"), Kind::Bool);
        assert_eq!(Kind::for_column(Role::Triggered, "BOOLEAN"), Kind::Bool);
    }

    #[test]
    fn names_and_paths_are_quoted() {
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
        assert_eq!(
            sql_string(Path::new("/tmp/it's.parquet")).ok(),
            Some("'/tmp/it''s.parquet'".to_string())
        );
    }
}
