//! `rctgate export --format parquet|csv DIR [--db PATH]`: every table of a database file as
//! one file per table, for tools that do not read DuckDB's format (or not this version of it).
//!
//! It reads the file directly, so stop the server first (DuckDB lets one process open a file
//! for writing), or export a copy.

use std::path::PathBuf;

use clap::ValueEnum;
use rctgate_store::ExportFormat;

use crate::failure::Failure;

#[derive(clap::Args)]
pub struct Args {
    /// The directory to write (created if missing; no file in it is overwritten).
    dir: PathBuf,
    /// parquet (typed columns) or csv (with a header line).
    #[arg(long, value_enum)]
    format: FormatArg,
    /// The database file.
    #[arg(long, default_value = "rctgate.duckdb")]
    db: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Parquet,
    Csv,
}

pub fn run(args: Args) -> Result<(), Failure> {
    if !args.db.exists() {
        return Err(Failure::input(format!(
            "--db {} does not exist; name the database file to export.",
            args.db.display()
        )));
    }
    let format = match args.format {
        FormatArg::Parquet => ExportFormat::Parquet,
        FormatArg::Csv => ExportFormat::Csv,
    };
    let store = crate::commands::open_store(&args.db)?;
    let tables = store
        .export(&args.dir, format)
        .map_err(|e| Failure::input(e.to_string()))?;
    let rows: Vec<[String; 3]> = std::iter::once(["table", "rows", "file"].map(str::to_string))
        .chain(
            tables
                .iter()
                .map(|t| [t.table.clone(), t.rows.to_string(), t.file.clone()]),
        )
        .collect();
    print!("{}", crate::commands::columns(rows));
    Ok(())
}
