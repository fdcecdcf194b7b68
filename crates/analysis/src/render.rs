//! The scorecard for people: an aligned terminal table, and one self-contained HTML page.

use crate::format;
use crate::policy::Severity;
use crate::scorecard::{MetricResult, Scorecard, VariantRow};
use rctgate_domain::{Difference, Direction};

/// One row of the metric table, as cells.
struct Line {
    cells: Vec<String>,
}

/// The significance mark of a treatment row: ▲ significantly better, ▼ significantly worse.
fn mark(metric: &MetricResult, row: &VariantRow) -> &'static str {
    let Some(comparison) = row.comparison() else {
        return "";
    };
    match (comparison.ci_low, comparison.ci_high, metric.direction) {
        (Some(low), _, Direction::Increase) if low > 0.0 => "▲",
        (_, Some(high), Direction::Decrease) if high < 0.0 => "▲",
        (_, Some(high), Direction::Increase) if high < 0.0 => "▼",
        (Some(low), _, Direction::Decrease) if low > 0.0 => "▼",
        _ => "",
    }
}

fn metric_lines(metric: &MetricResult, difference: Difference) -> Vec<Line> {
    let role = serde_json::to_value(metric.role)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
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
                    format!("{effect} {}", mark(metric, row)).trim_end().to_string(),
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
    for metric in &card.metrics {
        if let Some(error) = &metric.error {
            out.push_str(&format!("{}: {error}\n", metric.name));
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

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The scorecard as one self-contained HTML page (inline CSS, no scripts, no external
/// resources), for a launch review.
pub fn html(card: &Scorecard) -> String {
    let mut body = String::new();
    body.push_str(&format!(
        "<h1>{}</h1>\n<p class=\"meta\">{} · as of {} · {} analysis, alpha {}, {} effects</p>\n",
        escape(&card.experiment),
        escape(&card.status),
        escape(&card.as_of),
        json_name(&card.method),
        card.alpha,
        json_name(&card.difference)
    ));
    let verdict = card.decision.verdict.as_str();
    body.push_str(&format!(
        "<section class=\"verdict {verdict}\" aria-label=\"verdict\"><h2>Verdict: {}{}</h2><ul>",
        verdict.replace('_', " "),
        card.decision
            .variant
            .as_ref()
            .map(|v| format!(" ({})", escape(v)))
            .unwrap_or_default()
    ));
    for reason in &card.decision.reasons {
        body.push_str(&format!("<li>{}</li>", escape(reason)));
    }
    body.push_str("</ul></section>\n");
    let units: Vec<String> = card
        .units
        .0
        .iter()
        .map(|(name, n)| format!("{} {}", escape(name), format::count(*n)))
        .collect();
    body.push_str(&format!(
        "<p>Units: {} · SRM {} ({})</p>\n<table>\n<thead><tr>",
        units.join(", "),
        format::p_value(card.srm.p_value),
        if card.srm.ok { "ok" } else { "mismatch" }
    ));
    for header in HEADERS {
        body.push_str(&format!("<th scope=\"col\">{header}</th>"));
    }
    body.push_str("</tr></thead>\n<tbody>\n");
    for metric in &card.metrics {
        for line in metric_lines(metric, card.difference) {
            body.push_str("<tr>");
            for cell in &line.cells {
                body.push_str(&format!("<td>{}</td>", escape(cell)));
            }
            body.push_str("</tr>\n");
        }
    }
    body.push_str("</tbody></table>\n");
    if !card.diagnostics.is_empty() {
        body.push_str("<h2>Diagnostics</h2><ul>");
        for diagnostic in &card.diagnostics {
            body.push_str(&format!(
                "<li class=\"{}\"><strong>{}</strong>: {}</li>",
                severity_name(diagnostic.severity),
                escape(&diagnostic.kind),
                escape(&diagnostic.message)
            ));
        }
        body.push_str("</ul>\n");
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{} scorecard</title><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n",
        escape(&card.experiment)
    )
}

const STYLE: &str =
    "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1a1a1a}\
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}\
th,td{padding:.3rem .6rem;border-bottom:1px solid #ccc;text-align:left}\
.meta{color:#444}.verdict{padding:.5rem 1rem;border-left:.4rem solid #666}\
.ship{border-color:#1b7f3b}.no_ship{border-color:#b3261e}.invalid{border-color:#b3261e}\
.keep_running{border-color:#8a6d00}li.error{color:#b3261e}";
