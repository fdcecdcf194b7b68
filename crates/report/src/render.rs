//! The scorecard for people: an aligned terminal table, and HTML as maud templates (one
//! self-contained page for a launch review, and the sections the dashboard reuses).

use maud::{html, Markup, PreEscaped, DOCTYPE};
use rctgate_analysis::format;
use rctgate_analysis::scorecard::{MetricResult, Movement, Scorecard};
use rctgate_analysis::{Role, Severity};
use rctgate_domain::Difference;

/// One row of the metric table, as cells.
struct Line {
    cells: Vec<String>,
}

/// The significance mark of treatment `index`: ▲ significantly better, ▼ significantly worse.
fn mark(metric: &MetricResult, index: usize) -> &'static str {
    match metric.movement(index) {
        Movement::Better => "▲",
        Movement::Worse => "▼",
        Movement::Inconclusive | Movement::Unknown => "",
    }
}

fn metric_lines(metric: &MetricResult, difference: Difference) -> Vec<Line> {
    let role = metric.role.as_str().to_string();
    metric
        .variants
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let (name, role) = if i == 0 {
                (metric.name.clone(), role.clone())
            } else {
                (String::new(), String::new())
            };
            let comparison = row.comparison();
            let effect = comparison
                .and_then(|c| {
                    c.effect
                        .map(|e| format::effect_with_interval(e, c.ci_low, c.ci_high, difference))
                        .or_else(|| c.reason.clone())
                })
                .unwrap_or_default();
            let p = comparison
                .and_then(|c| {
                    c.p_value
                        .map(|p| format!("{p:.4}"))
                        .or(c.chance_to_win.map(|c| format!("ctw {:.1}%", c * 100.0)))
                })
                .unwrap_or_default();
            let adjusted = row
                .p_value_adjusted
                .flatten()
                .map(|p| format!("{p:.4}"))
                .unwrap_or_default();
            Line {
                cells: vec![
                    name,
                    role,
                    row.result.name.clone(),
                    format::count(row.result.n),
                    if metric.error.is_some() {
                        String::new()
                    } else {
                        format::significant(row.result.mean, 5)
                    },
                    format!("{effect} {}", mark(metric, i)).trim_end().to_string(),
                    p,
                    adjusted,
                ],
            }
        })
        .collect()
}

const HEADERS: [&str; 8] = [
    "metric",
    "role",
    "variant",
    "units",
    "mean",
    "effect [CI]",
    "p",
    "p adj.",
];

/// The scorecard as an aligned table for a terminal.
pub fn table(card: &Scorecard) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{}  ({}, as of {})\n{} analysis, alpha {}, {} effects; exposures from {} to {}\n",
        card.experiment,
        card.status,
        card.as_of,
        json_name(&card.method),
        card.alpha,
        json_name(&card.difference),
        card.window.start.as_deref().unwrap_or("the first"),
        card.window.end
    ));
    let units: Vec<String> = card
        .units
        .0
        .iter()
        .map(|(name, n)| format!("{name} {}", format::count(*n)))
        .collect();
    out.push_str(&format!(
        "units: {}   SRM {} ({})",
        units.join(", "),
        format::p_value(card.srm.p_value),
        if card.srm.ok { "ok" } else { "MISMATCH" }
    ));
    if card.excluded_units > 0 {
        out.push_str(&format!(
            "   excluded (several variants): {}",
            format::count(card.excluded_units)
        ));
    }
    out.push_str("\n\n");
    let verdict = card.decision.verdict.as_str().to_uppercase().replace('_', " ");
    match &card.decision.variant {
        Some(variant) => out.push_str(&format!("VERDICT: {verdict} ({variant})\n")),
        None => out.push_str(&format!("VERDICT: {verdict}\n")),
    }
    for reason in &card.decision.reasons {
        out.push_str(&format!("  - {reason}\n"));
    }
    out.push('\n');
    let mut lines = vec![Line {
        cells: HEADERS.iter().map(|h| h.to_string()).collect(),
    }];
    for metric in &card.metrics {
        lines.extend(metric_lines(metric, card.difference));
    }
    let widths: Vec<usize> = (0..HEADERS.len())
        .map(|c| {
            lines
                .iter()
                .map(|line| line.cells[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for line in &lines {
        let mut text = String::new();
        for (c, cell) in line.cells.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            // Numbers right-aligned, words left-aligned.
            if matches!(c, 3 | 4 | 6 | 7) {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&" ".repeat(pad));
            }
            text.push_str("  ");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out.push_str("▲ significantly better, ▼ significantly worse (interval excludes zero); p adj.: Holm over primary and secondary metrics\n");
    if !card.latency.is_empty() {
        out.push_str("\nmodel latency per request (ms):\n");
        let name_width = card
            .latency
            .iter()
            .map(|row| row.variant.chars().count())
            .max()
            .unwrap_or(0);
        for row in &card.latency {
            out.push_str(&format!(
                "  {:<name_width$}  {} requests  mean {}  p50 {}  p95 {}  p99 {}\n",
                row.variant,
                format::count(row.requests),
                latency_ms(row.mean),
                latency_ms(row.p50),
                latency_ms(row.p95),
                latency_ms(row.p99),
            ));
        }
    }
    if !card.design.is_empty() {
        out.push_str("\nthe design's comparisons (primary metric):\n");
        for contrast in &card.design {
            let primary = contrast.metrics.first();
            let effect = primary
                .and_then(|m| treatment_effect(m, card.difference))
                .unwrap_or_else(|| "not estimated".to_string());
            out.push_str(&format!(
                "  {}: {} vs {} on {} units: {} {}; {}{}\n",
                contrast.name,
                contrast.treatment,
                contrast.control,
                if contrast.triggered_only {
                    "triggered"
                } else {
                    "all"
                },
                primary.map_or("", |m| m.name.as_str()),
                effect,
                contrast.decision.verdict.as_str(),
                if contrast.decides { " (decides)" } else { "" }
            ));
        }
    }
    if let Some(triggers) = &card.triggers {
        out.push_str(&format!("\ntriggered units ({}):\n", trigger_test_text(triggers)));
        for row in &triggers.variants {
            out.push_str(&format!(
                "  {}: {} of {} exposed ({})\n",
                row.variant,
                format::count(row.triggered),
                format::count(row.units),
                trigger_rate_text(row)
            ));
        }
    }
    for metric in &card.metrics {
        if let Some(error) = &metric.error {
            out.push_str(&format!("{}: {error}\n", metric.name));
        }
    }
    if let Some(cost) = &card.latency_cost {
        out.push_str(&format!(
            "\nlatency cost (intervals at the Šidák-corrected alpha {:.4}):\n",
            cost.alpha
        ));
        for arm in &cost.arms {
            out.push_str(&format!(
                "  {} (+{} ms): latency {}, primary {}\n",
                arm.variant,
                arm.added_latency_ms,
                change_text(&arm.latency),
                change_text(&arm.primary)
            ));
        }
        if let Some(fitted) = cost.cost_per_10_percent_latency {
            out.push_str(&format!(
                "  fitted: {} of the primary per +10% latency\n",
                format::effect(fitted, Difference::Relative)
            ));
        }
    }
    if !card.diagnostics.is_empty() {
        out.push_str("\ndiagnostics:\n");
        for diagnostic in &card.diagnostics {
            out.push_str(&format!(
                "  {:<7}  {}: {}\n",
                severity_name(diagnostic.severity),
                diagnostic.kind,
                diagnostic.message
            ));
        }
    }
    out
}

/// A relative change and its interval, as the scorecard writes effects.
fn change_text(change: &rctgate_analysis::latency_cost::Change) -> String {
    let bound = |value: Option<f64>| {
        value.map_or_else(|| "?".to_string(), |v| format::effect(v, Difference::Relative))
    };
    format!(
        "{} [{}, {}]",
        format::effect(change.effect, Difference::Relative),
        bound(change.ci_low),
        bound(change.ci_high)
    )
}

/// A metric's first treatment's effect with its interval ("+3.2% [+1.1%, +5.3%]"), if
/// estimated.
pub fn treatment_effect(metric: &MetricResult, difference: Difference) -> Option<String> {
    let c = metric.variants.get(1)?.comparison()?;
    Some(format::effect_with_interval(
        c.effect?, c.ci_low, c.ci_high, difference,
    ))
}

/// An arm's trigger rate, or why it has none.
fn trigger_rate_text(row: &rctgate_analysis::scorecard::TriggerRate) -> String {
    match (row.marks_triggers, row.rate) {
        (false, _) => "not marked".to_string(),
        (true, Some(rate)) => format!("{:.2}%", 100.0 * rate),
        (true, None) => "no units".to_string(),
    }
}

/// The trigger-rate test in a few words.
fn trigger_test_text(triggers: &rctgate_analysis::scorecard::Triggers) -> String {
    match triggers.p_value {
        Some(p) if triggers.ok => format!("rates alike across arms, {}", format::p_value(p)),
        Some(p) => format!("rates DIFFER across arms, {}", format::p_value(p)),
        None => "no test: fewer than two arms mark triggers".to_string(),
    }
}

/// Milliseconds to one decimal.
fn latency_ms(value: f64) -> String {
    format!("{value:.1}")
}

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Error => "error",
    }
}

fn json_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The scorecard as one self-contained HTML page (inline CSS and SVG, no scripts, no external
/// resources), for a launch review.
pub fn html(card: &Scorecard) -> String {
    page(
        &format!("{} scorecard", card.experiment),
        html! {},
        experiment_sections(card),
    )
    .into_string()
}

/// A whole page: `header` (a navigation bar, or nothing) above the main content.
pub fn page(title: &str, header: Markup, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                (header)
                main { (body) }
            }
        }
    }
}

/// A scorecard table's rows for one metric (the metric's name on its first row).
fn metric_rows(metric: &MetricResult, difference: Difference, segment: Option<&str>) -> Markup {
    html! {
        @for (i, line) in metric_lines(metric, difference).into_iter().enumerate() {
            tr {
                @if let Some(segment) = segment {
                    @if i == 0 { th scope="row" { (segment) } } @else { td {} }
                }
                @for cell in &line.cells { td { (cell) } }
            }
        }
    }
}

fn scorecard_head(segmented: bool) -> Markup {
    html! {
        thead { tr {
            @if segmented { th scope="col" { "segment" } }
            @for header in HEADERS { th scope="col" { (header) } }
        } }
    }
}

/// The experiment's sections: hypothesis, verdict, units and SRM, the forest plot, the
/// cumulative chart, the scorecard by role, segments, diagnostics.
pub fn experiment_sections(card: &Scorecard) -> Markup {
    let verdict = card.decision.verdict.as_str();
    let srm_class = if card.srm.ok { "badge ok" } else { "badge bad" };
    let cumulative = crate::chart::cumulative(card);
    html! {
        h1 { (card.experiment) }
        p.meta {
            (card.status) " · as of " (card.as_of) " · " (json_name(&card.method)) " analysis, alpha "
            (card.alpha) ", " (json_name(&card.difference)) " effects"
        }
        @if !card.hypothesis.is_empty() {
            p.hypothesis { strong { "Hypothesis:" } " " (card.hypothesis) }
        }
        section class={ "verdict " (verdict) } aria-label="verdict" {
            h2 {
                "Verdict: " span class={ "badge " (verdict) } { (verdict.replace('_', " ")) }
                @if let Some(variant) = &card.decision.variant { " (" (variant) ")" }
            }
            ul { @for reason in &card.decision.reasons { li { (reason) } } }
        }
        section aria-label="units" {
            h2 { "Units per variant" }
            p {
                @for (i, (name, n)) in card.units.0.iter().enumerate() {
                    @if i > 0 { " · " }
                    (name) " " strong { (format::count(*n)) }
                }
                " · " span class=(srm_class) {
                    "SRM " (format::p_value(card.srm.p_value)) " (" (if card.srm.ok { "ok" } else { "mismatch" }) ")"
                }
                @if card.excluded_units > 0 {
                    " · " (format::count(card.excluded_units)) " units in several variants excluded"
                }
            }
        }
        section aria-label="forest plot" {
            h2 { "Effects against control" }
            @match crate::chart::forest(card) {
                Some(svg) => (PreEscaped(svg)),
                None => p.meta { "No effect can be estimated yet: every arm needs exposed units." },
            }
        }
        @if !cumulative.is_empty() {
            section aria-label="cumulative effect" {
                h2 { "Primary metric over time" }
                (PreEscaped(cumulative))
            }
        }
        @if let Some(novelty) = &card.novelty {
            section aria-label="novelty" {
                h2 { "Effect by days since first exposure" }
                (PreEscaped(crate::chart::novelty(novelty, card.difference)))
                p {
                    "Over " (format::count(novelty.units[0] + novelty.units[1])) " units observed "
                    (novelty.days_observed) " days: the first " (novelty.early_days) " day"
                    @if novelty.early_days != 1 { "s" } " against the rest, "
                    @match novelty.early_minus_late {
                        Some(e) => { (format!("{:+.4}", e.effect)) " per unit and day [" (format!("{:+.4}", e.ci_low)) ", " (format!("{:+.4}", e.ci_high)) "]" }
                        None => "not estimable",
                    }
                    @if let Some(p) = novelty.p_value { ", " (format::p_value(p)) }
                    ". A difference means the trial's average is not the long-run effect (novelty when the first days are better, primacy when worse)."
                }
            }
        }
        section aria-label="scorecard" {
            h2 { "Scorecard" }
            div.scroll { table {
                (scorecard_head(false))
                tbody { @for metric in &card.metrics { (metric_rows(metric, card.difference, None)) } }
            } }
            p.meta { "▲ significantly better, ▼ significantly worse; p adj.: Holm over the primary and secondary metrics." }
        }
        @if !card.design.is_empty() {
            section aria-label="design contrasts" {
                h2 { "The design's comparisons" }
                @for contrast in &card.design {
                    h3 {
                        (contrast.name) ": " (contrast.treatment) " vs " (contrast.control)
                        @if contrast.triggered_only { " (triggered units)" } @else { " (all units)" }
                        @if contrast.decides { " · decides the verdict" }
                    }
                    p.meta { (contrast.means) ". Its own verdict: " (contrast.decision.verdict.as_str().replace('_', " ")) "." }
                    div.scroll { table {
                        (scorecard_head(false))
                        tbody { @for metric in &contrast.metrics { (metric_rows(metric, card.difference, None)) } }
                    } }
                    @if let Some(power) = &contrast.power {
                        p.meta {
                            "At the planned sample, a trigger rate of " (format!("{:.1}%", 100.0 * power.trigger_rate))
                            " leaves " (format::count(power.triggered_per_arm)) " triggered units per arm: the smallest effect detectable among them is "
                            (power.mde_relative.map_or_else(|| format!("{:.4}", power.mde), |r| format::effect(r, Difference::Relative)))
                            " (80% power), "
                            (power.diluted_mde_relative.map_or_else(|| format!("{:.4}", power.diluted_mde), |r| format::effect(r, Difference::Relative)))
                            " over all exposed units."
                        }
                    }
                }
            }
        }
        @if let Some(confidence) = &card.confidence {
            section aria-label="effect by model confidence" {
                h2 { "Effect by model confidence" }
                @if let Some(svg) = crate::chart::confidence(card) { (PreEscaped(svg)) }
                div.scroll { table {
                    thead { tr { th { "decile" } th { "model output" } th { "units (control, " (confidence.variant) ")" } th { "effect [CI]" } } }
                    tbody { @for b in &confidence.buckets {
                        tr {
                            td { (b.bucket) }
                            td { @match (b.output_low, b.output_high) { (Some(low), Some(high)) => { (format!("{low:.3} to {high:.3}")) } _ => { "-" } } }
                            td { (format::count(b.units[0])) ", " (format::count(b.units[1])) }
                            td { @match b.effect { Some(e) => { (format::effect_with_interval(e.effect, Some(e.ci_low), Some(e.ci_high), card.difference)) } None => { "not estimated" } } }
                        }
                    } }
                } }
                p.meta {
                    "Deciles of the model's output among the units it could change (triggered ones, when exposures say). "
                    @if let Some(p) = confidence.top_vs_middle_p_value {
                        "Top decile worse than deciles 3-8 pooled: one-sided " (format::p_value(p)) "."
                    }
                }
            }
        }
        @if let Some(triggers) = &card.triggers {
            section aria-label="triggers" {
                h2 { "Triggered units" }
                div.scroll { table {
                    thead { tr { th { "variant" } th { "exposed units" } th { "triggered" } th { "rate" } } }
                    tbody { @for row in &triggers.variants {
                        tr {
                            td { (row.variant) } td { (format::count(row.units)) }
                            td { (format::count(row.triggered)) } td { (trigger_rate_text(row)) }
                        }
                    } }
                } }
                p.meta {
                    "Units with an exposure marked triggered (the model changed what they saw). "
                    (trigger_test_text(triggers)) "."
                }
            }
        }
        @if !card.latency.is_empty() {
            section aria-label="model latency" {
                h2 { "Model latency per request" }
                div.scroll { table {
                    thead { tr { th { "variant" } th { "requests" } th { "mean ms" } th { "p50 ms" } th { "p95 ms" } th { "p99 ms" } } }
                    tbody { @for row in &card.latency {
                        tr {
                            td { (row.variant) } td { (format::count(row.requests)) } td { (latency_ms(row.mean)) }
                            td { (latency_ms(row.p50)) } td { (latency_ms(row.p95)) } td { (latency_ms(row.p99)) }
                        }
                    } }
                } }
                p.meta { "Over every exposure in the window that carries latency_ms. Latency guardrails (kind mean or quantile, source exposure_latency) test it in the scorecard above." }
            }
        }
        @if let Some(cost) = &card.latency_cost {
            section aria-label="latency cost" {
                h2 { "What latency costs" }
                div.scroll { table {
                    thead { tr { th { "variant" } th { "added" } th { "latency" } th { "primary" } } }
                    tbody { @for arm in &cost.arms {
                        tr {
                            td { (arm.variant) } td { "+" (arm.added_latency_ms) " ms" }
                            td { (change_text(&arm.latency)) } td { (change_text(&arm.primary)) }
                        }
                    } }
                } }
                p.meta {
                    "Intervals at the Šidák-corrected alpha " (format!("{:.4}", cost.alpha)) "."
                    @if let Some(fitted) = cost.cost_per_10_percent_latency {
                        " Fitted: " strong { (format::effect(fitted, Difference::Relative)) } " of the primary per +10% latency."
                    }
                }
            }
        }
        @if let Some(segments) = &card.segments {
            section aria-label="segments" {
                h2 { "Segments by " (segments.attribute) }
                div.scroll { table {
                    (scorecard_head(true))
                    tbody {
                        @for segment in &segments.values {
                            @for metric in segment.metrics.iter().filter(|m| m.role == Role::Primary) {
                                (metric_rows(metric, card.difference, Some(&segment.value)))
                            }
                        }
                    }
                } }
                @for h in segments.heterogeneity.iter().filter(|h| h.role == Role::Primary) {
                    p.meta {
                        "Across segments, " (h.metric) " of " (h.variant) ": Cochran's Q = " (format!("{:.2}", h.q))
                        ", df = " (h.df) ", " (format::p_value(h.p_value)) ", I² = " (format!("{:.0}%", 100.0 * h.i_squared))
                        @if h.p_value < card.alpha { strong { " (the effect differs across segments)" } }
                        "."
                    }
                }
            }
        }
        @if !card.diagnostics.is_empty() {
            section aria-label="diagnostics" {
                h2 { "Diagnostics" }
                ul { @for d in &card.diagnostics {
                    li class=(severity_name(d.severity)) { strong { (d.kind) } ": " (d.message) }
                } }
            }
        }
    }
}

/// The stylesheet of every page: readable at 1280 px and on a phone, WCAG AA contrast.
pub const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1a1a1a;background:#fff;line-height:1.45}\
main{max-width:72rem;margin:0 auto;padding:1rem}\
nav{background:#14365d;padding:.6rem 1rem}nav a{color:#fff;margin-right:1.2rem;text-decoration:none;font-weight:600}\
nav form{display:inline}nav button{background:none;border:1px solid #fff;color:#fff;border-radius:4px;padding:.1rem .6rem;cursor:pointer}\
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}.scroll{overflow-x:auto}\
th,td{padding:.35rem .6rem;border-bottom:1px solid #ccc;text-align:left;vertical-align:top}\
.meta{color:#444}.verdict{padding:.4rem 1rem;border-left:.4rem solid #666;background:#f6f6f6;margin:1rem 0}\
.verdict.ship{border-color:#1b7f3b}.verdict.no_ship,.verdict.invalid{border-color:#b3261e}.verdict.keep_running{border-color:#8a6d00}\
.badge{display:inline-block;padding:.05rem .5rem;border-radius:.8rem;font-size:.9em;font-weight:600;color:#fff;background:#4a4a4a}\
.badge.ship,.badge.ok{background:#1b7f3b}.badge.no_ship,.badge.invalid,.badge.bad{background:#b3261e}.badge.keep_running{background:#7a5f00}\
.flag{color:#b3261e;font-weight:600}li.error{color:#b3261e}li.warning{color:#6b4f00}\
svg{max-width:100%;height:auto}label{display:block;margin:.5rem 0 .2rem}\
input[type=password]{width:100%;max-width:32rem;padding:.5rem;font-size:1rem}\
button.primary{margin-top:.8rem;padding:.5rem 1.2rem;font-size:1rem;background:#14365d;color:#fff;border:0;border-radius:4px}\
.error-box{color:#b3261e;font-weight:600}\
form.controls{margin:.8rem 0}form.controls button{padding:.5rem 1.2rem;font-size:1rem;border-radius:4px;cursor:pointer;border:1px solid #14365d;background:#fff;color:#14365d}\
form.controls button.primary{margin-top:0;background:#14365d;color:#fff}form.controls button.danger{background:#b3261e;border-color:#b3261e;color:#fff}";
