//! Charts as inline SVG (no scripts, no external files): the forest plot of every metric's
//! effect, the primary metric's cumulative effect over time, and the portfolio scatter of
//! offline gain against business lift.
//!
//! Drawn by hand rather than with a plotting crate: three small chart types, and no new
//! build dependency in a workspace whose DuckDB build is keyed on its dependency graph.
//! Every chart has a `<title>` and `<desc>` for screen readers, and text in the page's font.
//! Non-finite numbers are never drawn (they never reach here: the stats crate returns
//! `null` instead).

use crate::format;
use crate::render::escape;
use crate::scorecard::Scorecard;
use rctgate_domain::Difference;
use std::fmt::Write;

const WIDTH: f64 = 720.0;
const LABEL: f64 = 210.0;
const RIGHT: f64 = 20.0;
const GOOD: &str = "#1b7f3b";
const BAD: &str = "#b3261e";
const NEUTRAL: &str = "#4a4a4a";

/// A linear map from data to pixels.
struct Scale {
    lo: f64,
    hi: f64,
    from: f64,
    to: f64,
}

impl Scale {
    /// Covers `values` and zero, with a little room.
    fn covering(values: impl Iterator<Item = f64>, from: f64, to: f64) -> Scale {
        let (mut lo, mut hi) = (0.0f64, 0.0f64);
        for v in values.filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        let pad = ((hi - lo) * 0.08).max(1e-9);
        Scale {
            lo: lo - pad,
            hi: hi + pad,
            from,
            to,
        }
    }

    fn at(&self, v: f64) -> f64 {
        self.from + (v - self.lo) / (self.hi - self.lo) * (self.to - self.from)
    }
}

fn open(width: f64, height: f64, title: &str, desc: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\" \
         font-family=\"system-ui, sans-serif\" font-size=\"12\"><title>{}</title><desc>{}</desc>",
        escape(title),
        escape(desc)
    )
}

/// Every metric's effect against control with its interval, one row per (metric, treatment);
/// green when significantly better, red when significantly worse.
pub fn forest(card: &Scorecard) -> String {
    let mut rows = Vec::new();
    for metric in &card.metrics {
        for row in metric.variants.iter().skip(1) {
            let Some(c) = row.comparison() else { continue };
            let (Some(effect), Some(low), Some(high)) = (c.effect, c.ci_low, c.ci_high) else {
                continue;
            };
            let good_up = metric.direction == rctgate_domain::Direction::Increase;
            let color = if (low > 0.0 && good_up) || (high < 0.0 && !good_up) {
                GOOD
            } else if (high < 0.0 && good_up) || (low > 0.0 && !good_up) {
                BAD
            } else {
                NEUTRAL
            };
            let label = if card.metrics.iter().all(|m| m.variants.len() <= 2) {
                metric.name.clone()
            } else {
                format!("{} · {}", metric.name, row.result.name)
            };
            let role = serde_json::to_value(metric.role)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string));
            rows.push((label, role.unwrap_or_default(), effect, low, high, color));
        }
    }
    let height = 40.0 + 30.0 * rows.len() as f64;
    let scale = Scale::covering(rows.iter().flat_map(|r| [r.3, r.4]), LABEL, WIDTH - RIGHT);
    let mut svg = open(
        WIDTH,
        height,
        "Effect of each metric against control",
        "Points are effects, lines their intervals; the vertical line is no effect.",
    );
    let zero = scale.at(0.0);
    let _ = write!(
        svg,
        "<line x1=\"{zero:.1}\" y1=\"10\" x2=\"{zero:.1}\" y2=\"{:.1}\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>",
        height - 22.0
    );
    for (i, (label, role, effect, low, high, color)) in rows.iter().enumerate() {
        let y = 26.0 + 30.0 * i as f64;
        let text = format::effect_with_interval(*effect, Some(*low), Some(*high), card.difference);
        let _ = write!(
            svg,
            "<text x=\"4\" y=\"{y:.1}\" dominant-baseline=\"middle\" fill=\"#1a1a1a\">{} <tspan fill=\"#555\">({})</tspan></text>\
             <line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{color}\" stroke-width=\"3\"/>\
             <circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"5\" fill=\"{color}\"><title>{}</title></circle>",
            escape(label),
            escape(role),
            scale.at(*low),
            scale.at(*high),
            scale.at(*effect),
            escape(&text)
        );
    }
    axis_labels(&mut svg, &scale, height - 6.0, card.difference);
    svg.push_str("</svg>");
    svg
}

fn axis_labels(svg: &mut String, scale: &Scale, y: f64, difference: Difference) {
    for (value, anchor) in [(scale.lo, "start"), (0.0, "middle"), (scale.hi, "end")] {
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\" fill=\"#555\">{}</text>",
            scale.at(value),
            escape(&format::effect(value, difference))
        );
    }
}

/// The primary metric's effect and interval at the end of each day, one line per treatment.
pub fn cumulative(card: &Scorecard) -> String {
    let points = &card.cumulative;
    let height = 260.0;
    let (top, bottom, left) = (14.0, height - 30.0, 60.0);
    let values = points
        .iter()
        .flat_map(|p| p.effects.iter())
        .flat_map(|e| [Some(e.effect), e.ci_low, e.ci_high])
        .flatten();
    let y = Scale::covering(values, bottom, top);
    let n = points.len().max(2) as f64 - 1.0;
    let x = |i: usize| left + (WIDTH - RIGHT - left) * i as f64 / n;
    let primary = card
        .metrics
        .first()
        .map_or("the primary metric", |m| m.name.as_str());
    let mut svg = open(
        WIDTH,
        height,
        &format!("Cumulative effect on {primary} over time"),
        "The line is the effect as of the end of each day; the band its interval.",
    );
    let zero = y.at(0.0);
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"{zero:.1}\" x2=\"{:.1}\" y2=\"{zero:.1}\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>",
        WIDTH - RIGHT
    );
    let treatments: Vec<String> = points
        .first()
        .map(|p| p.effects.iter().map(|e| e.variant.clone()).collect())
        .unwrap_or_default();
    let colors = ["#1f5fa8", "#8a4fb0", "#b06a00", "#227a7a"];
    for (t, name) in treatments.iter().enumerate() {
        let color = colors[t % colors.len()];
        let series: Vec<(usize, f64, Option<f64>, Option<f64>)> = points
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                p.effects
                    .iter()
                    .find(|e| &e.variant == name)
                    .map(|e| (i, e.effect, e.ci_low, e.ci_high))
            })
            .collect();
        let band: Vec<(usize, f64, f64)> = series
            .iter()
            .filter_map(|(i, _, lo, hi)| Some((*i, (*lo)?, (*hi)?)))
            .collect();
        if !band.is_empty() {
            let mut path = String::new();
            for (i, _, hi) in &band {
                let _ = write!(path, "{:.1},{:.1} ", x(*i), y.at(*hi));
            }
            for (i, lo, _) in band.iter().rev() {
                let _ = write!(path, "{:.1},{:.1} ", x(*i), y.at(*lo));
            }
            let _ = write!(
                svg,
                "<polygon points=\"{}\" fill=\"{color}\" fill-opacity=\"0.15\"/>",
                path.trim_end()
            );
        }
        let line: Vec<String> = series
            .iter()
            .map(|(i, e, ..)| format!("{:.1},{:.1}", x(*i), y.at(*e)))
            .collect();
        let _ = write!(
            svg,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"><title>{}</title></polyline>",
            line.join(" "),
            escape(name)
        );
    }
    for (value, label) in [(y.hi, y.hi), (0.0, 0.0), (y.lo, y.lo)] {
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" dominant-baseline=\"middle\" fill=\"#555\">{}</text>",
            left - 6.0,
            y.at(value),
            escape(&format::effect(label, card.difference))
        );
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let _ = write!(
            svg,
            "<text x=\"{left}\" y=\"{:.1}\" fill=\"#555\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#555\">{}</text>",
            height - 8.0,
            escape(&first.date),
            WIDTH - RIGHT,
            height - 8.0,
            escape(&last.date)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One point of the portfolio: a trial's offline gain and business lift.
pub struct PortfolioPoint {
    /// The trial.
    pub label: String,
    /// Relative offline gain.
    pub offline_gain: f64,
    /// Business lift.
    pub lift: f64,
    /// Whether the trial shipped.
    pub shipped: bool,
}

/// Offline gain (x) against business lift (y), Booking's Figure 4 for the user's own models.
pub fn portfolio(points: &[PortfolioPoint], metric: &str) -> String {
    let height = 360.0;
    let (top, bottom, left) = (16.0, height - 40.0, 70.0);
    let x = Scale::covering(points.iter().map(|p| p.offline_gain), left, WIDTH - RIGHT);
    let y = Scale::covering(points.iter().map(|p| p.lift), bottom, top);
    let mut svg = open(
        WIDTH,
        height,
        &format!("Offline {metric} gain against business lift, one point per trial"),
        "Green points shipped; grey ones did not. The dashed lines are zero gain and zero lift.",
    );
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>\
         <line x1=\"{2:.1}\" y1=\"{top}\" x2=\"{2:.1}\" y2=\"{bottom}\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>",
        y.at(0.0),
        WIDTH - RIGHT,
        x.at(0.0)
    );
    for point in points
        .iter()
        .filter(|p| p.offline_gain.is_finite() && p.lift.is_finite())
    {
        let color = if point.shipped { GOOD } else { "#777" };
        let (cx, cy) = (x.at(point.offline_gain), y.at(point.lift));
        // Labels near the right edge go to the left of their point.
        let (label_x, anchor) = if cx > WIDTH - 160.0 {
            (cx - 8.0, "end")
        } else {
            (cx + 8.0, "start")
        };
        let _ = write!(
            svg,
            "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"6\" fill=\"{color}\"><title>{}: offline {}, business {}</title></circle>\
             <text x=\"{label_x:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" fill=\"#333\">{}</text>",
            escape(&point.label),
            format::effect(point.offline_gain, Difference::Relative),
            format::effect(point.lift, Difference::Relative),
            cy - 8.0,
            escape(&point.label)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#333\">offline {} gain over control</text>\
         <text x=\"16\" y=\"{:.1}\" transform=\"rotate(-90 16 {:.1})\" text-anchor=\"middle\" fill=\"#333\">business lift</text>",
        (left + WIDTH - RIGHT) / 2.0,
        height - 6.0,
        escape(metric),
        (top + bottom) / 2.0,
        (top + bottom) / 2.0
    );
    for (value, anchor) in [(x.lo, "start"), (x.hi, "end")] {
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" fill=\"#555\">{}</text>",
            x.at(value),
            bottom + 16.0,
            escape(&format::effect(value, Difference::Relative))
        );
    }
    for value in [y.lo, y.hi] {
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" dominant-baseline=\"middle\" fill=\"#555\">{}</text>",
            left - 6.0,
            y.at(value),
            escape(&format::effect(value, Difference::Relative))
        );
    }
    svg.push_str("</svg>");
    svg
}
