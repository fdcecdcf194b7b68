//! `rctgate gate check --model NAME --version V`: the question a CI/CD pipeline asks before it
//! deploys, "may this version run in production?". Exit 0: it is the production version (a
//! redeploy), or promoting it would pass without an override (a trial that shipped it against
//! production, or a rollback to a version that passed one); 1: blocked (every reason on
//! stdout); 2: an error.

use clap::Subcommand;

use crate::failure::Failure;
use crate::target::TargetArgs;

#[derive(Subcommand)]
pub enum Command {
    /// May VERSION run in production now?
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
        println!(
            "allowed: {model} {version} {}",
            allowed_because(&answer["evidence"])
        );
        if let Some(flag) = answer["flag"].as_str() {
            println!("  note: {flag}");
        }
        return Ok(());
    }
    println!("blocked: {model} {version} may not run in production");
    for reason in answer["reasons"].as_array().into_iter().flatten() {
        println!("  - {}", reason.as_str().unwrap_or_default());
    }
    Err(Failure {
        message: String::new(),
        code: 1,
    })
}

/// Why an allowed version may run, from the gate's evidence.
fn allowed_because(evidence: &serde_json::Value) -> String {
    let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_string();
    match evidence["basis"].as_str() {
        Some("production") => {
            let promotion = &evidence["promotion"];
            let how = &promotion["evidence"];
            let basis = match how["basis"].as_str() {
                Some("override") => format!("an override: {}", text(&how["reason"])),
                _ => format!("{} evidence: {}", text(&how["basis"]), text(&how["experiment"])),
            };
            format!(
                "is the production version (promoted {} on {basis})",
                text(&promotion["at"])
            )
        }
        _ => format!(
            "may be promoted ({} evidence: {})",
            text(&evidence["basis"]),
            text(&evidence["experiment"])
        ),
    }
}
