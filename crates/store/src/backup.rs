//! `Store::backup`: a consistent copy of the whole database while it is in use.
//!
//! The copy is a DuckDB file any rctgate opens: restoring is serving it (or moving it into
//! place with the server stopped). It is written by DuckDB itself (`ATTACH` a new file, `COPY
//! FROM DATABASE` in one transaction), so it is one snapshot of every table: every event
//! acknowledged before the call (the background writer is waited for first, as for any
//! read), and metadata as of that moment. The id index and the ingest log are not copied:
//! the index is rebuilt from the tables when the copy is first served, and the log holds
//! nothing the tables do not once the writer was waited for.

use std::path::Path;

use serde::Serialize;

use crate::error::{StoreError, StoreResult};
use crate::store::Store;

/// The file a backup writes in its directory.
pub const BACKUP_FILE: &str = "rctgate.duckdb";

/// A backup written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Backup {
    /// The copy's path.
    pub file: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Events in it (exposures and metric events).
    pub events: u64,
}

impl Store {
    /// Writes a consistent copy of the database to `dir/rctgate.duckdb` (`dir` created if
    /// missing); refuses a directory that already holds one, so nothing is overwritten. A copy
    /// cut short by an error is deleted.
    pub fn backup(&self, dir: &Path) -> StoreResult<Backup> {
        std::fs::create_dir_all(dir)?;
        let file = dir.join(BACKUP_FILE);
        let path = file
            .to_str()
            .ok_or_else(|| StoreError::invalid("to", "The directory's path must be UTF-8."))?;
        if file.exists() {
            return Err(StoreError::invalid(
                "to",
                format!("{path} exists already; back up to an empty directory (nothing is overwritten)."),
            ));
        }
        let conn = self.read_connection()?;
        let source: String = conn.query_row("SELECT current_database()", [], |row| row.get(0))?;
        conn.execute_batch(&format!(
            "ATTACH '{}' AS rctgate_backup",
            path.replace('\'', "''")
        ))?;
        let copied = conn.execute_batch(&format!(
            "BEGIN TRANSACTION; COPY FROM DATABASE \"{}\" TO rctgate_backup; COMMIT",
            source.replace('"', "\"\"")
        ));
        let counted = copied.and_then(|()| {
            conn.query_row(
                "SELECT (SELECT count(*) FROM rctgate_backup.exposures) + (SELECT count(*) FROM rctgate_backup.metric_events)",
                [],
                |row| row.get::<_, i64>(0),
            )
        });
        if counted.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        let detached = conn.execute_batch("DETACH rctgate_backup");
        let events = match (counted, detached) {
            (Ok(events), Ok(())) => events,
            (Err(err), _) | (_, Err(err)) => {
                let _ = std::fs::remove_file(&file);
                let _ = std::fs::remove_file(dir.join(format!("{BACKUP_FILE}.wal")));
                return Err(err.into());
            }
        };
        Ok(Backup {
            file: path.to_string(),
            bytes: std::fs::metadata(&file)?.len(),
            events: u64::try_from(events).unwrap_or(0),
        })
    }
}
