//! Opening a database and connecting to it through the C API.
//!
//! duckdb-rs keeps its connection handle private, so the database is opened here
//! ([`NativeDatabase`]) and duckdb-rs gets a connection to it with `Connection::open_from_raw`.
//!
//! Ownership: a [`NativeDatabase`] is shared (`Arc`) by every connection made from it and is
//! closed when the last one is dropped. DuckDB itself keeps the database alive while any
//! connection exists, so closing the handle early would be safe for queries, but duckdb-rs's
//! `try_clone` reconnects through the handle, hence the `Arc`.

use crate::error::{NativeError, NativeResult};
use duckdb::ffi;
use std::ffi::{c_char, CStr, CString};
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::Arc;

/// An open DuckDB database.
pub struct NativeDatabase {
    raw: ffi::duckdb_database,
}

// SAFETY: a DuckDB database handle may be used from any thread; DuckDB synchronizes access to
// the database internally, and the handle itself is only read after opening.
unsafe impl Send for NativeDatabase {}
// SAFETY: as above; `&NativeDatabase` only hands the pointer to thread-safe C API calls.
unsafe impl Sync for NativeDatabase {}

impl NativeDatabase {
    /// Opens (or creates) the database at `path`, in memory when `None`, with `settings`.
    pub fn open(path: Option<&Path>, settings: &[(&str, &str)]) -> NativeResult<Arc<NativeDatabase>> {
        let path = match path {
            Some(path) => path
                .to_str()
                .ok_or_else(|| NativeError::Open(format!("{} is not a UTF-8 path", path.display())))?,
            None => ":memory:",
        };
        let path = c_string(path)?;
        let config = Config::new(settings)?;
        let mut raw: ffi::duckdb_database = std::ptr::null_mut();
        let mut error: *mut c_char = std::ptr::null_mut();
        // SAFETY: all pointers are valid for the call; `error` is freed below if set.
        let state = unsafe { ffi::duckdb_open_ext(path.as_ptr(), &mut raw, config.raw, &mut error) };
        if state != ffi::DuckDBSuccess {
            let message = take_c_string(error);
            // SAFETY: a failed open may still have allocated a handle; closing null is a no-op.
            unsafe { ffi::duckdb_close(&mut raw) };
            return Err(NativeError::Open(message));
        }
        Ok(Arc::new(NativeDatabase { raw }))
    }

    /// A duckdb-rs connection to this database, which keeps the database open while it lives.
    pub fn connection(self: &Arc<Self>) -> NativeResult<SqlConnection> {
        // SAFETY: `raw` is an open database; the returned connection holds `self` (an `Arc`),
        // so the handle outlives it, and its `try_clone` hands the `Arc` on to the clone.
        let conn = unsafe { duckdb::Connection::open_from_raw(self.raw) }?;
        Ok(SqlConnection {
            conn,
            _database: Arc::clone(self),
        })
    }

    /// A connection for inserting data chunks (see [`crate::ChunkFeed`]).
    pub fn native_connection(self: &Arc<Self>) -> NativeResult<NativeConnection> {
        let mut conn = self.query_connection()?;
        // This connection runs only BEGIN, COMMIT, ROLLBACK and `chunk_feed`'s
        // `INSERT INTO t SELECT * FROM f()`, which the optimizer cannot improve; its passes
        // were about 4% of the writer's time per HTTP batch.
        conn.execute("PRAGMA disable_optimizer")?;
        Ok(conn)
    }

    /// A connection for queries read through the C API (see [`crate::ResultStream`]).
    pub fn query_connection(self: &Arc<Self>) -> NativeResult<NativeConnection> {
        let mut raw: ffi::duckdb_connection = std::ptr::null_mut();
        // SAFETY: `self.raw` is an open database and `raw` a valid out pointer.
        let state = unsafe { ffi::duckdb_connect(self.raw, &mut raw) };
        if state != ffi::DuckDBSuccess {
            return Err(NativeError::Open("cannot connect to the database".into()));
        }
        Ok(NativeConnection {
            raw,
            prepared: Vec::new(),
            _database: Arc::clone(self),
        })
    }
}

impl Drop for NativeDatabase {
    fn drop(&mut self) {
        // SAFETY: `raw` came from `duckdb_open_ext` and is closed exactly once.
        unsafe { ffi::duckdb_close(&mut self.raw) };
    }
}

/// A duckdb-rs connection made by [`NativeDatabase::connection`]; it derefs to
/// `duckdb::Connection` and keeps the database handle open for as long as it lives.
///
/// Clone it with its own [`SqlConnection::try_clone`], which the method call syntax picks
/// over duckdb-rs's: a bare `duckdb::Connection` clone reconnects through the database handle
/// and would not keep it open.
pub struct SqlConnection {
    /// Declared first so that it is dropped before the database handle.
    conn: duckdb::Connection,
    _database: Arc<NativeDatabase>,
}

impl SqlConnection {
    /// A second connection to the same database.
    pub fn try_clone(&self) -> NativeResult<SqlConnection> {
        self._database.connection()
    }
}

impl Deref for SqlConnection {
    type Target = duckdb::Connection;

    fn deref(&self) -> &duckdb::Connection {
        &self.conn
    }
}

impl DerefMut for SqlConnection {
    fn deref_mut(&mut self) -> &mut duckdb::Connection {
        &mut self.conn
    }
}

/// A connection used by one thread at a time (the store's writer), for `BEGIN`, `COMMIT` and
/// the INSERTs of [`crate::ChunkFeed`].
pub struct NativeConnection {
    raw: ffi::duckdb_connection,
    /// Statements prepared on this connection, by their SQL: the writer runs the same few
    /// for every batch, and DuckDB's parser took ~13% of an INSERT (profile of
    /// `POST /v1/events`); DuckDB still binds and plans each execution again.
    prepared: Vec<(String, ffi::duckdb_prepared_statement)>,
    _database: Arc<NativeDatabase>,
}

// SAFETY: a DuckDB connection may move between threads; it is never used by two at once
// (`&mut self` or the store's writer lock guard every use).
unsafe impl Send for NativeConnection {}

impl NativeConnection {
    /// Runs a statement that returns nothing of interest (`BEGIN`, `COMMIT`, `ROLLBACK`, the
    /// INSERTs of `chunk_feed`), prepared on first use and reused after: `sql` is one of a
    /// fixed few texts, never built from data.
    pub fn execute(&mut self, sql: &str) -> NativeResult<()> {
        let statement = self.prepared(sql).map_err(NativeError::Statement)?;
        // SAFETY: zeroed is the documented initial state of an out-parameter result.
        let mut result: ffi::duckdb_result = unsafe { std::mem::zeroed() };
        // SAFETY: `statement` was prepared on this connection and lives until `Drop`;
        // `result` is destroyed right after.
        let state = unsafe { ffi::duckdb_execute_prepared(statement, &mut result) };
        let outcome = if state == ffi::DuckDBSuccess {
            Ok(())
        } else {
            // SAFETY: the error string belongs to `result` and is copied before it is destroyed.
            let message = unsafe { borrowed_c_string(ffi::duckdb_result_error(&mut result)) };
            Err(NativeError::Statement(message))
        };
        // SAFETY: `result` was filled by `duckdb_execute_prepared` and is destroyed once.
        unsafe { ffi::duckdb_destroy_result(&mut result) };
        outcome
    }

    /// The prepared statement for `sql`, prepared the first time; the error is DuckDB's.
    pub(crate) fn prepared(&mut self, sql: &str) -> Result<ffi::duckdb_prepared_statement, String> {
        if let Some((_, statement)) = self.prepared.iter().find(|(text, _)| text == sql) {
            return Ok(*statement);
        }
        let text = CString::new(sql).map_err(|_| format!("{sql:?} contains a NUL byte"))?;
        let mut statement: ffi::duckdb_prepared_statement = std::ptr::null_mut();
        // SAFETY: `self.raw` is connected and `statement` a valid out pointer.
        let state = unsafe { ffi::duckdb_prepare(self.raw, text.as_ptr(), &mut statement) };
        if state != ffi::DuckDBSuccess {
            // SAFETY: a failed prepare still allocates the statement, which holds the error;
            // it is copied, then the statement destroyed once (destroying null is a no-op).
            let message = unsafe {
                let message = borrowed_c_string(ffi::duckdb_prepare_error(statement));
                ffi::duckdb_destroy_prepare(&mut statement);
                message
            };
            return Err(message);
        }
        self.prepared.push((sql.to_string(), statement));
        Ok(statement)
    }

    /// The C API handle, for calls duckdb-rs does not wrap (see [`crate::ChunkFeed`]).
    pub(crate) fn raw(&self) -> ffi::duckdb_connection {
        self.raw
    }
}

impl Drop for NativeConnection {
    fn drop(&mut self) {
        for (_, statement) in &mut self.prepared {
            // SAFETY: prepared on this connection, destroyed once, before it disconnects.
            unsafe { ffi::duckdb_destroy_prepare(statement) };
        }
        // SAFETY: `raw` came from `duckdb_connect` and is disconnected exactly once.
        unsafe { ffi::duckdb_disconnect(&mut self.raw) };
    }
}

/// DuckDB configuration for opening.
struct Config {
    raw: ffi::duckdb_config,
}

impl Config {
    fn new(settings: &[(&str, &str)]) -> NativeResult<Config> {
        let mut config = Config {
            raw: std::ptr::null_mut(),
        };
        // SAFETY: valid out pointer; destroyed in `Drop`.
        if unsafe { ffi::duckdb_create_config(&mut config.raw) } != ffi::DuckDBSuccess {
            return Err(NativeError::Open("cannot create a DuckDB configuration".into()));
        }
        for (name, value) in settings {
            let (name_c, value_c) = (c_string(name)?, c_string(value)?);
            // SAFETY: valid config and strings, copied by DuckDB.
            let state = unsafe { ffi::duckdb_set_config(config.raw, name_c.as_ptr(), value_c.as_ptr()) };
            if state != ffi::DuckDBSuccess {
                return Err(NativeError::Open(format!("cannot set {name} = {value}")));
            }
        }
        Ok(config)
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        // SAFETY: created by `duckdb_create_config`, destroyed once.
        unsafe { ffi::duckdb_destroy_config(&mut self.raw) };
    }
}

/// `text` as a C string; an error if it holds a NUL byte.
pub(crate) fn c_string(text: &str) -> NativeResult<CString> {
    CString::new(text).map_err(|_| NativeError::NulByte(text.to_string()))
}

/// The message for a DuckDB failure that came without one.
const UNKNOWN_ERROR: &str = "unknown DuckDB error";

/// Copies a C string DuckDB still owns (an error message); null gives [`UNKNOWN_ERROR`].
///
/// # Safety
/// `ptr` must be null or point to a NUL-terminated string valid for this call.
pub(crate) unsafe fn borrowed_c_string(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return UNKNOWN_ERROR.into();
    }
    // SAFETY: guaranteed by the caller.
    unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned()
}

/// Copies and frees a C string DuckDB allocated for us.
fn take_c_string(ptr: *mut c_char) -> String {
    if ptr.is_null() {
        return UNKNOWN_ERROR.into();
    }
    // SAFETY: DuckDB returned a NUL-terminated string that we own and free once.
    unsafe {
        let message = borrowed_c_string(ptr);
        ffi::duckdb_free(ptr.cast());
        message
    }
}
