//! `rctgate stats [FILE|-]`: SPEC §8 request in, response out.

use std::io::Read;
use std::path::PathBuf;

use crate::commands::print_json;
use crate::failure::Failure;

#[derive(clap::Args)]
pub struct Args {
    /// The request as JSON; `-` or nothing reads standard input.
    file: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<(), Failure> {
    let input = match args.file.as_deref() {
        None => read_stdin()?,
        Some(p) if p.as_os_str() == "-" => read_stdin()?,
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Failure::input(format!("cannot read {}: {e}", path.display())))?,
    };
    let response = rctgate_stats::request::run(&input)?;
    print_json(&response)
}

fn read_stdin() -> Result<String, Failure> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| Failure::input(format!("cannot read standard input: {e}")))?;
    Ok(text)
}
