//! `rctgate power`: how many units a trial needs (SPEC §8), or, with
//! `--per-arm`, the smallest effect a given sample detects; with `--trigger-rate`, both for a
//! triggered analysis (only that share of exposed units can be affected).

use clap::ValueEnum;
use rctgate_stats::power::{Baseline, Design};

use crate::commands::print_json;
use crate::failure::Failure;

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Proportion,
    Mean,
}

#[derive(clap::Args)]
pub struct Args {
    /// The metric's kind.
    #[arg(long)]
    kind: Kind,
    /// Control's conversion rate (proportion) or mean (mean).
    #[arg(long, allow_negative_numbers = true)]
    baseline: f64,
    /// Per-unit standard deviation; required for a mean.
    #[arg(long)]
    sd: Option<f64>,
    /// The minimum detectable effect: absolute, or a fraction of the baseline with --relative.
    #[arg(long, required_unless_present = "per_arm", conflicts_with = "per_arm")]
    mde: Option<f64>,
    /// Read --mde as relative to the baseline (0.02 = +2%).
    #[arg(long)]
    relative: bool,
    /// Units per arm: answer with the detectable effect instead of a sample size.
    #[arg(long)]
    per_arm: Option<u64>,
    /// Two-sided significance level.
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// The probability of detecting an effect of the MDE.
    #[arg(long, default_value_t = 0.8)]
    power: f64,
    /// Number of arms, control included.
    #[arg(long, default_value_t = 2)]
    arms: u32,
    /// Units entering the experiment per day, over all arms: adds `days`.
    #[arg(long)]
    daily_units: Option<u64>,
    /// The share of exposed units that trigger (the model changes what they see): the test
    /// runs on triggered units, whose baseline --baseline then is; answers with the exposed
    /// units that bring enough of them, or with the effect detectable among them and diluted
    /// over every exposed unit.
    #[arg(long, allow_negative_numbers = true)]
    trigger_rate: Option<f64>,
}

pub fn run(args: Args) -> Result<(), Failure> {
    let baseline = match args.kind {
        Kind::Proportion => Baseline::Proportion { rate: args.baseline },
        Kind::Mean => Baseline::Mean {
            mean: args.baseline,
            sd: args.sd.ok_or_else(|| {
                Failure::input("--sd is required with --kind mean: give the per-unit standard deviation.")
            })?,
        },
    };
    let design = Design {
        baseline,
        alpha: args.alpha,
        power: args.power,
        arms: args.arms,
        daily_units: args.daily_units,
    };
    match (args.mde, args.per_arm, args.trigger_rate) {
        (Some(mde), _, None) => print_json(&design.sample_size(design.absolute_delta(mde, args.relative))?),
        (Some(mde), _, Some(rate)) => {
            print_json(&design.triggered_sample_size(design.absolute_delta(mde, args.relative), rate)?)
        }
        (None, Some(per_arm), None) => print_json(&design.detectable_effect(per_arm)?),
        (None, Some(per_arm), Some(rate)) => print_json(&design.triggered_detectable_effect(per_arm, rate)?),
        (None, None, _) => Err(Failure::input(
            "give --mde for a sample size, or --per-arm for a detectable effect.",
        )),
    }
}
