//! Parquet import through DuckDB's `read_parquet`, read as DuckDB's own data chunks
//! (`rctgate_duckdb_native::ResultStream`).
//!
//! Each column is cast in SQL to one of four types the reader understands: VARCHAR, DOUBLE,
//! BIGINT or BOOLEAN, and `ts` as microseconds when it is a timestamp column (a text `ts`
//! must be RFC 3339, as everywhere). Rows are numbered in file order (DuckDB preserves
//! insertion order by default).

use super::columns::{Cell, Columns, Role};
use super::sink::{Chunker, RowSink};
use crate::error::ImportError;
use rctgate_duckdb_native::{Column, ColumnType, NativeConnection, NativeDatabase, NativeError, Value};
use std::path::Path;

/// A DuckDB instance of its own for reading Parquet, in memory and single-threaded.
///
/// Reading needs nothing from the store's database, and a separate instance keeps the read
/// on the reader thread: with worker threads, DuckDB's streaming results hand every 2,048-row
/// chunk between threads, which cost more (lock traffic, rescheduling) than decoding the
/// chunk on the thread that consumes it, and the store's writer needs the other core.
pub(crate) struct ParquetReader {
    conn: NativeConnection,
}

/// Opens a reader for `path` (which names the file in errors).
pub(crate) fn reader(path: &Path) -> Result<ParquetReader, ImportError> {
    NativeDatabase::open(None, &[("threads", "1"), ("autoload_known_extensions", "false")])
        .and_then(|database| database.query_connection())
        .map(|conn| ParquetReader { conn })
        .map_err(|err| ImportError::file(path, format!("Cannot start the Parquet reader: {err}.")))
}

impl ParquetReader {
    /// Number of rows, from the file's metadata.
    pub(super) fn row_count(&mut self, path: &Path) -> Result<u64, ImportError> {
        let sql = format!("SELECT count(*)::BIGINT FROM read_parquet({})", sql_string(path)?);
        let count = self
            .conn
            .query_bigint(&sql)
            .map_err(|err| not_parquet(path, &err))?;
        // count(*) always has one row; only the progress bar's total depends on it.
        Ok(count.and_then(|count| u64::try_from(count).ok()).unwrap_or(0))
    }

    /// Reads `path` into `sink` until the file ends or `sink` says stop.
    pub(super) fn read(&mut self, path: &Path, sink: &mut dyn RowSink) -> Result<(), ImportError> {
        let source = sql_string(path)?;
        let described = self.describe(&source).map_err(|err| not_parquet(path, &err))?;
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
        let mut stream = self.conn.stream(&sql).map_err(|err| not_parquet(path, &err))?;
        let mut row_number = 0u64;
        let mut chunker = Chunker::new();
        while let Some(chunk) = stream.next_chunk().map_err(|err| not_parquet(path, &err))? {
            let chunk_columns = kinds
                .iter()
                .enumerate()
                .map(|(index, kind)| chunk.column(index, kind.column_type()))
                .collect::<Result<Vec<Column<'_>>, NativeError>>()
                .map_err(|err| not_parquet(path, &err))?;
            for row in 0..chunk.len() {
                row_number += 1;
                let cell = |index: usize| match chunk_columns.get(index) {
                    Some(column) => cell(column.value(row), kinds[index]),
                    None => Cell::Null,
                };
                sink.row(row_number, &columns, &cell)?;
                if !chunker.after_row(sink, || None) {
                    return Ok(());
                }
            }
        }
        chunker.finish(sink, None);
        Ok(())
    }

    /// Column names and DuckDB types of the file.
    fn describe(&mut self, source: &str) -> Result<Vec<(String, String)>, NativeError> {
        let sql = format!(
            "SELECT column_name::VARCHAR, column_type::VARCHAR \
             FROM (DESCRIBE SELECT * FROM read_parquet({source}))"
        );
        let mut stream = self.conn.stream(&sql)?;
        let mut described = Vec::new();
        while let Some(chunk) = stream.next_chunk()? {
            let (names, types) = (
                chunk.column(0, ColumnType::Varchar)?,
                chunk.column(1, ColumnType::Varchar)?,
            );
            for row in 0..chunk.len() {
                if let (Value::Varchar(name), Value::Varchar(sql_type)) = (names.value(row), types.value(row))
                {
                    described.push((name.to_string(), sql_type.to_string()));
                }
            }
        }
        Ok(described)
    }
}

/// The cell a value of a column of `kind` is: empty text is no value, as in CSV.
fn cell(value: Value<'_>, kind: Kind) -> Cell<'_> {
    match (value, kind) {
        (Value::Null | Value::Varchar(""), _) => Cell::Null,
        (Value::Varchar(text), _) => Cell::Text(text),
        (Value::Double(number), _) => Cell::Float(number),
        (Value::BigInt(micros), Kind::Micros) => Cell::Micros(micros),
        (Value::BigInt(number), _) => Cell::Int(number),
        (Value::Boolean(flag), _) => Cell::Bool(flag),
    }
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

    fn column_type(self) -> ColumnType {
        match self {
            Kind::Text => ColumnType::Varchar,
            Kind::Float => ColumnType::Double,
            Kind::Int | Kind::Micros => ColumnType::BigInt,
            Kind::Bool => ColumnType::Boolean,
        }
    }
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

fn not_parquet(path: &Path, err: &NativeError) -> ImportError {
    // DuckDB's first line says what is wrong; the lines after it quote our SQL.
    let message = match err {
        NativeError::Query(message) => message.lines().next().unwrap_or_default().to_string(),
        other => other.to_string(),
    };
    ImportError::file(path, format!("Cannot read it as Parquet: {message}."))
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
