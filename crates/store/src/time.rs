//! UTC instants to and from DuckDB `TIMESTAMP` (microseconds since the epoch).
//!
//! The store binds and reads times as microsecond integers instead of relying on DuckDB's
//! time zone handling: this build has no ICU extension, and a `TIMESTAMP` column holding UTC
//! by convention is unambiguous and cheap to compare.

use crate::error::{StoreError, StoreResult};
use chrono::{DateTime, Utc};
use duckdb::types::{TimeUnit, ToSql, ToSqlOutput, ValueRef};

/// A UTC instant bound as a DuckDB `TIMESTAMP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Micros(pub i64);

impl Micros {
    pub(crate) fn of(at: DateTime<Utc>) -> Self {
        Micros(at.timestamp_micros())
    }

    pub(crate) fn now() -> Self {
        Micros::of(Utc::now())
    }
}

impl ToSql for Micros {
    fn to_sql(&self) -> duckdb::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Timestamp(
            TimeUnit::Microsecond,
            self.0,
        )))
    }
}

/// Reads microseconds (from `epoch_us(ts)`) back into an instant.
pub(crate) fn from_micros(micros: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {micros} µs is out of range")))
}

/// The current instant truncated to the microsecond precision stored, so that what is
/// returned equals what is read back later.
pub(crate) fn now() -> DateTime<Utc> {
    let micros = Utc::now().timestamp_micros();
    DateTime::from_timestamp_micros(micros).unwrap_or_else(Utc::now)
}
