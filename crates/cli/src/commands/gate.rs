//! `rctgate gate check --model NAME --version V`: the question a CI/CD pipeline asks before it
//! deploys. Exit 0: a promotion would be allowed without an override; 1: blocked (the
//! reasons on stdout); 2: an error.

use clap::Subcommand;

use crate::target::TargetArgs;
use crate::Failure;

#[derive(Subcommand)]
pub enum Command {
    /// Would promoting VERSION pass the gate now?
    Check {
        /// The model.
        #[arg(long)]
        model: String,
        /// The version about to be deployed.
        #[arg(long)]
        version: String,
        /// Require this trial as the evidence.
        #[arg(long)]
        experiment: Option<String>,
        #[command(flatten)]
        target: TargetArgs,
    },
}

pub fn run(command: Command) -> Result<(), Failure> {
    let Command::Check {
        model,
        version,
        experiment,
        target,
    } = command;
    let answer = target.open()?.gate(&model, &version, experiment.as_deref())?;
    if answer["allowed"].as_bool() == Some(true) {
        let evidence = &answer["evidence"];
        println!(
            "allowed: {model} {version} may be promoted ({} evidence: {})",
            evidence["basis"].as_str().unwrap_or_default(),
            evidence["experiment"].as_str().unwrap_or_default()
        );
        return Ok(());
    }
    println!("blocked: {model} {version} may not be promoted");
    for reason in answer["reasons"].as_array().into_iter().flatten() {
        println!("  - {}", reason.as_str().unwrap_or_default());
    }
    Err(Failure {
        message: String::new(),
        code: 1,
    })
}
