//! The comparisons a design makes (`rctgate_domain::design`), and how they become one
//! scorecard.
//!
//! Each contrast is an ordinary two-arm analysis of a sub-trial: the two arms' exposures, all
//! units or only the triggered ones. The engine runs them like any trial ([`sub_trial`]);
//! [`combine`] then puts them beside the trial's own analysis of every arm on all units, whose
//! data checks (SRM over the three arms, trigger balance between T1 and T2) still decide
//! whether anything can be trusted, and takes the verdict from the design's deciding contrast.

use crate::scorecard::{Contrast, Scorecard, TriggerRate};
use crate::Verdict;
use rctgate_domain::design::{C, T1, T2};
use rctgate_domain::{Design, Experiment, MetricKind};
use rctgate_stats::power::{Baseline, Design as PowerDesign, TriggeredDetectableEffect};

/// One comparison of two arms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContrastSpec {
    /// `feature`, `model_cost`, `total` (C/T1/T2), `candidate`, `compute_cost` (disagreement).
    pub name: &'static str,
    /// What it measures, for people.
    pub means: &'static str,
    /// Variant indices of the comparison's control and treatment.
    pub control: usize,
    pub treatment: usize,
    /// Only triggered units, from their first triggered exposure.
    pub triggered_only: bool,
    /// Whether this contrast's decision is the trial's verdict.
    pub decides: bool,
}

/// The contrasts of `design`, the deciding one first; none for the standard design.
pub fn contrasts(design: Design) -> Vec<ContrastSpec> {
    let spec = |name, means, control, treatment, triggered_only, decides| ContrastSpec {
        name,
        means,
        control,
        treatment,
        triggered_only,
        decides,
    };
    match design {
        Design::Standard => Vec::new(),
        Design::CT1T2 => vec![
            spec("feature", "T1 vs T2 on triggered units: the feature's effect where it applies", T2, T1, true, true),
            spec("model_cost", "T2 vs C on all units: the cost of calling the model (latency, compute)", C, T2, false, false),
            spec("total", "T1 vs C on all units: the feature and the cost of calling the model together", C, T1, false, false),
        ],
        Design::Disagreement => vec![
            spec("candidate", "T1 vs T2 on units where the two models disagree: the candidate's effect where it changes anything", T2, T1, true, true),
            spec("compute_cost", "T2 vs C on all units: the cost of computing both models", C, T2, false, false),
            spec("total", "T1 vs C on all units: the candidate against the current model, diluted over everyone", C, T1, false, false),
        ],
    }
}

/// The two-arm trial a contrast analyses: the experiment with only its two arms (control
/// first), the standard design, and `triggered_only` as the contrast says. The weights keep
/// their ratio, which is all the SRM test reads. Only the deciding contrast keeps
/// `planned_units`, counted against the whole trial's exposed units ([`exposed_units`], the
/// policy's `planned_progress`); the others report without a plan.
pub fn sub_trial(experiment: &Experiment, spec: &ContrastSpec) -> Experiment {
    let mut sub = experiment.clone();
    sub.design = Design::Standard;
    if !spec.decides {
        sub.analysis.planned_units = None;
    }
    sub.variants = vec![
        experiment.variants[spec.control].clone(),
        experiment.variants[spec.treatment].clone(),
    ];
    sub.analysis.triggered_only = spec.triggered_only;
    sub
}

/// One contrast's figures from its sub-trial's scorecard.
fn contrast_of(spec: &ContrastSpec, card: Scorecard) -> Contrast {
    let names: Vec<String> = card.units.0.iter().map(|(name, _)| name.clone()).collect();
    Contrast {
        name: spec.name.to_string(),
        means: spec.means.to_string(),
        control: names.first().cloned().unwrap_or_default(),
        treatment: names.get(1).cloned().unwrap_or_default(),
        triggered_only: spec.triggered_only,
        decides: spec.decides,
        units: card.units,
        srm: card.srm,
        metrics: card.metrics,
        decision: card.decision,
        diagnostics: card.diagnostics,
        power: None,
    }
}

/// The trial's scorecard with its design's contrasts: `overall` (every arm on all units) keeps
/// its figures and data checks; when those leave the trial analysable, the verdict is the
/// deciding contrast's (decided against the plan by the policy, [`sub_trial`]), and that
/// contrast's diagnostics join the trial's, named.
pub fn combine(
    experiment: &Experiment,
    mut overall: Scorecard,
    contrasts: Vec<(ContrastSpec, Scorecard)>,
) -> Scorecard {
    // The primary's series over time, its effect by model confidence and by days since
    // first exposure are the deciding contrast's: the comparison the verdict reads.
    if let Some((_, card)) = contrasts.iter().find(|(spec, _)| spec.decides) {
        overall.cumulative = card.cumulative.clone();
        overall.confidence = card.confidence.clone();
        overall.novelty = card.novelty.clone();
        overall.diagnostics.retain(|d| d.kind != "uncanny_valley");
        overall.diagnostics.extend(
            card.diagnostics
                .iter()
                .filter(|d| crate::novelty::DIAGNOSTICS.contains(&d.kind.as_str()))
                .cloned(),
        );
    }
    let mut contrasts: Vec<Contrast> = contrasts
        .into_iter()
        .map(|(spec, card)| contrast_of(&spec, card))
        .collect();
    for contrast in contrasts.iter_mut().filter(|c| c.triggered_only) {
        contrast.power = power_left(experiment, &overall, contrast);
    }
    if let Some(deciding) = contrasts.iter().find(|c| c.decides) {
        if overall.decision.verdict != Verdict::Invalid {
            let mut decision = deciding.decision.clone();
            decision.reasons = decision
                .reasons
                .iter()
                .map(|reason| {
                    format!(
                        "{} ({} vs {}, triggered units): {reason}",
                        deciding.name, deciding.treatment, deciding.control
                    )
                })
                .collect();
            overall.decision = decision;
        }
        for diagnostic in &deciding.diagnostics {
            if !overall
                .diagnostics
                .iter()
                .any(|d| d.kind == diagnostic.kind && d.message == diagnostic.message)
            {
                let mut named = diagnostic.clone();
                named.message = format!("{}: {}", deciding.name, diagnostic.message);
                overall.diagnostics.push(named);
            }
        }
    }
    // C never evaluates the criterion in either design: its unmarked exposures are expected.
    overall.diagnostics.retain(|d| d.kind != "triggers_not_marked");
    overall.design = contrasts;
    overall
}

/// The units a design's plan counts: every exposed unit of the trial (of one arm only),
/// triggered or not.
pub fn exposed_units(overall: &Scorecard) -> u64 {
    overall.triggers.as_ref().map_or(overall.units.total(), |t| {
        t.variants.iter().map(|r| r.units).sum()
    })
}

/// What a triggered contrast's trigger rate leaves detectable on the primary metric at the
/// planned sample: `planned_units` exposed units over the trial's arms, of which the
/// contrast's arms trigger at their pooled rate; the baseline is the contrast control's
/// triggered units (a proportion's rate, or a mean with its standard deviation).
fn power_left(
    experiment: &Experiment,
    overall: &Scorecard,
    contrast: &Contrast,
) -> Option<TriggeredDetectableEffect> {
    let planned = experiment.analysis.planned_units?;
    let triggers = overall.triggers.as_ref()?;
    let arms: Vec<&TriggerRate> = triggers
        .variants
        .iter()
        .filter(|r| r.variant == contrast.control || r.variant == contrast.treatment)
        .collect();
    let units: u64 = arms.iter().map(|r| r.units).sum();
    let triggered: u64 = arms.iter().map(|r| r.triggered).sum();
    if units == 0 || triggered == 0 {
        return None;
    }
    let primary = contrast.metrics.first()?;
    let control = &primary.variants.first()?.result;
    let baseline = match primary.kind {
        MetricKind::Proportion => Baseline::Proportion { rate: control.mean },
        MetricKind::Mean | MetricKind::Count => Baseline::Mean {
            mean: control.mean,
            sd: control.variance.sqrt(),
        },
        MetricKind::Ratio | MetricKind::Quantile => return None,
    };
    let design = PowerDesign {
        baseline,
        alpha: experiment.analysis.alpha,
        power: 0.8,
        arms: 2,
        daily_units: None,
    };
    let per_arm = planned / experiment.variants.len().max(1) as u64;
    design
        .triggered_detectable_effect(per_arm, triggered as f64 / units as f64)
        .ok()
}
