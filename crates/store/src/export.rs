//! `rctgate export`: every table of the file as Parquet (or CSV) files, for tools that do not
//! read DuckDB's own format (pandas, Spark, a warehouse loader), or that read an older one.
//!
//! DuckDB writes the files itself (`COPY ... TO`), one per table, named after the table. The
//! export reads through [`Store::read_connection`], so it holds every acknowledged event. Key
//! hashes are left out of `api_keys`: nothing outside rctgate needs them.

use std::path::Path;

use serde::Serialize;

use crate::error::{StoreError, StoreResult};
use crate::store::Store;

/// The tables exported, and what each is selected as.
const TABLES: &[(&str, &str)] = &[
    ("exposures", "SELECT * FROM exposures"),
    ("metric_events", "SELECT * FROM metric_events"),
    ("metrics", "SELECT * FROM metrics"),
    ("experiments", "SELECT * FROM experiments"),
    ("models", "SELECT * FROM models"),
    ("model_versions", "SELECT * FROM model_versions"),
    ("promotions", "SELECT * FROM promotions"),
    ("overrides", "SELECT * FROM overrides"),
    ("alias_syncs", "SELECT * FROM alias_syncs"),
    ("audit_log", "SELECT * FROM audit_log"),
    (
        "api_keys",
        "SELECT k.key_id, k.scope, k.created_at, k.created_by, s.name, s.expires_at, s.revoked_at, \
         s.revoked_by, s.last_used_at FROM api_keys k LEFT JOIN api_key_state s USING (key_id)",
    ),
    ("schema_version", "SELECT * FROM schema_version"),
];

/// The file format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Apache Parquet, typed columns.
    Parquet,
    /// CSV with a header line.
    Csv,
}

impl ExportFormat {
    fn extension(self) -> &'static str {
        match self {
            ExportFormat::Parquet => "parquet",
            ExportFormat::Csv => "csv",
        }
    }

    fn options(self) -> &'static str {
        match self {
            ExportFormat::Parquet => "FORMAT parquet",
            ExportFormat::Csv => "FORMAT csv, HEADER true",
        }
    }
}

/// One exported table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportedTable {
    /// The table.
    pub table: String,
    /// The file written.
    pub file: String,
    /// Its rows.
    pub rows: u64,
}

impl Store {
    /// Writes every table to `dir` (created if missing) as `<table>.<format>`; refuses a
    /// directory that already holds one of those files, so nothing is overwritten.
    pub fn export(&self, dir: &Path, format: ExportFormat) -> StoreResult<Vec<ExportedTable>> {
        std::fs::create_dir_all(dir)?;
        let files: Vec<_> = TABLES
            .iter()
            .map(|(table, _)| dir.join(format!("{table}.{}", format.extension())))
            .collect();
        if let Some(existing) = files.iter().find(|file| file.exists()) {
            return Err(StoreError::invalid(
                "DIR",
                format!(
                    "{} exists already; export to an empty directory (nothing is overwritten).",
                    existing.display()
                ),
            ));
        }
        let conn = self.read_connection()?;
        let mut exported = Vec::new();
        for ((table, select), file) in TABLES.iter().zip(&files) {
            let path = file
                .to_str()
                .ok_or_else(|| StoreError::invalid("DIR", "The directory's path must be UTF-8."))?;
            let rows = conn.execute(
                &format!(
                    "COPY ({select}) TO '{}' ({})",
                    path.replace('\'', "''"),
                    format.options()
                ),
                [],
            )?;
            exported.push(ExportedTable {
                table: (*table).to_string(),
                file: path.to_string(),
                rows: rows as u64,
            });
        }
        Ok(exported)
    }
}
