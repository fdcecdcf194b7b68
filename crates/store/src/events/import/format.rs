//! The import formats, chosen by file extension, and the reader of each.

use super::parquet_file::ParquetReader;
use super::sink::RowSink;
use super::{csv_file, json_file};
use crate::error::ImportError;
use std::path::Path;

/// The formats, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Csv,
    Json,
    Parquet,
}

impl Format {
    pub(super) fn of(path: &Path) -> Result<Format, ImportError> {
        let extension = path
            .extension()
            .and_then(|extension| extension.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("csv") => Ok(Format::Csv),
            Some("ndjson" | "jsonl" | "json") => Ok(Format::Json),
            Some("parquet" | "pq") => Ok(Format::Parquet),
            _ => Err(ImportError::file(
                path,
                "Unknown file type; name it .csv, .ndjson (or .jsonl, .json) or .parquet.",
            )),
        }
    }
}

/// Reads `path` in `format` into `sink`; Parquet needs a reader (a DuckDB instance).
pub(super) fn read_file(
    path: &Path,
    format: Format,
    parquet_reader: Option<&mut ParquetReader>,
    sink: &mut dyn RowSink,
) -> Result<(), ImportError> {
    match (format, parquet_reader) {
        (Format::Csv, _) => csv_file::read(path, sink),
        (Format::Json, _) => json_file::read(path, sink),
        (Format::Parquet, Some(reader)) => reader.read(path, sink),
        (Format::Parquet, None) => Err(ImportError::file(path, "No connection to read Parquet with.")),
    }
}
