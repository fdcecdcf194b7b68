//! The column types data chunks are written and read as.

use duckdb::core::{LogicalTypeHandle, LogicalTypeId};
use duckdb::ffi;

/// A DuckDB column type this crate writes or reads, with the C type of its values:
/// `Varchar` as DuckDB's 16-byte `string_t`, `Double` as `f64`, `BigInt` and `Timestamp`
/// (microseconds since the epoch) as `i64`, `Boolean` as one byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Varchar,
    Double,
    BigInt,
    Timestamp,
    Boolean,
}

impl ColumnType {
    pub(crate) fn id(self) -> LogicalTypeId {
        match self {
            ColumnType::Varchar => LogicalTypeId::Varchar,
            ColumnType::Double => LogicalTypeId::Double,
            ColumnType::BigInt => LogicalTypeId::Bigint,
            ColumnType::Timestamp => LogicalTypeId::Timestamp,
            ColumnType::Boolean => LogicalTypeId::Boolean,
        }
    }

    pub(crate) fn handle(self) -> LogicalTypeHandle {
        LogicalTypeHandle::from(self.id())
    }

    /// The type of a raw DuckDB type id, if it is one of these.
    pub(crate) fn of(type_id: ffi::duckdb_type) -> Option<ColumnType> {
        match type_id {
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_VARCHAR => Some(ColumnType::Varchar),
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_DOUBLE => Some(ColumnType::Double),
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_BIGINT => Some(ColumnType::BigInt),
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_TIMESTAMP => Some(ColumnType::Timestamp),
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_BOOLEAN => Some(ColumnType::Boolean),
            _ => None,
        }
    }
}
