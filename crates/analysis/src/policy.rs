//! The default decision policy (SPEC §9) and the diagnostics.
//!
//! - `invalid`: no exposures, a variant without units, SRM (p < 0.001), trigger rates that
//!   differ between the arms that mark triggers (p < 0.001), or a primary metric that cannot
//!   be estimated: nothing else can be trusted.
//! - `keep_running` until `analysis.min_days` have passed, whatever the figures say.
//! - `ship`: a treatment whose primary metric's interval excludes zero on the good side, with
//!   no guardrail worse than its margin, once the planned units are reached (no plan: at any
//!   time; the sequential default keeps that valid). With several winners, the largest effect.
//! - `no_ship`: every treatment is significantly bad on the primary or breaches a guardrail,
//!   or the planned units were reached without a win.
//! - otherwise `keep_running`.
//!
//! The primary's decision uses its unadjusted interval: it is the one pre-registered
//! decision metric, and Holm's adjustment is there for reading the secondary metrics.
//! Proxy metrics never decide; a proxy significantly better while the primary is not adds
//! the `proxy_over_optimization` diagnostic.

use crate::decision::{Decision, Diagnostic, Severity, Verdict};
use crate::format;
use crate::plan::Role;
use crate::scorecard::{MetricResult, Movement, Scorecard};
use chrono::{DateTime, Utc};
use rctgate_domain::{Difference, Direction, Experiment};

/// "bookings: treatment +3.2% [+1.1%, +5.3%], p = 0.003".
fn describe(metric: &MetricResult, treatment: usize, difference: Difference) -> String {
    let Some(row) = metric.variants.get(treatment) else {
        return metric.name.clone();
    };
    let Some(comparison) = row.comparison() else {
        return format!("{}: {} not estimated", metric.name, row.result.name);
    };
    let Some(effect) = comparison.effect else {
        let why = comparison.reason.as_deref().unwrap_or("not estimable");
        return format!("{}: {} not estimated ({why})", metric.name, row.result.name);
    };
    let mut text = format!(
        "{}: {} {}",
        metric.name,
        row.result.name,
        format::effect_with_interval(effect, comparison.ci_low, comparison.ci_high, difference)
    );
    if let Some(p) = comparison.p_value {
        text.push_str(&format!(", {}", format::p_value(p)));
    } else if let Some(chance) = comparison.chance_to_win {
        text.push_str(&format!(", chance to win {:.1}%", chance * 100.0));
    }
    text
}

/// The verdict and diagnostics for a scorecard. `planned_progress` is what
/// `analysis.planned_units` counts when it is not this scorecard's units (a design's deciding
/// contrast counts the whole trial's exposed units).
pub fn decide(
    card: &Scorecard,
    experiment: &Experiment,
    as_of: DateTime<Utc>,
    planned_progress: Option<u64>,
) -> (Decision, Vec<Diagnostic>) {
    let difference = card.difference;
    let mut diagnostics = data_diagnostics(card);
    let total = card.units.total();
    let treatments = 1..card.units.0.len();
    let role = |role: Role| card.metrics.iter().filter(move |metric| metric.role == role);

    // Guardrails, per treatment.
    let mut breaches: Vec<Vec<String>> = vec![Vec::new(); card.units.0.len()];
    for metric in role(Role::Guardrail) {
        for check in &metric.guardrail {
            let Some(t) = card.units.0.iter().position(|(name, _)| *name == check.variant) else {
                continue;
            };
            let text = describe(metric, t, difference);
            if check.breached {
                let sentence = format!(
                    "Guardrail {text} is worse than its margin of {} (analysis.guardrail_margin).",
                    format::effect(check.margin, difference).trim_start_matches('+')
                );
                diagnostics.push(Diagnostic::new(
                    "guardrail_breached",
                    Severity::Error,
                    sentence.clone(),
                ));
                breaches[t].push(sentence);
            } else if metric.movement(t) == Movement::Worse {
                diagnostics.push(Diagnostic::new(
                    "guardrail_worse",
                    Severity::Warning,
                    format!("Guardrail {text} is significantly worse, though within its margin."),
                ));
            }
        }
    }

    // Proxies against the primary.
    let primary = card.metrics.iter().find(|metric| metric.role == Role::Primary);
    if let Some(primary) = primary {
        for proxy in role(Role::Proxy) {
            for t in treatments.clone() {
                if proxy.movement(t) == Movement::Better && primary.movement(t) != Movement::Better {
                    diagnostics.push(Diagnostic::new(
                        "proxy_over_optimization",
                        Severity::Warning,
                        format!(
                            "Proxy {} improved significantly while the primary did not ({}): \
                             the model may be optimizing a proxy that does not move the business.",
                            describe(proxy, t, difference),
                            describe(primary, t, difference)
                        ),
                    ));
                }
            }
        }
    }

    // Invalid data first: nothing below can be trusted without it.
    let mut invalid = Vec::new();
    if total == 0 {
        invalid.push(format!(
            "No units were exposed between {} and {}; check that exposures are logged for experiment {}.",
            card.window.start.as_deref().unwrap_or("the first exposure"),
            card.window.end,
            card.experiment
        ));
    } else {
        for (name, n) in &card.units.0 {
            if *n == 0 {
                invalid.push(format!(
                    "Variant {name} has no units; assignment or exposure logging is broken."
                ));
            }
        }
        if invalid.is_empty() && !card.srm.ok {
            invalid.push(srm_sentence(card));
        }
        if let Some(sentence) = trigger_imbalance(card).filter(|_| invalid.is_empty()) {
            invalid.push(sentence);
        }
    }
    let Some(primary) = primary else {
        invalid.push("The experiment has no primary metric.".to_string());
        return (Decision::new(Verdict::Invalid, None, invalid), diagnostics);
    };
    if invalid.is_empty() {
        if let Some(error) = &primary.error {
            invalid.push(format!(
                "The primary metric {} cannot be estimated: {error}",
                primary.name
            ));
        }
    }
    if !invalid.is_empty() {
        return (Decision::new(Verdict::Invalid, None, invalid), diagnostics);
    }

    let analysis = &experiment.analysis;
    let started = experiment.analysis.start.or(experiment.started_at);
    let days = started.map_or(0.0, |start| (as_of - start).num_seconds() as f64 / 86_400.0);
    if let Some(min_days) = analysis.min_days {
        if days < f64::from(min_days) {
            let mut reasons = vec![format!(
                "Day {} of at least {min_days} (analysis.min_days): no decision before then.",
                days.floor() as i64 + 1
            )];
            reasons.extend(treatments.map(|t| describe(primary, t, difference)));
            return (Decision::new(Verdict::KeepRunning, None, reasons), diagnostics);
        }
    }
    let counted = planned_progress.unwrap_or(total);
    let reached = analysis.planned_units.is_none_or(|planned| counted >= planned);
    let progress = analysis.planned_units.map(|planned| {
        format!(
            "{} of the planned {} units ({:.0}%)",
            format::count(counted),
            format::count(planned),
            100.0 * counted as f64 / planned as f64
        )
    });

    let winners: Vec<usize> = treatments
        .clone()
        .filter(|&t| primary.movement(t) == Movement::Better && breaches[t].is_empty())
        .collect();
    let best = winners.iter().copied().max_by(|&a, &b| {
        let gain = |t: usize| {
            let effect = primary.variants[t]
                .comparison()
                .and_then(|c| c.effect)
                .unwrap_or(0.0);
            if primary.direction == Direction::Increase {
                effect
            } else {
                -effect
            }
        };
        gain(a).total_cmp(&gain(b))
    });
    if let Some(t) = best {
        let name = card.units.0[t].0.clone();
        let verdict_text = format!(
            "The primary metric is significantly better: {}.",
            describe(primary, t, difference)
        );
        if reached {
            let mut reasons = vec![verdict_text];
            let guardrails = role(Role::Guardrail).count();
            if guardrails > 0 {
                reasons.push(format!(
                    "No guardrail of {guardrails} is worse than its margin for {name}."
                ));
            }
            if let Some(progress) = progress {
                reasons.push(format!("The planned sample is reached: {progress}."));
            }
            return (Decision::new(Verdict::Ship, Some(name), reasons), diagnostics);
        }
        let reasons = vec![
            verdict_text,
            format!(
                "Keep running until the planned sample: {} so far.",
                progress.unwrap_or_default()
            ),
        ];
        return (Decision::new(Verdict::KeepRunning, None, reasons), diagnostics);
    }

    let harmed: Vec<Vec<String>> = treatments
        .clone()
        .map(|t| {
            let mut why = breaches[t].clone();
            if primary.movement(t) == Movement::Worse {
                why.insert(
                    0,
                    format!(
                        "The primary metric is significantly worse: {}.",
                        describe(primary, t, difference)
                    ),
                );
            }
            why
        })
        .collect();
    if harmed.iter().all(|why| !why.is_empty()) {
        return (Decision::new(Verdict::NoShip, None, harmed.concat()), diagnostics);
    }
    if reached && analysis.planned_units.is_some() {
        let mut reasons = vec![format!(
            "The planned sample ended without a significant win on the primary metric: {}.",
            progress.unwrap_or_default()
        )];
        reasons.extend(treatments.map(|t| describe(primary, t, difference)));
        reasons.extend(harmed.concat());
        return (Decision::new(Verdict::NoShip, None, reasons), diagnostics);
    }
    let mut reasons: Vec<String> = treatments
        .map(|t| format!("{}, not significant yet.", describe(primary, t, difference)))
        .collect();
    if let Some(progress) = progress {
        reasons.push(format!("{progress}: keep running."));
    }
    reasons.extend(harmed.concat());
    (Decision::new(Verdict::KeepRunning, None, reasons), diagnostics)
}

fn srm_sentence(card: &Scorecard) -> String {
    let units: Vec<String> = card
        .units
        .0
        .iter()
        .map(|(name, n)| format!("{name} {}", format::count(*n)))
        .collect();
    format!(
        "Sample ratio mismatch: units {} do not match the weights (chi-square {}); assignment or \
         exposure logging is broken, so no effect can be trusted.",
        units.join(", "),
        format::p_value(card.srm.p_value)
    )
}

/// Why the trigger rates make the analysis invalid, when they do: arms that evaluate the
/// trigger's criterion alike cannot trigger at different rates unless the trigger is logged
/// differently per arm, and then triggered units are not comparable.
fn trigger_imbalance(card: &Scorecard) -> Option<String> {
    let triggers = card.triggers.as_ref().filter(|t| !t.ok)?;
    let rates: Vec<String> = triggers
        .variants
        .iter()
        .filter(|r| r.marks_triggers)
        .map(|r| format!("{} {:.2}%", r.variant, 100.0 * r.rate.unwrap_or(0.0)))
        .collect();
    Some(format!(
        "Trigger rates differ between arms ({}; chi-square {}): the trigger depends on the arm, so \
         triggered units are not comparable. Evaluate the trigger's criterion the same way in every \
         arm (counterfactually where the arm does not show the change) and log it on each exposure.",
        rates.join(", "),
        format::p_value(triggers.p_value.unwrap_or(0.0))
    ))
}

/// Booking's uncanny valley: the model's most confident decile gains significantly less than
/// the middle deciles (`Confidence::top_vs_middle_p_value` below alpha).
fn uncanny_valley(card: &Scorecard) -> Option<String> {
    let confidence = card.confidence.as_ref()?;
    let p = confidence.top_vs_middle_p_value.filter(|p| *p < card.alpha)?;
    let top = confidence.buckets.last()?;
    let (top_effect, middle) = (top.effect?, confidence.middle?);
    let span = match (top.output_low, top.output_high) {
        (Some(low), Some(high)) => format!(" (model output {low:.3} to {high:.3})"),
        _ => String::new(),
    };
    Some(format!(
        "{}: in the model's most confident decile{span}, {}'s effect is {}, significantly worse than the \
         middle deciles' {} ({}): where the model is surest it helps least, or hurts (Booking's uncanny \
         valley). Read the effect by confidence before shipping.",
        confidence.metric,
        confidence.variant,
        format::effect_with_interval(
            top_effect.effect,
            Some(top_effect.ci_low),
            Some(top_effect.ci_high),
            card.difference
        ),
        format::effect_with_interval(
            middle.effect,
            Some(middle.ci_low),
            Some(middle.ci_high),
            card.difference
        ),
        format::p_value(p)
    ))
}

/// Diagnostics about the data, independent of the verdict.
fn data_diagnostics(card: &Scorecard) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    if !card.srm.ok {
        diagnostics.push(Diagnostic::new("srm", Severity::Error, srm_sentence(card)));
    }
    if let Some(sentence) = trigger_imbalance(card) {
        diagnostics.push(Diagnostic::new("trigger_imbalance", Severity::Error, sentence));
    }
    if let Some(triggers) = &card.triggers {
        let silent: Vec<&str> = triggers
            .variants
            .iter()
            .filter(|r| !r.marks_triggers && r.units > 0)
            .map(|r| r.variant.as_str())
            .collect();
        if !silent.is_empty() {
            diagnostics.push(Diagnostic::new(
                "triggers_not_marked",
                Severity::Warning,
                format!(
                    "No exposure of {} says whether it triggered, while other arms' do: their trigger \
                     rates cannot be compared. Log `triggered` (true or false) on every exposure of every \
                     arm that evaluates the criterion.",
                    silent.join(", ")
                ),
            ));
        }
    }
    if card.excluded_units > 0 {
        let exposed = card.units.total() + card.excluded_units;
        diagnostics.push(Diagnostic::new(
            "multiple_variants",
            Severity::Warning,
            format!(
                "{} units ({:.2}% of exposed units) were exposed to more than one variant and are \
                 excluded; check that every service assigns with the same seed.",
                format::count(card.excluded_units),
                100.0 * card.excluded_units as f64 / exposed as f64
            ),
        ));
    }
    if let Some(valley) = uncanny_valley(card) {
        diagnostics.push(Diagnostic::new("uncanny_valley", Severity::Warning, valley));
    }
    if let Some(segments) = &card.segments {
        // The primary only: one test per metric and arm would flag some metric by chance.
        for h in segments
            .heterogeneity
            .iter()
            .filter(|h| h.role == Role::Primary && h.p_value < card.alpha)
        {
            diagnostics.push(Diagnostic::new(
                "segment_heterogeneity",
                Severity::Warning,
                format!(
                    "{}: {}'s effect differs across {} segments of {} (Cochran's Q = {:.2}, df = {}, {}, \
                     I² = {:.0}%): the average hides segments that gain more and segments that gain \
                     less or lose; read the segments before deciding.",
                    h.metric,
                    h.variant,
                    h.segments,
                    segments.attribute,
                    h.q,
                    h.df,
                    format::p_value(h.p_value),
                    100.0 * h.i_squared
                ),
            ));
        }
    }
    for metric in &card.metrics {
        if let Some(error) = &metric.error {
            diagnostics.push(Diagnostic::new(
                "metric_error",
                Severity::Warning,
                format!("Metric {} could not be analysed: {error}", metric.name),
            ));
        } else if card.units.total() > 0 && metric.variants.iter().all(|row| row.result.mean == 0.0) {
            diagnostics.push(Diagnostic::new(
                "no_metric_events",
                Severity::Warning,
                format!(
                    "Metric {} is zero in every variant: no matching event fell in any unit's window; \
                     check the event name and that outcome events are sent.",
                    metric.name
                ),
            ));
        }
    }
    diagnostics
}
