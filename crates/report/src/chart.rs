//! Charts as inline SVG, drawn with plotters' SVG backend: the forest plot of every metric's
//! effect, the primary metric's cumulative effect over time, the portfolio scatter of
//! offline gain against business lift, and what added latency cost across trials.
//!
//! Each chart gets a `<title>` and `<desc>` (plotters writes neither) so screen readers can
//! announce it, and scales to its container. A chart that cannot be drawn is an empty string,
//! never a panic; non-finite numbers never reach here (the stats crate returns `null`).

use plotters::coord::ranged1d::SegmentValue;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use rctgate_analysis::distribution::Distributions;
use rctgate_analysis::format;
use rctgate_analysis::latency_cost::{Change, LatencyCostPoint, LatencyCostPortfolio};
use rctgate_analysis::monitoring::HoldoutWatch;
use rctgate_analysis::novelty::Novelty;
use rctgate_analysis::saturation::{TimelineEntry, ValueTimeline};
use rctgate_analysis::scorecard::BucketEffect;
use rctgate_analysis::{Movement, Scorecard};
use rctgate_domain::Difference;

const WIDTH: u32 = 720;
const GOOD: RGBColor = RGBColor(0x1b, 0x7f, 0x3b);
const BAD: RGBColor = RGBColor(0xb3, 0x26, 0x1e);
const NEUTRAL: RGBColor = RGBColor(0x4a, 0x4a, 0x4a);
const MUTED: RGBColor = RGBColor(0x88, 0x88, 0x88);
const SERIES: [RGBColor; 4] = [
    RGBColor(0x1f, 0x5f, 0xa8),
    RGBColor(0x8a, 0x4f, 0xb0),
    RGBColor(0xb0, 0x6a, 0x00),
    RGBColor(0x22, 0x7a, 0x7a),
];
const FONT: (&str, u32) = ("sans-serif", 14);

/// Escapes text for SVG and HTML.
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

/// Makes plotters' output responsive and accessible: a viewBox, 100% width, role="img",
/// and a title and description as the first children.
fn finish(svg: String, width: u32, height: u32, title: &str, desc: &str) -> String {
    let Some(end) = svg.find('>') else {
        return String::new();
    };
    let open = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\">\
         <title>{}</title><desc>{}</desc>",
        escape(title),
        escape(desc)
    );
    format!("{open}{}", &svg[end + 1..])
}

/// The drawing area charts paint on.
type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// Draws a chart `height` pixels high with `paint`, then makes it responsive and accessible
/// ([`finish`]); a chart that fails to draw is an empty string.
fn draw(
    height: u32,
    title: &str,
    desc: &str,
    paint: impl FnOnce(&Area<'_>) -> Result<(), Box<dyn std::error::Error>>,
) -> String {
    let mut svg = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        let painted = root.fill(&WHITE).map_err(Into::into).and_then(|()| paint(&root));
        painted.and_then(|()| root.present().map_err(Into::into))
    };
    match drawn {
        Ok(()) => finish(svg, WIDTH, height, title, desc),
        Err(_) => String::new(),
    }
}

/// Data bounds covering `values` and zero, padded.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    let pad = ((hi - lo) * 0.08).max(1e-6);
    (lo - pad, hi + pad)
}

/// One row of the forest plot.
struct ForestRow {
    label: String,
    effect: f64,
    low: f64,
    high: f64,
    color: RGBColor,
}

fn forest_rows(card: &Scorecard) -> Vec<ForestRow> {
    let several_arms = card.metrics.iter().any(|m| m.variants.len() > 2);
    let mut rows = Vec::new();
    for metric in &card.metrics {
        for (index, row) in metric.variants.iter().enumerate().skip(1) {
            let Some(c) = row.comparison() else { continue };
            let (Some(effect), Some(low), Some(high)) = (c.effect, c.ci_low, c.ci_high) else {
                continue;
            };
            let color = match metric.movement(index) {
                Movement::Better => GOOD,
                Movement::Worse => BAD,
                Movement::Inconclusive | Movement::Unknown => NEUTRAL,
            };
            let mut label = format!("{} ({})", metric.name, metric.role.as_str());
            if several_arms {
                label = format!("{label} · {}", row.result.name);
            }
            rows.push(ForestRow {
                label,
                effect,
                low,
                high,
                color,
            });
        }
    }
    rows
}

/// Every metric's effect against control with its interval, one row per (metric, treatment):
/// green when significantly better, red when significantly worse. `None` when no effect can
/// be estimated (no exposures yet).
pub fn forest(card: &Scorecard) -> Option<String> {
    let rows = forest_rows(card);
    // Nothing to draw (no exposures yet, or no effect estimable): no empty axes.
    if rows.is_empty() {
        return None;
    }
    let height = 70 + 34 * rows.len().max(1) as u32;
    let (lo, hi) = bounds(rows.iter().flat_map(|r| [r.low, r.high]));
    let desc = "Points are effects, lines their intervals; the vertical line is no effect. \
                Green is significantly better, red significantly worse.";
    Some(draw(
        height,
        "Effect of each metric against control",
        desc,
        |root| {
            let n = rows.len().max(1);
            let mut chart = ChartBuilder::on(root)
                .margin(12)
                .x_label_area_size(32)
                .y_label_area_size(230)
                // The segmented range 0..last holds last + 1 rows.
                .build_cartesian_2d(lo..hi, (0..n - 1).into_segmented())?;
            let difference = card.difference;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .light_line_style(WHITE)
                .x_labels(5)
                .x_label_formatter(&|x| format::effect(*x, difference))
                .y_labels(n)
                // The first row (the primary) on top.
                .y_label_formatter(&|y| match y {
                    SegmentValue::CenterOf(i) => {
                        rows.get(n - 1 - *i).map(|r| r.label.clone()).unwrap_or_default()
                    }
                    _ => String::new(),
                })
                .label_style(FONT)
                .draw()?;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(0.0, SegmentValue::Exact(0)), (0.0, SegmentValue::Last)],
                MUTED.stroke_width(1),
            )))?;
            for (i, row) in rows.iter().enumerate() {
                let y = SegmentValue::CenterOf(n - 1 - i);
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(row.low, y.clone()), (row.high, y.clone())],
                    row.color.stroke_width(3),
                )))?;
                chart.draw_series(std::iter::once(Circle::new(
                    (row.effect, y),
                    5,
                    row.color.filled(),
                )))?;
            }
            Ok(())
        },
    ))
}

/// The primary metric's effect and interval at the end of each day, one line and band per
/// treatment.
pub fn cumulative(card: &Scorecard) -> String {
    let points = &card.cumulative;
    let Some(first) = points.first() else {
        return String::new();
    };
    let dates: Vec<String> = points.iter().map(|p| p.date.clone()).collect();
    let lines: Vec<Line> = first
        .effects
        .iter()
        .map(|e| Line {
            name: e.variant.clone(),
            points: points
                .iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    let e = p.effects.iter().find(|x| x.variant == e.variant)?;
                    Some((i as f64, e.effect, e.ci_low, e.ci_high))
                })
                .collect(),
        })
        .collect();
    let primary = card
        .metrics
        .first()
        .map_or("the primary metric", |m| m.name.as_str());
    over_time(
        &format!("Cumulative effect on {primary} over time"),
        "The line is the effect as of the end of each day; the band its interval; the flat line is no effect.",
        &dates,
        &lines,
        card.difference,
        None,
    )
}

/// A launch watched through its holdout: the promoted version's lift on the primary over the
/// held-out units at each daily look, and the trial's interval as dashed lines.
pub fn holdout(watch: &HoldoutWatch) -> String {
    let Some(primary) = watch.metrics.first() else {
        return String::new();
    };
    let dates: Vec<String> = primary.series.iter().map(|p| p.date.clone()).collect();
    let line = Line {
        name: watch.holdout.version.clone(),
        points: primary
            .series
            .iter()
            .enumerate()
            .map(|(i, p)| (i as f64, p.effect, p.ci_low, p.ci_high))
            .collect(),
    };
    let reference = watch.trial_interval.map(|t| (t.ci_low, t.ci_high));
    over_time(
        &format!("Lift of {} on {} over its holdout", watch.holdout.version, primary.name),
        "The line is the lift over the held-out units as of each day, the band its always-valid interval; the dashed lines are the trial's interval; the flat line is no effect.",
        &dates,
        std::slice::from_ref(&line),
        watch.difference,
        reference,
    )
}

/// The primary's effect on each day since first exposure (novelty and primacy).
pub fn novelty(novelty: &Novelty, difference: Difference) -> String {
    let dates: Vec<String> = novelty.days.iter().map(|d| format!("day {}", d.day)).collect();
    let line = Line {
        name: novelty.variant.clone(),
        points: novelty
            .days
            .iter()
            .enumerate()
            .filter_map(|(i, d)| {
                d.effect
                    .map(|e| (i as f64, e.effect, Some(e.ci_low), Some(e.ci_high)))
            })
            .collect(),
    };
    over_time(
        &format!("Effect of {} on {} by days since first exposure", novelty.variant, novelty.metric),
        "The line is the effect on each day after a unit's first exposure, over the units observed every day; the band its interval; the flat line is no effect.",
        &dates,
        std::slice::from_ref(&line),
        difference,
        None,
    )
}

/// One line of an effect-over-time chart: (day index, effect, interval bounds).
struct Line {
    name: String,
    points: Vec<(f64, f64, Option<f64>, Option<f64>)>,
}

/// Effects over days with their interval bands, the zero line, and optionally a reference
/// interval as two dashed lines.
fn over_time(
    title: &str,
    desc: &str,
    dates: &[String],
    lines: &[Line],
    difference: Difference,
    reference: Option<(f64, f64)>,
) -> String {
    if dates.is_empty() {
        return String::new();
    }
    let height = 280;
    let values = lines
        .iter()
        .flat_map(|l| l.points.iter())
        .flat_map(|(_, e, lo, hi)| [Some(*e), *lo, *hi])
        .chain(reference.into_iter().flat_map(|(lo, hi)| [Some(lo), Some(hi)]))
        .flatten();
    let (lo, hi) = bounds(values);
    let last = (dates.len() - 1).max(1) as f64;
    draw(height, title, desc, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..last, lo..hi)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(0xee, 0xee, 0xee))
            .x_labels(6)
            .x_label_formatter(&|x| {
                dates
                    .get(x.round().max(0.0) as usize)
                    .cloned()
                    .unwrap_or_default()
            })
            .y_labels(5)
            .y_label_formatter(&|y| format::effect(*y, difference))
            .label_style(FONT)
            .draw()?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 0.0), (last, 0.0)],
            MUTED.stroke_width(1),
        )))?;
        if let Some((low, high)) = reference {
            for y in [low, high] {
                chart.draw_series(DashedLineSeries::new(
                    vec![(0.0, y), (last, y)],
                    6,
                    4,
                    NEUTRAL.stroke_width(1),
                ))?;
            }
        }
        for (t, line) in lines.iter().enumerate() {
            let color = SERIES[t % SERIES.len()];
            let band: Vec<(f64, f64, f64)> = line
                .points
                .iter()
                .filter_map(|(x, _, lo, hi)| Some((*x, (*lo)?, (*hi)?)))
                .collect();
            if band.len() > 1 {
                let outline: Vec<(f64, f64)> = band
                    .iter()
                    .map(|(x, _, hi)| (*x, *hi))
                    .chain(band.iter().rev().map(|(x, lo, _)| (*x, *lo)))
                    .collect();
                chart.draw_series(std::iter::once(Polygon::new(outline, color.mix(0.15).filled())))?;
            }
            chart
                .draw_series(LineSeries::new(
                    line.points.iter().map(|(x, e, ..)| (*x, *e)),
                    color.stroke_width(2),
                ))?
                .label(line.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        }
        if lines.len() > 1 {
            chart
                .configure_series_labels()
                .label_font(FONT)
                .border_style(MUTED)
                .draw()?;
        }
        Ok(())
    })
}

/// Value saturation: each concluded trial of a model in order, its lift with the interval
/// (green when significant), and its holdout's long-term lift as a hollow diamond.
/// `None` without a trial with a lift.
pub fn value_timeline(timeline: &ValueTimeline) -> Option<String> {
    let shown: Vec<(usize, &TimelineEntry, f64)> = timeline
        .trials
        .iter()
        .filter_map(|t| t.lift.filter(|l| l.is_finite()).map(|l| (t, l)))
        .enumerate()
        .map(|(i, (t, l))| (i, t, l))
        .collect();
    if shown.is_empty() {
        return None;
    }
    let values = shown.iter().flat_map(|(_, t, l)| {
        [
            Some(*l),
            t.ci_low,
            t.ci_high,
            t.long_term.as_ref().map(|lt| lt.effect),
        ]
    });
    let (lo, hi) = bounds(values.flatten());
    let last = shown.len() as f64 - 0.5;
    let title = "Trial lift of each version, in the order the trials concluded";
    let desc = "Dots are each trial's lift with its interval (green: significant); hollow diamonds the lift its holdout measures since the launch; the flat line is no lift.";
    Some(draw(300, title, desc, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5f64..last, lo..hi)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(RGBColor(0xee, 0xee, 0xee))
            .x_labels(shown.len().max(2))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() > 1e-6 || i < 0.0 {
                    return String::new();
                }
                shown
                    .get(i as usize)
                    .map(|(_, t, _)| t.version.clone())
                    .unwrap_or_default()
            })
            .y_labels(5)
            .y_label_formatter(&|y| format!("{:+.1}%", y * 100.0))
            .label_style(FONT)
            .draw()?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(-0.5, 0.0), (last, 0.0)],
            MUTED.stroke_width(1),
        )))?;
        for (i, trial, lift) in &shown {
            let x = *i as f64;
            let color = if trial.significant { GOOD } else { MUTED };
            if let (Some(low), Some(high)) = (trial.ci_low, trial.ci_high) {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(x, low), (x, high)],
                    color.stroke_width(2),
                )))?;
            }
            chart.draw_series(std::iter::once(Circle::new((x, *lift), 6, color.filled())))?;
            if let Some(long_term) = &trial.long_term {
                chart.draw_series(std::iter::once(
                    EmptyElement::at((x + 0.15, long_term.effect))
                        + PathElement::new(
                            vec![(0, -7), (7, 0), (0, 7), (-7, 0), (0, -7)],
                            NEUTRAL.stroke_width(2),
                        ),
                ))?;
            }
        }
        Ok(())
    }))
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

/// The model outputs' histogram per arm, overlaid: each arm's share of outputs per bin, on a
/// log scale when the shares span more than two orders of magnitude (imbalanced classes, where
/// the rare class's bins would otherwise be flat). `None` without outputs.
pub fn distributions(found: &Distributions) -> Option<String> {
    let bins = found.edges.len().checked_sub(1).filter(|bins| *bins > 0)?;
    let shares: Vec<(String, Vec<f64>)> = found
        .arms
        .iter()
        .filter(|arm| arm.counts.iter().sum::<u64>() > 0)
        .map(|arm| {
            let total = arm.counts.iter().sum::<u64>() as f64;
            (
                arm.variant.clone(),
                arm.counts.iter().map(|c| *c as f64 / total).collect(),
            )
        })
        .collect();
    if shares.is_empty() {
        return None;
    }
    let positive = shares
        .iter()
        .flat_map(|(_, s)| s.iter().copied())
        .filter(|s| *s > 0.0);
    let (smallest, largest) = positive.fold((f64::INFINITY, 0.0f64), |(lo, hi), s| (lo.min(s), hi.max(s)));
    let log = largest / smallest > 100.0;
    let edges = &found.edges;
    let centre = |i: usize| (edges[i] + edges[i + 1]) / 2.0;
    let (x_lo, x_hi) = (edges[0], edges[bins]);
    let title = "Model outputs per arm";
    let desc = if log {
        "Each arm's share of its model outputs per bin, on a log scale (imbalanced classes)."
    } else {
        "Each arm's share of its model outputs per bin."
    };
    // A log scale is drawn as the logarithm of the shares on a linear axis, labelled back in
    // shares; an empty bin sits at half the smallest share.
    let floor = smallest / 2.0;
    let y = |share: f64| if log { share.max(floor).log10() } else { share };
    let (y_lo, y_hi) = if log {
        (floor.log10(), (largest * 1.5).log10())
    } else {
        (0.0, largest * 1.1)
    };
    let svg = draw(260, title, desc, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(60)
            .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(0xee, 0xee, 0xee))
            .y_labels(5)
            .y_label_formatter(&|value| {
                let share = if log { 10f64.powf(*value) } else { *value };
                format!("{:.1}%", share * 100.0)
            })
            .label_style(FONT)
            .draw()?;
        for (a, (name, arm)) in shares.iter().enumerate() {
            let color = SERIES[a % SERIES.len()];
            chart
                .draw_series(LineSeries::new(
                    (0..bins).map(|i| (centre(i), y(arm[i]))),
                    color.stroke_width(2),
                ))?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .label_font(FONT)
            .border_style(MUTED)
            .draw()?;
        Ok(())
    });
    Some(svg)
}

/// The chart both scatters of relative changes draw on: the mesh with percentages on both
/// axes, and grey lines at zero on each.
fn relative_scatter<'a, 'b>(
    root: &'a Area<'b>,
    (x_lo, x_hi): (f64, f64),
    (y_lo, y_hi): (f64, f64),
    x_desc: &str,
    y_desc: &str,
) -> Result<
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    Box<dyn std::error::Error>,
> {
    let mut chart = ChartBuilder::on(root)
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(76)
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
    chart
        .configure_mesh()
        .light_line_style(RGBColor(0xee, 0xee, 0xee))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|x| format::effect(*x, Difference::Relative))
        .y_label_formatter(&|y| format::effect(*y, Difference::Relative))
        .label_style(FONT)
        .axis_desc_style(FONT)
        .draw()?;
    chart.draw_series([
        PathElement::new(vec![(x_lo, 0.0), (x_hi, 0.0)], MUTED.stroke_width(1)),
        PathElement::new(vec![(0.0, y_lo), (0.0, y_hi)], MUTED.stroke_width(1)),
    ])?;
    Ok(chart)
}

/// Offline gain (x) against business lift (y), Booking's Figure 4 for the user's own models.
pub fn portfolio(points: &[PortfolioPoint], metric: &str) -> String {
    let height = 380;
    let shown: Vec<&PortfolioPoint> = points
        .iter()
        .filter(|p| p.offline_gain.is_finite() && p.lift.is_finite())
        .collect();
    let (x_lo, x_hi) = bounds(shown.iter().map(|p| p.offline_gain));
    let (y_lo, y_hi) = bounds(shown.iter().map(|p| p.lift));
    let title = format!("Offline {metric} gain against business lift, one point per trial");
    let desc = "Green points shipped; grey ones did not. The grey lines are zero gain and zero lift.";
    draw(height, &title, desc, |root| {
        let x_desc = format!("offline {metric} gain over control");
        let mut chart = relative_scatter(root, (x_lo, x_hi), (y_lo, y_hi), &x_desc, "business lift")?;
        let right = x_lo + (x_hi - x_lo) * 0.8;
        for point in &shown {
            let color = if point.shipped {
                GOOD
            } else {
                RGBColor(0x77, 0x77, 0x77)
            };
            chart.draw_series(std::iter::once(Circle::new(
                (point.offline_gain, point.lift),
                6,
                color.filled(),
            )))?;
            // Labels near the right edge go to the left of their point.
            let offset = if point.offline_gain > right {
                (-8 - 7 * point.label.len() as i32, -18)
            } else {
                (8, -18)
            };
            chart.draw_series(std::iter::once(
                EmptyElement::at((point.offline_gain, point.lift))
                    + Text::new(
                        point.label.clone(),
                        offset,
                        FONT.into_font().color(&RGBColor(0x33, 0x33, 0x33)),
                    ),
            ))?;
        }
        Ok(())
    })
}

/// Every latency arm of the concluded latency-cost trials: its primary change against its
/// latency change, each with its interval, one color per primary metric, and that metric's
/// fitted line through the origin. `None` without an arm to draw.
pub fn latency_cost(portfolio: &LatencyCostPortfolio) -> Option<String> {
    let shown: Vec<&LatencyCostPoint> = portfolio
        .points
        .iter()
        .filter(|p| p.arm.latency.effect.is_finite() && p.arm.primary.effect.is_finite())
        .collect();
    if shown.is_empty() {
        return None;
    }
    let ends = |c: &Change| [Some(c.effect), c.ci_low, c.ci_high].into_iter().flatten();
    let (x_lo, x_hi) = bounds(shown.iter().flat_map(|p| ends(&p.arm.latency)));
    let (y_lo, y_hi) = bounds(shown.iter().flat_map(|p| ends(&p.arm.primary)));
    let color = |metric: &str| {
        let index = portfolio
            .fits
            .iter()
            .position(|f| f.primary_metric == metric)
            .unwrap_or(0);
        SERIES[index % SERIES.len()]
    };
    let desc = "One point per arm that added latency on purpose: its latency change across, its \
                primary metric's change up, each with its Šidák-corrected interval. A line per \
                primary metric is its fitted cost of latency, through the origin.";
    Some(draw(
        380,
        "What added latency cost, across trials",
        desc,
        |root| {
            let mut chart = relative_scatter(
                root,
                (x_lo, x_hi),
                (y_lo, y_hi),
                "mean latency per request, change against control",
                "primary metric, change",
            )?;
            for fit in &portfolio.fits {
                if let Some(cost) = fit.cost_per_10_percent_latency {
                    // The fitted slope is the change per +10% latency: 10 times that per +100%.
                    let slope = cost * 10.0;
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(x_lo, slope * x_lo), (x_hi, slope * x_hi)],
                        color(&fit.primary_metric).stroke_width(2),
                    )))?;
                }
            }
            for point in &shown {
                let c = color(&point.primary_metric);
                let (x, y) = (point.arm.latency.effect, point.arm.primary.effect);
                if let (Some(lo), Some(hi)) = (point.arm.primary.ci_low, point.arm.primary.ci_high) {
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(x, lo), (x, hi)],
                        c.stroke_width(2),
                    )))?;
                }
                if let (Some(lo), Some(hi)) = (point.arm.latency.ci_low, point.arm.latency.ci_high) {
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(lo, y), (hi, y)],
                        c.stroke_width(2),
                    )))?;
                }
                chart.draw_series(std::iter::once(Circle::new((x, y), 6, c.filled())))?;
                chart.draw_series(std::iter::once(
                    EmptyElement::at((x, y))
                        + Text::new(
                            format!("{} +{} ms", point.experiment, point.arm.added_latency_ms),
                            (8, -18),
                            FONT.into_font().color(&RGBColor(0x33, 0x33, 0x33)),
                        ),
                ))?;
            }
            Ok(())
        },
    ))
}

/// The primary's effect by model-confidence decile: a point and interval per decile, and the
/// middle deciles' pooled effect as a line. `None` without an estimated decile.
pub fn confidence(card: &Scorecard) -> Option<String> {
    let confidence = card.confidence.as_ref()?;
    let shown: Vec<(u8, BucketEffect)> = confidence
        .buckets
        .iter()
        .filter_map(|b| Some((b.bucket, b.effect?)))
        .collect();
    if shown.is_empty() {
        return None;
    }
    let middle = confidence.middle;
    let (y_lo, y_hi) = bounds(
        shown
            .iter()
            .flat_map(|(_, e)| [e.ci_low, e.ci_high])
            .chain(middle.map(|m| m.effect)),
    );
    let last = f64::from(confidence.buckets.iter().map(|b| b.bucket).max().unwrap_or(1));
    let difference = card.difference;
    let title = format!(
        "{} by model confidence, {} against control",
        confidence.metric, confidence.variant
    );
    let desc = "One point per decile of the model's output (1: least confident), with its interval; \
                the dashed line is deciles 3 to 8 pooled. A top decile far below it is the uncanny valley.";
    Some(draw(300, &title, desc, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(76)
            .build_cartesian_2d(0.5..last + 0.5, y_lo..y_hi)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(0xee, 0xee, 0xee))
            .x_desc("decile of the model's output")
            .y_desc(format!("{} effect", confidence.metric))
            .x_labels(last as usize)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format::effect(*y, difference))
            .label_style(FONT)
            .axis_desc_style(FONT)
            .draw()?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.5, 0.0), (last + 0.5, 0.0)],
            MUTED.stroke_width(1),
        )))?;
        if let Some(middle) = middle {
            chart.draw_series(DashedLineSeries::new(
                vec![(0.5, middle.effect), (last + 0.5, middle.effect)],
                6,
                4,
                SERIES[0].stroke_width(2),
            ))?;
        }
        for (bucket, effect) in &shown {
            let x = f64::from(*bucket);
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(x, effect.ci_low), (x, effect.ci_high)],
                NEUTRAL.stroke_width(3),
            )))?;
            chart.draw_series(std::iter::once(Circle::new(
                (x, effect.effect),
                5,
                NEUTRAL.filled(),
            )))?;
        }
        Ok(())
    }))
}
