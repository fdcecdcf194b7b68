//! Reading a query's result as the data chunks DuckDB produces, through the C API.
//!
//! duckdb-rs streams results either row by row or as Arrow batches. The Parquet import read
//! Arrow: DuckDB converted every 2,048-row chunk to Arrow (copying each string once more)
//! before the import copied the values into its own rows, about 6% of an import's CPU.
//! Here the import reads DuckDB's vectors in place: fixed-width values as slices, strings
//! from DuckDB's 16-byte `string_t`, NULLs from the validity mask.
//!
//! Chunks of a streaming result are flat (DuckDB copies each into a fresh chunk before
//! handing it out), so a column is a plain array with one entry per row.

use crate::database::{borrowed_c_string, NativeConnection};
use crate::error::{NativeError, NativeResult};
use crate::types::ColumnType;
use crate::INLINE_STRING_BYTES;
use duckdb::ffi;
use std::marker::PhantomData;

/// A streaming query result; each [`ResultStream::next_chunk`] runs the query until DuckDB
/// has the next chunk. Borrows its connection, which can run nothing else meanwhile.
pub struct ResultStream<'c> {
    result: ffi::duckdb_result,
    _connection: PhantomData<&'c mut NativeConnection>,
}

impl NativeConnection {
    /// Starts `sql` as a streaming query.
    pub fn stream(&mut self, sql: &str) -> NativeResult<ResultStream<'_>> {
        let statement = self.prepared(sql).map_err(NativeError::Query)?;
        let mut pending: ffi::duckdb_pending_result = std::ptr::null_mut();
        // SAFETY: `statement` was prepared on this connection and lives until the connection
        // drops, which the returned stream's borrow outlasts; `pending` is a valid out pointer.
        // duckdb-rs streams through this same (deprecated, still the only streaming) call.
        let state = unsafe { ffi::duckdb_pending_prepared_streaming(statement, &mut pending) };
        if state != ffi::DuckDBSuccess {
            // SAFETY: a failed pending result holds its error until destroyed, once.
            let message = unsafe {
                let message = borrowed_c_string(ffi::duckdb_pending_error(pending));
                ffi::duckdb_destroy_pending(&mut pending);
                message
            };
            return Err(NativeError::Query(message));
        }
        // SAFETY: zeroed is the documented initial state of an out-parameter result.
        let mut result: ffi::duckdb_result = unsafe { std::mem::zeroed() };
        // SAFETY: `pending` is a live pending result; it is destroyed once right after,
        // which leaves the result it produced alone.
        let state = unsafe {
            let state = ffi::duckdb_execute_pending(pending, &mut result);
            ffi::duckdb_destroy_pending(&mut pending);
            state
        };
        let stream = ResultStream {
            result,
            _connection: PhantomData,
        };
        if state != ffi::DuckDBSuccess {
            let mut failed = stream.result;
            // SAFETY: a failed result holds its error (or none: null) until `stream` drops
            // and destroys it, after the copy.
            let message = unsafe { borrowed_c_string(ffi::duckdb_result_error(&mut failed)) };
            return Err(NativeError::Query(message));
        }
        Ok(stream)
    }

    /// The first row's first column of `sql`, a BIGINT (a count); `None` when the result has
    /// no rows or the value is NULL.
    pub fn query_bigint(&mut self, sql: &str) -> NativeResult<Option<i64>> {
        let mut stream = self.stream(sql)?;
        let Some(chunk) = stream.next_chunk()? else {
            return Ok(None);
        };
        Ok(match chunk.column(0, ColumnType::BigInt)?.value(0) {
            Value::BigInt(value) => Some(value),
            _ => None,
        })
    }
}

impl ResultStream<'_> {
    /// The next chunk, `None` at the end of the result.
    pub fn next_chunk(&mut self) -> NativeResult<Option<ResultChunk<'_>>> {
        // SAFETY: `result` is a live streaming result; the chunk is ours to destroy.
        let raw = unsafe { ffi::duckdb_fetch_chunk(self.result) };
        if raw.is_null() {
            // A null chunk is also how DuckDB reports a failure while producing it.
            return match self.error() {
                Some(message) => Err(NativeError::Query(message)),
                None => Ok(None),
            };
        }
        Ok(Some(ResultChunk {
            raw,
            _stream: PhantomData,
        }))
    }

    /// The result's error, if it failed.
    fn error(&self) -> Option<String> {
        let mut result = self.result;
        // SAFETY: the error string belongs to the result and is copied before it changes.
        let message = unsafe { ffi::duckdb_result_error(&mut result) };
        (!message.is_null()).then(|| {
            // SAFETY: non-null and NUL-terminated, owned by the live result.
            unsafe { borrowed_c_string(message) }
        })
    }
}

impl Drop for ResultStream<'_> {
    fn drop(&mut self) {
        // SAFETY: `result` came from `duckdb_execute_pending` and is destroyed once. A result
        // dropped before its end aborts the read-only query, which is what stopping means.
        unsafe { ffi::duckdb_destroy_result(&mut self.result) };
    }
}

/// One chunk of a [`ResultStream`]: up to 2,048 rows of every column.
pub struct ResultChunk<'s> {
    raw: ffi::duckdb_data_chunk,
    _stream: PhantomData<&'s ResultStream<'s>>,
}

impl ResultChunk<'_> {
    /// Rows in this chunk.
    pub fn len(&self) -> usize {
        // SAFETY: `raw` is a live chunk.
        usize::try_from(unsafe { ffi::duckdb_data_chunk_get_size(self.raw) }).unwrap_or(0)
    }

    /// Whether the chunk has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Column `index`, read as `expected`; an error if the column is not of that type.
    pub fn column(&self, index: usize, expected: ColumnType) -> NativeResult<Column<'_>> {
        let rows = self.len();
        // SAFETY: `raw` is a live chunk; the vector belongs to it.
        let columns = unsafe { ffi::duckdb_data_chunk_get_column_count(self.raw) };
        if index as u64 >= columns {
            return Err(NativeError::Query(format!("the result has no column {index}")));
        }
        // SAFETY: `index` is in range; the vector and its logical type (destroyed once right
        // after reading its id) belong to the live chunk.
        let (vector, actual) = unsafe {
            let vector = ffi::duckdb_data_chunk_get_vector(self.raw, index as u64);
            let mut logical = ffi::duckdb_vector_get_column_type(vector);
            let type_id = ffi::duckdb_get_type_id(logical);
            ffi::duckdb_destroy_logical_type(&mut logical);
            (vector, ColumnType::of(type_id))
        };
        if actual != Some(expected) {
            return Err(NativeError::Query(format!(
                "column {index} is not {expected:?} but DuckDB type {actual:?}"
            )));
        }
        // SAFETY: a flat vector of `rows` entries of the C type of `expected` (checked just
        // above), and a validity mask of one bit per row, or null when every row is valid;
        // both live as long as the chunk, which the returned column borrows.
        unsafe {
            let data = ffi::duckdb_vector_get_data(vector);
            let validity = ffi::duckdb_vector_get_validity(vector);
            let validity = (!validity.is_null())
                .then(|| std::slice::from_raw_parts(validity.cast_const(), rows.div_ceil(64)));
            let values = match expected {
                ColumnType::Varchar => {
                    let strings = std::slice::from_raw_parts(data.cast::<ffi::duckdb_string_t>(), rows);
                    check_utf8(strings, validity)?;
                    Values::Varchar(strings)
                }
                ColumnType::Double => Values::Double(std::slice::from_raw_parts(data.cast::<f64>(), rows)),
                // A TIMESTAMP is its microseconds since the epoch, read as `Value::BigInt`.
                ColumnType::BigInt | ColumnType::Timestamp => {
                    Values::BigInt(std::slice::from_raw_parts(data.cast::<i64>(), rows))
                }
                // Read as bytes: a Rust `bool` must be 0 or 1, and a NULL row's byte is unspecified.
                ColumnType::Boolean => Values::Boolean(std::slice::from_raw_parts(data.cast::<u8>(), rows)),
            };
            Ok(Column { values, validity })
        }
    }
}

impl Drop for ResultChunk<'_> {
    fn drop(&mut self) {
        // SAFETY: the chunk came from `duckdb_fetch_chunk` and is destroyed once.
        unsafe { ffi::duckdb_destroy_data_chunk(&mut self.raw) };
    }
}

/// One column of a [`ResultChunk`].
pub struct Column<'a> {
    values: Values<'a>,
    validity: Option<&'a [u64]>,
}

enum Values<'a> {
    Varchar(&'a [ffi::duckdb_string_t]),
    Double(&'a [f64]),
    BigInt(&'a [i64]),
    Boolean(&'a [u8]),
}

/// One value of a [`Column`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Varchar(&'a str),
    Double(f64),
    BigInt(i64),
    Boolean(bool),
}

impl<'a> Column<'a> {
    /// The value in `row`; NULL past the end.
    pub fn value(&self, row: usize) -> Value<'a> {
        if !is_valid(self.validity, row) {
            return Value::Null;
        }
        match self.values {
            Values::Varchar(values) => values.get(row).map_or(Value::Null, |value| {
                // SAFETY: `ResultChunk::column` checked every valid string of the column.
                Value::Varchar(unsafe { std::str::from_utf8_unchecked(string_bytes(value)) })
            }),
            Values::Double(values) => values.get(row).map_or(Value::Null, |value| Value::Double(*value)),
            Values::BigInt(values) => values.get(row).map_or(Value::Null, |value| Value::BigInt(*value)),
            Values::Boolean(values) => values
                .get(row)
                .map_or(Value::Null, |value| Value::Boolean(*value != 0)),
        }
    }
}

fn is_valid(validity: Option<&[u64]>, row: usize) -> bool {
    match validity {
        None => true,
        Some(words) => words
            .get(row / 64)
            .is_some_and(|word| word & (1 << (row % 64)) != 0),
    }
}

/// Checks once per chunk that every valid string is UTF-8, so reading a value need not.
/// DuckDB's VARCHARs always are (it checks what it reads); this keeps a `&str` sound
/// without trusting that.
fn check_utf8(strings: &[ffi::duckdb_string_t], validity: Option<&[u64]>) -> NativeResult<()> {
    for (row, value) in strings.iter().enumerate() {
        if !is_valid(validity, row) {
            continue;
        }
        let bytes = string_bytes(value);
        // Most values are short ASCII, checked a word at a time; `from_utf8`'s setup per
        // call was 3% of an import's CPU.
        if !bytes.is_ascii() {
            std::str::from_utf8(bytes)
                .map_err(|err| NativeError::Query(format!("a text value is not UTF-8: {err}")))?;
        }
    }
    Ok(())
}

/// The bytes of a `string_t` of a live chunk: inlined when at most 12, else behind its
/// pointer.
fn string_bytes(value: &ffi::duckdb_string_t) -> &[u8] {
    // SAFETY: both variants of the union start with the length; which one holds the bytes
    // follows from it, as DuckDB writes them; a pointer is valid for `length` bytes as long
    // as the chunk holding `value` is, which outlives the borrow of `value`.
    unsafe {
        let length = value.value.inlined.length as usize;
        if length <= INLINE_STRING_BYTES {
            std::slice::from_raw_parts(value.value.inlined.inlined.as_ptr().cast::<u8>(), length)
        } else {
            std::slice::from_raw_parts(value.value.pointer.ptr.cast_const().cast::<u8>(), length)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::NativeDatabase;

    fn connection() -> NativeConnection {
        let database = NativeDatabase::open(None, &[("threads", "1")]).expect("in-memory database");
        database.query_connection().expect("connection")
    }

    #[test]
    fn values_of_every_type_and_nulls_read_back() {
        let mut conn = connection();
        let sql = "SELECT \
            CASE WHEN i % 3 = 0 THEN NULL ELSE repeat('x', i % 20) || 'é' END AS text, \
            CASE WHEN i % 5 = 0 THEN NULL ELSE i * 2 END::DOUBLE AS number, \
            i::BIGINT AS whole, \
            CASE WHEN i % 7 = 0 THEN NULL ELSE i % 2 = 0 END AS flag \
            FROM range(5000) t(i)";
        let mut stream = conn.stream(sql).expect("query runs");
        let mut seen = 0i64;
        while let Some(chunk) = stream.next_chunk().expect("chunk") {
            let text = chunk.column(0, ColumnType::Varchar).expect("text column");
            let number = chunk.column(1, ColumnType::Double).expect("number column");
            let whole = chunk.column(2, ColumnType::BigInt).expect("whole column");
            let flag = chunk.column(3, ColumnType::Boolean).expect("flag column");
            assert!(chunk.column(0, ColumnType::Double).is_err());
            for row in 0..chunk.len() {
                let i = seen;
                assert_eq!(whole.value(row), Value::BigInt(i));
                let expected_text = "x".repeat((i % 20) as usize) + "é";
                let expected = if i % 3 == 0 {
                    Value::Null
                } else {
                    Value::Varchar(&expected_text)
                };
                assert_eq!(text.value(row), expected);
                let expected = if i % 5 == 0 {
                    Value::Null
                } else {
                    Value::Double((i * 2) as f64)
                };
                assert_eq!(number.value(row), expected);
                let expected = if i % 7 == 0 {
                    Value::Null
                } else {
                    Value::Boolean(i % 2 == 0)
                };
                assert_eq!(flag.value(row), expected);
                seen += 1;
            }
        }
        assert_eq!(seen, 5000);
    }

    #[test]
    fn a_single_bigint_reads_back() {
        let mut conn = connection();
        assert_eq!(
            conn.query_bigint("SELECT count(*)::BIGINT FROM range(4321)").ok(),
            Some(Some(4321))
        );
        assert_eq!(conn.query_bigint("SELECT NULL::BIGINT").ok(), Some(None));
        assert_eq!(conn.query_bigint("SELECT 1::BIGINT WHERE false").ok(), Some(None));
        assert!(
            conn.query_bigint("SELECT 'text'").is_err(),
            "a VARCHAR is not a BIGINT"
        );
    }

    #[test]
    fn errors_name_the_cause() {
        let mut conn = connection();
        let err = conn
            .stream("SELECT * FROM no_such_table")
            .err()
            .expect("an error");
        assert!(err.to_string().contains("no_such_table"), "{err}");
        // An error while producing rows, after the query started.
        let mut stream = conn
            .stream("SELECT CAST(CASE WHEN i < 4000 THEN '1' ELSE 'x' END AS INTEGER) FROM range(5000) t(i)")
            .expect("starts");
        let mut failed = None;
        loop {
            match stream.next_chunk() {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(err) => {
                    failed = Some(err);
                    break;
                }
            }
        }
        assert!(failed.is_some(), "a failing cast reports an error");
    }
}
