//! Building the scorecard from the engine's sums: every metric's effects through
//! `rctgate_stats` (the same code path as `rctgate stats`), Holm's adjustment, SRM, guardrail
//! bounds, segments, the cumulative series, then the policy's decision.

use crate::decision::Decision;
use crate::latency_cost::{self, Change, LatencyCost, LatencyCostArm};
use crate::plan::{Plan, PlannedMetric, Role, CONFIDENCE_BUCKETS};
use crate::policy::decide;
use crate::scorecard::LatencySummary;
use crate::scorecard::{
    BucketEffect, Confidence, ConfidenceBucket, CumulativeEffect, CumulativePoint, GuardrailCheck,
    MetricResult, Scorecard, SegmentHeterogeneity, SegmentResult, Segments, Srm, TriggerRate, Triggers,
    UnitCounts, VariantRow, WindowView, SRM_THRESHOLD,
};
use crate::sums::{
    add_into, ArmSums, DailySums, MetricSums, QuantileArm, QuantileArms, SegmentKey, TriggerCounts,
};
use chrono::{DateTime, Utc};
use rctgate_domain::{Difference, Direction, Experiment, Method, MetricKind};
use rctgate_stats::distribution::normal_quantile;
use rctgate_stats::request::{self, StatsRequest, VariantInput, VariantResult};
use rctgate_stats::{adjust, heterogeneity, srm, Alternative};
use std::collections::BTreeMap;

/// What the scorecard is computed from, besides the sums.
pub struct Inputs<'a> {
    /// The experiment.
    pub experiment: &'a Experiment,
    /// Its plan (metrics in order, window, segment).
    pub plan: &'a Plan,
    /// The time of the computation.
    pub as_of: DateTime<Utc>,
    /// The arms of every quantile metric of the plan (their own queries).
    pub quantiles: &'a [QuantileArms],
    /// Each arm's model latency, when exposures carry it (empty otherwise).
    pub latency: &'a [crate::scorecard::LatencySummary],
    /// What the model outputs' distributions raised (`distribution::analyse`).
    pub output_diagnostics: &'a [crate::Diagnostic],
    /// Each arm's exposed and triggered units, in variant order (empty: not computed).
    pub triggers: &'a [TriggerCounts],
    /// Each confidence bucket's (bucket, lowest output, highest output).
    pub confidence_bounds: &'a [(u8, f64, f64)],
    /// With a segment: (variant index, segment token, counts) of exposed units
    /// (`Plan::segment_trigger_counts_sql`).
    pub segment_triggers: &'a [(usize, Option<String>, TriggerCounts)],
    /// What `analysis.planned_units` counts, when not these units (`policy::decide`).
    pub planned_progress: Option<u64>,
}

/// Builds the scorecard from the engine's rows. `daily` may be empty (no series).
pub fn build(inputs: &Inputs<'_>, rows: &[ArmSums], daily: &[DailySums]) -> Scorecard {
    let Inputs {
        experiment,
        plan,
        as_of,
        quantiles,
        latency,
        output_diagnostics,
        triggers,
        confidence_bounds,
        segment_triggers,
        planned_progress,
    } = inputs;
    let variants = &plan.variants;
    let metric_count = plan.metrics.len();
    let excluded_units = rows
        .iter()
        .filter(|row| row.variant.is_none())
        .map(|row| row.n)
        .sum();

    // The overall sums are the segments' sums added up: one query serves both.
    let mut segments: BTreeMap<SegmentKey, Vec<ArmTotal>> = BTreeMap::new();
    let mut overall: Vec<ArmTotal> = variants.iter().map(|_| ArmTotal::new(metric_count)).collect();
    for row in rows {
        let Some(index) = row
            .variant
            .as_ref()
            .and_then(|v| variants.iter().position(|name| name == v))
        else {
            continue;
        };
        overall[index].add(row);
        segments
            .entry(row.segment.clone())
            .or_insert_with(|| variants.iter().map(|_| ArmTotal::new(metric_count)).collect())[index]
            .add(row);
    }
    let units = unit_counts(variants, &overall);
    let weights: Vec<f64> = experiment.variants.iter().map(|v| v.weight).collect();
    let counts: Vec<f64> = overall.iter().map(|arm| arm.n as f64).collect();
    let srm_p = srm::srm_p_value(&counts, &weights);
    let srm_p = if srm_p.is_finite() { srm_p } else { 1.0 };
    let srm = Srm {
        p_value: srm_p,
        ok: srm_p >= SRM_THRESHOLD,
        threshold: SRM_THRESHOLD,
    };

    let analyser = MetricAnalyser { experiment, plan };
    let mut metrics: Vec<MetricResult> = plan
        .metrics
        .iter()
        .enumerate()
        .map(|(i, planned)| {
            let arms = if planned.is_quantile() {
                let found = quantiles.iter().find(|(index, _)| *index == i);
                MetricInputs::Quantiles(found.map(|(_, arms)| arms.as_slice()))
            } else {
                MetricInputs::sums(&overall, i)
            };
            analyser.metric(planned, &arms)
        })
        .collect();
    adjust_holm(std::iter::once(&mut metrics));

    let segments = plan.segment.as_ref().map(|attribute| {
        let heterogeneity = analyser.heterogeneity(&segments);
        let mut segment_trigger_counts =
            trigger_counts_by_segment(&segments, variants.len(), segment_triggers);
        let mut values: Vec<SegmentResult> = segments
            .into_iter()
            .filter(|(key, _)| *key != SegmentKey::All)
            .map(|(key, arms)| SegmentResult {
                value: key.label(),
                triggers: segment_trigger_counts
                    .remove(&key)
                    .and_then(|counts| trigger_rates(variants, &counts)),
                units: unit_counts(variants, &arms),
                metrics: plan
                    .metrics
                    .iter()
                    .enumerate()
                    .map(|(i, planned)| {
                        // Quantiles are computed over the whole trial only.
                        let inputs = if planned.is_quantile() {
                            MetricInputs::Quantiles(None)
                        } else {
                            MetricInputs::sums(&arms, i)
                        };
                        analyser.metric(planned, &inputs)
                    })
                    .collect(),
            })
            .collect();
        values.sort_by(|a, b| {
            let pooled = |s: &SegmentResult| s.value == SegmentKey::Other.label();
            pooled(a)
                .cmp(&pooled(b))
                .then(b.units.total().cmp(&a.units.total()))
                .then(a.value.cmp(&b.value))
        });
        adjust_holm(values.iter_mut().map(|segment| &mut segment.metrics));
        Segments {
            attribute: attribute.clone(),
            values,
            heterogeneity,
        }
    });

    let confidence = analyser.confidence(rows, confidence_bounds);
    let cumulative = analyser.cumulative(daily);
    let latency_cost = analyser.latency_cost(&overall, latency);
    let mut card = Scorecard {
        experiment: experiment.key.clone(),
        hypothesis: experiment.hypothesis.clone(),
        as_of: rctgate_domain::event::format_ts(*as_of),
        status: experiment.status.as_str().to_string(),
        method: experiment.analysis.method,
        difference: experiment.analysis.difference,
        alpha: experiment.analysis.alpha,
        window: WindowView {
            start: plan.window.start.map(rctgate_domain::event::format_ts),
            end: rctgate_domain::event::format_ts(plan.window.end),
        },
        units,
        excluded_units,
        srm,
        metrics,
        decision: Decision::pending(),
        diagnostics: Vec::new(),
        cumulative,
        segments,
        latency: latency.to_vec(),
        latency_cost,
        triggers: trigger_rates(variants, triggers),
        confidence,
        novelty: None,
        design: Vec::new(),
    };
    let (decision, diagnostics) = decide(&card, experiment, *as_of, *planned_progress);
    card.decision = decision;
    card.diagnostics = diagnostics;
    card.diagnostics.extend(output_diagnostics.iter().cloned());
    card
}

/// Exposed units' trigger counts per shown segment (in variant order): each token's segment,
/// or "(other)" when its value is not among the shown ones.
fn trigger_counts_by_segment(
    shown: &BTreeMap<SegmentKey, Vec<ArmTotal>>,
    arms: usize,
    counts: &[(usize, Option<String>, TriggerCounts)],
) -> BTreeMap<SegmentKey, Vec<TriggerCounts>> {
    let mut found: BTreeMap<SegmentKey, Vec<TriggerCounts>> = BTreeMap::new();
    for (variant, token, c) in counts.iter().filter(|(variant, ..)| *variant < arms) {
        let key = SegmentKey::from_token(token.as_deref(), false);
        let key = if shown.contains_key(&key) {
            key
        } else {
            SegmentKey::Other
        };
        if !shown.contains_key(&key) {
            continue;
        }
        let total = &mut found
            .entry(key)
            .or_insert_with(|| vec![TriggerCounts::default(); arms])[*variant];
        total.units += c.units;
        total.triggered += c.triggered;
        total.marked += c.marked;
    }
    found
}

/// The trigger section, when any exposure says whether it triggered: each arm's rate, and the
/// homogeneity test over the arms that mark triggers.
fn trigger_rates(variants: &[String], counts: &[TriggerCounts]) -> Option<Triggers> {
    if counts.len() != variants.len() || counts.iter().all(|c| c.marked == 0) {
        return None;
    }
    let rows: Vec<TriggerRate> = variants
        .iter()
        .zip(counts)
        .map(|(variant, c)| TriggerRate {
            variant: variant.clone(),
            units: c.units,
            triggered: c.triggered,
            rate: (c.units > 0).then(|| c.triggered as f64 / c.units as f64),
            marks_triggers: c.marked > 0,
        })
        .collect();
    let marking: Vec<(u64, u64)> = rows
        .iter()
        .filter(|r| r.marks_triggers)
        .map(|r| (r.units, r.triggered))
        .collect();
    let p_value = heterogeneity::rates_homogeneity(&marking);
    Some(Triggers {
        variants: rows,
        p_value,
        ok: p_value.is_none_or(|p| p >= SRM_THRESHOLD),
    })
}

/// One arm's sums for every metric.
#[derive(Debug, Clone)]
struct ArmTotal {
    n: u64,
    metrics: Vec<MetricSums>,
}

impl ArmTotal {
    fn new(metric_count: usize) -> ArmTotal {
        ArmTotal {
            n: 0,
            metrics: vec![[None; crate::plan::COLUMNS_PER_METRIC]; metric_count],
        }
    }

    fn add(&mut self, row: &ArmSums) {
        self.absorb(row.n, &row.metrics);
    }

    fn merge(&mut self, other: &ArmTotal) {
        self.absorb(other.n, &other.metrics);
    }

    fn absorb(&mut self, n: u64, metrics: &[MetricSums]) {
        self.n += n;
        for (total, sums) in self.metrics.iter_mut().zip(metrics) {
            add_into(total, sums);
        }
    }
}

fn unit_counts(variants: &[String], arms: &[ArmTotal]) -> UnitCounts {
    UnitCounts(
        variants
            .iter()
            .cloned()
            .zip(arms.iter().map(|arm| arm.n))
            .collect(),
    )
}

/// Holm across the primary and secondary metrics and every treatment of every group given
/// (one group for the scorecard, one per segment for segments).
fn adjust_holm<'a>(groups: impl Iterator<Item = &'a mut Vec<MetricResult>>) {
    let mut slots: Vec<&mut Option<Option<f64>>> = Vec::new();
    let mut p_values = Vec::new();
    for metrics in groups {
        for metric in metrics.iter_mut() {
            let family = matches!(metric.role, Role::Primary | Role::Secondary);
            for row in metric.variants.iter_mut().skip(1) {
                let p = row.comparison().and_then(|c| c.p_value);
                row.p_value_adjusted = Some(None);
                if let (true, Some(p)) = (family, p) {
                    p_values.push(p);
                    slots.push(&mut row.p_value_adjusted);
                }
            }
        }
    }
    for (slot, adjusted) in slots.into_iter().zip(adjust::holm(&p_values)) {
        *slot = Some(Some(adjusted));
    }
}

struct MetricAnalyser<'a> {
    experiment: &'a Experiment,
    plan: &'a Plan,
}

/// What one metric is analysed from, per variant in plan order.
enum MetricInputs<'a> {
    /// Units and the metric's sums (the scorecard query).
    Sums(Vec<(u64, &'a MetricSums)>),
    /// A quantile's arms (its own queries); `None` where they were not computed (segments).
    Quantiles(Option<&'a [Option<QuantileArm>]>),
}

impl<'a> MetricInputs<'a> {
    fn sums(arms: &'a [ArmTotal], index: usize) -> MetricInputs<'a> {
        MetricInputs::Sums(arms.iter().map(|arm| (arm.n, &arm.metrics[index])).collect())
    }

    /// The count of arm `i`: units, or a quantile's values.
    fn n(&self, i: usize) -> u64 {
        match self {
            MetricInputs::Sums(arms) => arms.get(i).map_or(0, |(n, _)| *n),
            MetricInputs::Quantiles(arms) => arms
                .and_then(|arms| arms.get(i).copied().flatten())
                .map_or(0, |arm| arm.n),
        }
    }

    /// The request's arm `i`, named `name`.
    fn variant(&self, i: usize, name: &str) -> VariantInput {
        match self {
            MetricInputs::Sums(arms) => {
                let (n, sums) = arms
                    .get(i)
                    .copied()
                    .unwrap_or((0, &[None; crate::plan::COLUMNS_PER_METRIC]));
                VariantInput {
                    name: name.to_string(),
                    n,
                    sum: Some(sums[0].unwrap_or(0.0)),
                    sum_squares: sums[1],
                    den_sum: sums[2],
                    den_sum_squares: sums[3],
                    num_den_sum_product: sums[4],
                    pre_sum: sums[5],
                    pre_sum_squares: sums[6],
                    post_pre_sum_product: sums[7],
                    ..VariantInput::default()
                }
            }
            MetricInputs::Quantiles(arms) => match arms.and_then(|arms| arms.get(i).copied().flatten()) {
                Some(arm) => VariantInput {
                    name: name.to_string(),
                    n: arm.n,
                    n_star: Some(arm.n),
                    quantile_hat: Some(arm.estimate),
                    quantile_lower: Some(arm.lower),
                    quantile_upper: Some(arm.upper),
                    main_sum: Some(arm.below_sum),
                    main_sum_squares: Some(arm.below_sum_squares),
                    denominator_sum: Some(arm.values_sum),
                    denominator_sum_squares: Some(arm.values_sum_squares),
                    main_denominator_sum_product: Some(arm.below_values_sum_product),
                    n_clusters: Some(arm.units),
                    ..VariantInput::default()
                },
                // No values: the request refuses the arm (n < 2) and the metric says why.
                None => VariantInput {
                    name: name.to_string(),
                    ..VariantInput::default()
                },
            },
        }
    }
}

impl MetricAnalyser<'_> {
    /// The primary's effect of the first treatment per model-confidence decile (the rows'
    /// `bucket`), each a frequentist test at the analysis' alpha, and the one-sided z-test that
    /// the top decile's effect is worse (by the metric's direction) than deciles 3-8 pooled.
    fn confidence(&self, rows: &[ArmSums], bounds: &[(u8, f64, f64)]) -> Option<Confidence> {
        let primary = self.plan.metrics.first().filter(|p| !p.is_quantile())?;
        let treatment = self.plan.variants.get(1)?;
        let mut deciles: BTreeMap<u8, Vec<ArmTotal>> = BTreeMap::new();
        for row in rows
            .iter()
            .filter(|row| row.bucket > 0 && row.segment == SegmentKey::All)
        {
            let Some(index) = row
                .variant
                .as_ref()
                .and_then(|v| self.plan.variants.iter().position(|n| n == v))
            else {
                continue;
            };
            deciles.entry(row.bucket).or_insert_with(|| {
                self.plan
                    .variants
                    .iter()
                    .map(|_| ArmTotal::new(self.plan.metrics.len()))
                    .collect()
            })[index]
                .add(row);
        }
        if deciles.is_empty() {
            return None;
        }
        let effect_of = |arms: &[ArmTotal]| self.frequentist_effect(&self.frequentist(primary, 0, arms)?, 1);
        let buckets: Vec<ConfidenceBucket> = deciles
            .iter()
            .map(|(&bucket, arms)| {
                let bound = bounds.iter().find(|(b, ..)| *b == bucket);
                ConfidenceBucket {
                    bucket,
                    output_low: bound.map(|(_, low, _)| *low),
                    output_high: bound.map(|(.., high)| *high),
                    units: [arms[0].n, arms[1].n],
                    effect: effect_of(arms).map(|(effect, _)| effect),
                }
            })
            .collect();
        let mut middle: Vec<ArmTotal> = self
            .plan
            .variants
            .iter()
            .map(|_| ArmTotal::new(self.plan.metrics.len()))
            .collect();
        for (_, arms) in deciles.range(3..=8) {
            for (total, arm) in middle.iter_mut().zip(arms) {
                total.merge(arm);
            }
        }
        let middle = (deciles.len() == usize::from(CONFIDENCE_BUCKETS))
            .then(|| effect_of(&middle))
            .flatten();
        let top = deciles.get(&CONFIDENCE_BUCKETS).and_then(|arms| effect_of(arms));
        let p_value = match (top, middle) {
            (Some((top, top_se)), Some((middle, middle_se))) if top_se > 0.0 && middle_se > 0.0 => {
                let gap = (top.effect - middle.effect) / (top_se * top_se + middle_se * middle_se).sqrt();
                let worse = if primary.metric.direction == Direction::Increase {
                    gap
                } else {
                    -gap
                };
                Some(rctgate_stats::distribution::normal_cdf(worse))
            }
            _ => None,
        };
        Some(Confidence {
            metric: primary.metric.name.clone(),
            variant: treatment.clone(),
            buckets,
            middle: middle.map(|(effect, _)| effect),
            top_vs_middle_p_value: p_value.filter(|p| p.is_finite()),
        })
    }

    /// Cochran's Q and I-squared across the segments' effects, per metric (quantiles aside)
    /// and treatment. Each segment's effect and its variance come from the frequentist test
    /// at the analysis' alpha, whatever the method: its interval is effect ± z·se, so the
    /// variance is read off its width (a sequential interval is wider than its standard error
    /// says). Segments without an estimate are left out.
    fn heterogeneity(&self, segments: &BTreeMap<SegmentKey, Vec<ArmTotal>>) -> Vec<SegmentHeterogeneity> {
        let mut found = Vec::new();
        for (i, planned) in self.plan.metrics.iter().enumerate() {
            if planned.is_quantile() {
                continue;
            }
            let responses: Vec<request::StatsResponse> = segments
                .iter()
                .filter(|(key, _)| **key != SegmentKey::All)
                .filter_map(|(_, arms)| self.frequentist(planned, i, arms))
                .collect();
            for (t, variant) in self.plan.variants.iter().enumerate().skip(1) {
                let (effects, variances): (Vec<f64>, Vec<f64>) = responses
                    .iter()
                    .filter_map(|response| self.frequentist_effect(response, t))
                    .map(|(effect, se)| (effect.effect, se * se))
                    .unzip();
                if let Some(h) = heterogeneity::cochran(&effects, &variances) {
                    found.push(SegmentHeterogeneity {
                        metric: planned.metric.name.clone(),
                        role: planned.role,
                        variant: variant.clone(),
                        segments: effects.len(),
                        q: h.q,
                        df: h.df,
                        p_value: h.p_value,
                        // Higgins' reading: less spread than sampling error is none.
                        i_squared: h.i_squared.max(0.0),
                    });
                }
            }
        }
        found
    }

    /// Metric `index` over `arms` by the frequentist test at the analysis' alpha, whatever the
    /// method: its intervals are effect ± z·se, so each treatment's standard error can be read
    /// off the width (a sequential interval is wider than its standard error says). What the
    /// segment and model-confidence comparisons test with.
    fn frequentist(
        &self,
        planned: &PlannedMetric,
        index: usize,
        arms: &[ArmTotal],
    ) -> Option<request::StatsResponse> {
        let mut request = self.request(planned, &MetricInputs::sums(arms, index), Alternative::TwoSided);
        request.method = Method::Frequentist;
        request.analyse().ok()
    }

    /// Treatment `t`'s effect and interval in a [`MetricAnalyser::frequentist`] response, with
    /// its standard error.
    fn frequentist_effect(&self, response: &request::StatsResponse, t: usize) -> Option<(BucketEffect, f64)> {
        let c = response.variants.get(t)?.comparison.as_ref()?;
        let (effect, ci_low, ci_high) = (c.effect?, c.ci_low?, c.ci_high?);
        let z = normal_quantile(1.0 - self.experiment.analysis.alpha / 2.0);
        Some((
            BucketEffect {
                effect,
                ci_low,
                ci_high,
            },
            (ci_high - ci_low) / (2.0 * z),
        ))
    }

    /// The stats request for one metric over its inputs.
    fn request(
        &self,
        planned: &PlannedMetric,
        inputs: &MetricInputs<'_>,
        alternative: Alternative,
    ) -> StatsRequest {
        let analysis = &self.experiment.analysis;
        let kind = match planned.metric.kind {
            MetricKind::Proportion => request::Kind::Proportion,
            _ if planned.is_ratio() => request::Kind::Ratio,
            MetricKind::Mean | MetricKind::Count => request::Kind::Mean,
            MetricKind::Ratio => request::Kind::Ratio,
            MetricKind::Quantile => request::Kind::Quantile,
        };
        let variants = self
            .plan
            .variants
            .iter()
            .enumerate()
            .map(|(i, name)| inputs.variant(i, name))
            .collect();
        StatsRequest {
            metric: request::MetricSpec {
                kind,
                quantile: planned.metric.quantile.filter(|_| planned.is_quantile()),
                cuped: planned.cuped(),
                direction: planned.metric.direction,
            },
            method: analysis.method,
            difference: analysis.difference,
            alternative,
            alpha: analysis.alpha,
            sequential_tuning: analysis.sequential_tuning,
            expected_weights: Some(self.experiment.variants.iter().map(|v| v.weight).collect()),
            variants,
        }
    }

    fn metric(&self, planned: &PlannedMetric, inputs: &MetricInputs<'_>) -> MetricResult {
        let mut result = MetricResult {
            name: planned.metric.name.clone(),
            role: planned.role,
            kind: planned.metric.kind,
            direction: planned.metric.direction,
            cuped: planned.cuped(),
            variants: Vec::new(),
            guardrail: Vec::new(),
            error: None,
        };
        if let MetricInputs::Quantiles(None) = inputs {
            result.error =
                Some("Quantile metrics are computed over the whole trial, not per segment.".to_string());
        }
        match self.request(planned, inputs, Alternative::TwoSided).analyse() {
            Ok(response) => {
                result.variants = response
                    .variants
                    .into_iter()
                    .map(|row| VariantRow {
                        result: row,
                        p_value_adjusted: None,
                    })
                    .collect();
                if planned.role == Role::Guardrail {
                    result.guardrail = self.guardrail(planned, inputs, &result.variants);
                }
            }
            Err(err) => {
                if result.error.is_none() {
                    result.error = Some(describe_input_error(&self.plan.variants, &err));
                }
                result.variants = self
                    .plan
                    .variants
                    .iter()
                    .enumerate()
                    .map(|(i, name)| VariantRow {
                        result: VariantResult {
                            name: name.clone(),
                            n: inputs.n(i),
                            mean: 0.0,
                            variance: 0.0,
                            comparison: None,
                        },
                        p_value_adjusted: None,
                    })
                    .collect();
            }
        }
        result
    }

    /// The latency-cost section, when treatment arms add latency on purpose: each arm's
    /// relative latency and primary changes at the Šidák-corrected alpha, and the fitted cost
    /// (`latency_cost`).
    fn latency_cost(&self, overall: &[ArmTotal], latency: &[LatencySummary]) -> Option<LatencyCost> {
        let arms: Vec<(usize, &str, f64)> = self
            .experiment
            .variants
            .iter()
            .enumerate()
            .skip(1)
            .filter_map(|(i, v)| latency_cost::added_latency(&v.payload).map(|ms| (i, v.name.as_str(), ms)))
            .collect();
        let primary = self.plan.metrics.first()?;
        if arms.is_empty() || primary.is_quantile() {
            return None;
        }
        let analysis = &self.experiment.analysis;
        let alpha = latency_cost::sidak(analysis.alpha, arms.len());
        let mut request = self.request(primary, &MetricInputs::sums(overall, 0), Alternative::TwoSided);
        request.alpha = alpha;
        request.difference = Difference::Relative;
        let primary = request.analyse().ok()?;
        let latency_request = StatsRequest {
            metric: request::MetricSpec {
                kind: request::Kind::Mean,
                quantile: None,
                cuped: false,
                direction: Direction::Decrease,
            },
            expected_weights: None,
            variants: self
                .plan
                .variants
                .iter()
                .map(|name| {
                    let summary = latency.iter().find(|s| &s.variant == name);
                    let (n, mean, sd) = summary.map_or((0, 0.0, 0.0), |s| (s.requests, s.mean, s.std_dev));
                    let count = n as f64;
                    VariantInput {
                        name: name.clone(),
                        n,
                        sum: Some(count * mean),
                        sum_squares: Some((count - 1.0).max(0.0) * sd * sd + count * mean * mean),
                        ..VariantInput::default()
                    }
                })
                .collect(),
            ..request
        };
        let latency = latency_request.analyse().ok()?;
        let change = |response: &request::StatsResponse, i: usize| {
            let comparison = response.variants.get(i)?.comparison.as_ref()?;
            Some(Change {
                effect: comparison.effect?,
                ci_low: comparison.ci_low,
                ci_high: comparison.ci_high,
            })
        };
        let arms: Vec<LatencyCostArm> = arms
            .into_iter()
            .filter_map(|(i, name, added)| {
                Some(LatencyCostArm {
                    variant: name.to_string(),
                    added_latency_ms: added,
                    latency: change(&latency, i)?,
                    primary: change(&primary, i)?,
                })
            })
            .collect();
        let points: Vec<(f64, f64)> = arms
            .iter()
            .map(|a| (a.latency.effect, a.primary.effect))
            .collect();
        Some(LatencyCost {
            alpha,
            cost_per_10_percent_latency: latency_cost::cost_per_10_percent(&points),
            arms,
        })
    }

    /// The one-sided check of a guardrail against the margin, per treatment.
    fn guardrail(
        &self,
        planned: &PlannedMetric,
        inputs: &MetricInputs<'_>,
        two_sided: &[VariantRow],
    ) -> Vec<GuardrailCheck> {
        let analysis = &self.experiment.analysis;
        let increase = planned.metric.direction == Direction::Increase;
        // The frequentist test can be one-sided toward "worse"; the other methods report a
        // two-sided interval, whose good-side bound is the conservative choice.
        let one_sided = (analysis.method == Method::Frequentist).then(|| {
            let alternative = if increase {
                Alternative::Less
            } else {
                Alternative::Greater
            };
            self.request(planned, inputs, alternative).analyse().ok()
        });
        let control_mean = two_sided.first().map_or(0.0, |row| row.result.mean);
        let margin = match analysis.difference {
            Difference::Relative => analysis.guardrail_margin,
            Difference::Absolute => analysis.guardrail_margin * control_mean.abs(),
        };
        two_sided
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, row)| {
                let interval = match &one_sided {
                    Some(Some(response)) => response.variants.get(i).and_then(|v| v.comparison.clone()),
                    Some(None) => None,
                    None => row.comparison().cloned(),
                };
                let bound = interval.and_then(|c| if increase { c.ci_high } else { c.ci_low });
                let breached = match bound {
                    Some(bound) if increase => bound < -margin,
                    Some(bound) => bound > margin,
                    None => false,
                };
                GuardrailCheck {
                    variant: row.result.name.clone(),
                    margin,
                    bound,
                    breached,
                }
            })
            .collect()
    }

    /// The primary metric's cumulative effect at the end of each day with data.
    fn cumulative(&self, daily: &[DailySums]) -> Vec<CumulativePoint> {
        let Some(primary) = self.plan.metrics.first() else {
            return Vec::new();
        };
        let variants = &self.plan.variants;
        let mut totals: Vec<ArmTotal> = variants.iter().map(|_| ArmTotal::new(1)).collect();
        let mut points = Vec::new();
        let mut rows = daily.iter().peekable();
        while let Some(first) = rows.peek() {
            let day = first.day_micros;
            while let Some(row) = rows.next_if(|row| row.day_micros == day) {
                if let Some(index) = variants.iter().position(|name| *name == row.variant) {
                    totals[index].n += row.n;
                    add_into(&mut totals[index].metrics[0], &row.sums);
                }
            }
            let inputs = MetricInputs::sums(&totals, 0);
            let Ok(response) = self.request(primary, &inputs, Alternative::TwoSided).analyse() else {
                continue;
            };
            let effects: Vec<CumulativeEffect> = response
                .variants
                .iter()
                .skip(1)
                .filter_map(|row| {
                    let comparison = row.comparison.as_ref()?;
                    Some(CumulativeEffect {
                        variant: row.name.clone(),
                        effect: comparison.effect?,
                        ci_low: comparison.ci_low,
                        ci_high: comparison.ci_high,
                    })
                })
                .collect();
            if effects.is_empty() {
                continue;
            }
            let Some(date) = DateTime::<Utc>::from_timestamp_micros(day) else {
                continue;
            };
            points.push(CumulativePoint {
                date: date.format("%Y-%m-%d").to_string(),
                units: totals.iter().map(|arm| arm.n).sum(),
                effects,
            });
        }
        points
    }
}

/// The stats crate names fields of its request (`variants[1].n`); a scorecard reader knows
/// variants by name.
fn describe_input_error(variants: &[String], err: &rctgate_stats::InputError) -> String {
    let arm = err
        .field
        .strip_prefix("variants[")
        .and_then(|rest| rest.split(']').next())
        .and_then(|index| index.parse::<usize>().ok())
        .and_then(|index| variants.get(index));
    match (arm, err.field.ends_with(".n")) {
        (Some(name), true) => {
            format!("Variant {name} has fewer than 2 units, too few to estimate a variance.")
        }
        (Some(name), false) => format!("Variant {name}: {}", err.message),
        (None, _) => err.message.clone(),
    }
}
