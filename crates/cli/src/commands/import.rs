//! `rctgate import FILE [--db PATH | --server URL]`: bulk events from CSV,
//! NDJSON or Parquet (SPEC §6 columns), with the validation and idempotency
//! of `POST /v1/events`. A progress bar shows on a terminal; a summary line
//! ends the run.

use std::io::IsTerminal;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use rctgate_store::{ImportOutcome, ImportProgress};

use crate::failure::Failure;
use crate::target::{Target, TargetArgs};

#[derive(clap::Args)]
pub struct Args {
    /// A .csv, .ndjson/.jsonl/.json or .parquet file.
    file: PathBuf,
    #[command(flatten)]
    target: TargetArgs,
}

pub fn run(args: Args) -> Result<(), Failure> {
    let target = args.target.open()?;
    let bar = progress_bar();
    let mut on_progress = |p: ImportProgress| {
        if let Some(bar) = &bar {
            match (p.total_rows, p.bytes_done, p.total_bytes) {
                (Some(total), _, _) => {
                    bar.set_length(total);
                    bar.set_position(p.rows_done);
                }
                (None, Some(done), Some(total)) => {
                    bar.set_length(total);
                    bar.set_position(done);
                }
                _ => bar.set_position(p.rows_done),
            }
            bar.set_message(format!("{} rows", p.rows_done));
        }
    };
    let outcome: ImportOutcome = match &target {
        Target::Local(store) => store
            .import_file(&args.file, &mut on_progress)
            .map_err(|e| Failure::input(e.to_string()))?,
        Target::Remote(client) => crate::remote_import::import(client, &args.file, &mut on_progress)?,
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    println!(
        "imported {}: {} rows, {} accepted, {} duplicates",
        args.file.display(),
        outcome.rows,
        outcome.accepted,
        outcome.duplicates
    );
    if let Target::Local(store) = &target {
        if outcome.accepted > 0 {
            keep_unit_rows(store);
        }
    }
    Ok(())
}

/// Keeps the unit rows of the trials the import may have fed, as a server would
/// (`Store::keep_open_trials`), so that their next analysis reads rows rather than every
/// event. The events are stored whatever happens here, so a failure is a warning.
fn keep_unit_rows(store: &rctgate_store::Store) {
    let started = std::time::Instant::now();
    match store.keep_open_trials() {
        Ok(0) => {}
        Ok(trials) => eprintln!(
            "kept the unit rows of {trials} trial{} not stopped, for their next analysis ({:.1} s)",
            if trials == 1 { "" } else { "s" },
            started.elapsed().as_secs_f64()
        ),
        Err(err) => eprintln!(
            "warning: the events are imported, but keeping the trials' unit rows failed \
             (their next analysis reads every event instead): {err}"
        ),
    }
}

fn progress_bar() -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {percent:>3}% {msg} ({elapsed})") {
        bar.set_style(style);
    }
    Some(bar)
}
