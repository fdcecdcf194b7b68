//! `rctgate backup --to DIR [--db PATH | --server URL]`: a consistent copy of the database,
//! `DIR/rctgate.duckdb`, while it is in use. With `--server` (or `RCTGATE_SERVER`) the running
//! server writes it, on its own machine (an admin key in `RCTGATE_API_KEY`); with `--db` this
//! process does. Restoring is serving the copy: `rctgate serve --db DIR/rctgate.duckdb`, or
//! moving it over the old file with the server stopped (docs/backup.md).

use std::path::PathBuf;

use crate::failure::Failure;
use crate::target::TargetArgs;

#[derive(clap::Args)]
pub struct Args {
    /// The directory to write `rctgate.duckdb` in (created if missing; an existing copy is
    /// never overwritten). With --server, a directory on the server's machine.
    #[arg(long)]
    to: PathBuf,
    #[command(flatten)]
    target: TargetArgs,
}

pub fn run(args: Args) -> Result<(), Failure> {
    // Relative to where the command runs, not to where the server was started.
    let to = std::path::absolute(&args.to)
        .map_err(|err| Failure::input(format!("--to {}: {err}", args.to.display())))?;
    let backup = args.target.open()?.backup(&to)?;
    println!(
        "backed up {} events to {} ({} bytes)",
        backup["events"],
        backup["file"].as_str().unwrap_or_default(),
        backup["bytes"]
    );
    Ok(())
}
