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

/// The scorecard as one self-contained HTML page (inline CSS and SVG, no scripts, no external
/// resources), for a launch review.
pub fn html(card: &Scorecard) -> String {
    page(
        &format!("{} scorecard", card.experiment),
        &experiment_sections(card),
    )
}

/// A whole page around `body`.
pub fn page(title: &str, body: &str) -> String {
    page_with_header(title, "", body)
}

/// A whole page with `header` (a navigation bar) above the main content.
pub fn page_with_header(title: &str, header: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title><style>{STYLE}</style></head>\n<body>{header}<main>\n{body}</main></body></html>\n",
        escape(title)
    )
}

/// The experiment's sections: hypothesis, verdict, units and SRM, the forest plot, the
/// cumulative chart, the scorecard by role, segments, diagnostics.
pub fn experiment_sections(card: &Scorecard) -> String {
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
    if !card.hypothesis.is_empty() {
        body.push_str(&format!(
            "<p class=\"hypothesis\"><strong>Hypothesis:</strong> {}</p>\n",
            escape(&card.hypothesis)
        ));
    }
    let verdict = card.decision.verdict.as_str();
    body.push_str(&format!(
        "<section class=\"verdict {verdict}\" aria-label=\"verdict\"><h2>Verdict: <span class=\"badge {verdict}\">{}</span>{}</h2><ul>",
        verdict.replace('_', " "),
        card.decision.variant.as_ref().map(|v| format!(" ({})", escape(v))).unwrap_or_default()
    ));
    for reason in &card.decision.reasons {
        body.push_str(&format!("<li>{}</li>", escape(reason)));
    }
    body.push_str("</ul></section>\n");
    let units: Vec<String> = card
        .units
        .0
        .iter()
        .map(|(name, n)| format!("{} <strong>{}</strong>", escape(name), format::count(*n)))
        .collect();
    let srm_class = if card.srm.ok { "ok" } else { "bad" };
    body.push_str(&format!(
        "<section aria-label=\"units\"><h2>Units per variant</h2><p>{} · <span class=\"badge {srm_class}\">SRM {} ({})</span>{}</p></section>\n",
        units.join(" · "),
        format::p_value(card.srm.p_value),
        if card.srm.ok { "ok" } else { "mismatch" },
        if card.excluded_units > 0 {
            format!(" · {} units in several variants excluded", format::count(card.excluded_units))
        } else {
            String::new()
        }
    ));
    body.push_str(&format!(
        "<section aria-label=\"forest plot\"><h2>Effects against control</h2>{}</section>\n",
        crate::chart::forest(card)
    ));
    if !card.cumulative.is_empty() {
        body.push_str(&format!(
            "<section aria-label=\"cumulative effect\"><h2>Primary metric over time</h2>{}</section>\n",
            crate::chart::cumulative(card)
        ));
    }
    body.push_str(
        "<section aria-label=\"scorecard\"><h2>Scorecard</h2><div class=\"scroll\"><table>\n<thead><tr>",
    );
    for header in HEADERS {
        body.push_str(&format!("<th scope=\"col\">{header}</th>"));
    }
    body.push_str("</tr></thead>\n<tbody>\n");
    for metric in &card.metrics {
        body.push_str(&table_rows(metric, card.difference));
    }
    body.push_str("</tbody></table></div><p class=\"meta\">▲ significantly better, ▼ significantly worse; p adj.: Holm over the primary and secondary metrics.</p></section>\n");
    if let Some(segments) = &card.segments {
        body.push_str(&format!(
            "<section aria-label=\"segments\"><h2>Segments by {}</h2><div class=\"scroll\"><table><thead><tr><th scope=\"col\">segment</th>",
            escape(&segments.attribute)
        ));
        for header in HEADERS {
            body.push_str(&format!("<th scope=\"col\">{header}</th>"));
        }
        body.push_str("</tr></thead><tbody>");
        for segment in &segments.values {
            for metric in segment
                .metrics
                .iter()
                .filter(|m| m.role == crate::plan::Role::Primary)
            {
                body.push_str(
                    &table_rows(metric, card.difference)
                        .replacen(
                            "<tr>",
                            &format!("<tr><th scope=\"row\">{}</th>", escape(&segment.value)),
                            1,
                        )
                        .replace("<tr><td>", "<tr><td></td><td>"),
                );
            }
        }
        body.push_str("</tbody></table></div></section>\n");
    }
    if !card.diagnostics.is_empty() {
        body.push_str("<section aria-label=\"diagnostics\"><h2>Diagnostics</h2><ul>");
        for diagnostic in &card.diagnostics {
            body.push_str(&format!(
                "<li class=\"{}\"><strong>{}</strong>: {}</li>",
                severity_name(diagnostic.severity),
                escape(&diagnostic.kind),
                escape(&diagnostic.message)
            ));
        }
        body.push_str("</ul></section>\n");
    }
    body
}

fn table_rows(metric: &MetricResult, difference: Difference) -> String {
    let mut rows = String::new();
    for line in metric_lines(metric, difference) {
        rows.push_str("<tr>");
        for cell in &line.cells {
            rows.push_str(&format!("<td>{}</td>", escape(cell)));
        }
        rows.push_str("</tr>\n");
    }
    rows
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
.error-box{color:#b3261e;font-weight:600}";
