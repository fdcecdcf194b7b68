//! After the ship (issue 23): a model's launch watched through its holdout, its versions'
//! timeline, and the alerts raised so far.
//!
//! The watch analyses the holdout experiment of the production version once per watched
//! metric (the primary, then each guardrail as the primary of a copy), because the daily
//! series is computed for a scorecard's primary only; a quantile guardrail has no series and
//! is watched at the current look. Alerts are stored once per (holdout, kind, metric), so the
//! server announces each one once however often the watch runs.

use crate::catalog::models::promotions;
use crate::error::{StoreError, StoreResult};
use crate::store::Store;
use crate::time::{from_micros, now, Micros};
use crate::trials::analyze::AnalyzeOptions;
use crate::trials::history::stopped_trials;
use crate::trials::ledger::model_entries;
use chrono::{DateTime, SecondsFormat, Utc};
use duckdb::OptionalExt;
use rctgate_analysis::monitoring::{
    watch_points, Alert, HoldoutWatch, TrialInterval, WatchPoint, WatchedMetric,
};
use rctgate_analysis::saturation::{timeline, LongTermLift, ProductionStep, TimelineEntry, ValueTimeline};
use rctgate_analysis::{FrozenResult, Scorecard};
use rctgate_domain::holdout::PRODUCTION_ARM;
use rctgate_domain::{Direction, Experiment, Status};
use serde::Serialize;

/// `GET /v1/models/{name}/monitoring`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelMonitoring {
    pub model: String,
    pub production: Option<String>,
    /// When computed (RFC 3339).
    pub as_of: String,
    /// The production version's running holdout, watched; `null` without one.
    pub holdout: Option<HoldoutWatch>,
    /// Every holdout experiment of the model, running or stopped, oldest first.
    pub holdouts: Vec<String>,
    /// The model's versions over time (value saturation).
    pub timeline: ValueTimeline,
}

/// An alert as stored: when it was first raised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RaisedAlert {
    #[serde(flatten)]
    pub alert: Alert,
    /// When the watch first raised it (RFC 3339).
    pub raised_at: String,
}

impl Store {
    /// The launch of model `name` as its holdout shows it, and its versions' timeline with
    /// `value_saturation` over the last `window` trials.
    pub fn monitoring(&self, name: &str, window: usize) -> StoreResult<ModelMonitoring> {
        let at = now();
        let model = self.get_model(name)?;
        let holdouts: Vec<Experiment> = self
            .list_experiments()?
            .into_iter()
            .filter(|e| e.holdout.as_ref().is_some_and(|h| h.model == name))
            .collect();
        let watched = holdouts.iter().rev().find(|e| {
            e.status == Status::Running
                && e.holdout.as_ref().map(|h| Some(&h.version)) == Some(model.production.as_ref())
        });
        let holdout = match watched {
            Some(experiment) => Some(self.watch(experiment, at)?),
            None => None,
        };
        let timeline = self.timeline(name, &holdouts, holdout.as_ref(), window, at)?;
        Ok(ModelMonitoring {
            model: name.to_string(),
            production: model.production,
            as_of: at.to_rfc3339_opts(SecondsFormat::Secs, true),
            holdout,
            holdouts: holdouts.into_iter().map(|e| e.key).collect(),
            timeline,
        })
    }

    /// Stores the alerts not stored before; returns those, to announce.
    pub fn record_alerts(&self, alerts: &[Alert]) -> StoreResult<Vec<RaisedAlert>> {
        let mut writer = self.writer();
        let tx = writer.conn.transaction()?;
        let mut raised = Vec::new();
        for alert in alerts {
            let known: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM alerts WHERE experiment = ? AND kind = ? AND metric = ?",
                    [&alert.experiment, alert.kind.as_str(), &alert.metric],
                    |row| row.get(0),
                )
                .optional()?;
            if known.is_some() {
                continue;
            }
            let at = now();
            let definition = serde_json::to_string(alert)
                .map_err(|err| StoreError::Corrupt(format!("alert to JSON: {err}")))?;
            tx.execute(
                "INSERT INTO alerts (experiment, model, kind, metric, raised_at, definition) VALUES (?, ?, ?, ?, ?, ?)",
                duckdb::params![
                    alert.experiment,
                    alert.model,
                    alert.kind.as_str(),
                    alert.metric,
                    Micros::of(at),
                    definition
                ],
            )?;
            raised.push(RaisedAlert {
                alert: alert.clone(),
                raised_at: at.to_rfc3339_opts(SecondsFormat::Secs, true),
            });
        }
        tx.commit()?;
        Ok(raised)
    }

    /// Every alert stored for model `name`, oldest first, as first raised.
    pub fn alerts(&self, name: &str) -> StoreResult<Vec<RaisedAlert>> {
        let writer = self.writer();
        let mut statement = writer
            .conn
            .prepare("SELECT definition, epoch_us(raised_at) FROM alerts WHERE model = ? ORDER BY raised_at, kind, metric")?;
        let rows = statement.query_map([name], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?;
        rows.map(|row| {
            let (definition, raised_at) = row?;
            let alert: Alert = serde_json::from_str(&definition)
                .map_err(|err| StoreError::Corrupt(format!("alert: {err}")))?;
            Ok(RaisedAlert {
                alert,
                raised_at: from_micros(raised_at)?.to_rfc3339_opts(SecondsFormat::Secs, true),
            })
        })
        .collect()
    }

    /// The running holdout `experiment` watched as of `at`.
    fn watch(&self, experiment: &Experiment, at: DateTime<Utc>) -> StoreResult<HoldoutWatch> {
        let holdout = experiment
            .holdout
            .clone()
            .ok_or_else(|| StoreError::Corrupt(format!("{} is not a holdout", experiment.key)))?;
        let options = AnalyzeOptions {
            segment: None,
            series: true,
            ..AnalyzeOptions::default()
        };
        let card = self.analyze_experiment(experiment, at, &options)?;
        let mut metrics = Vec::new();
        if let Some(primary) = card.metrics.first() {
            metrics.push(WatchedMetric {
                name: primary.name.clone(),
                role: "primary".into(),
                direction: primary.direction,
                margin: None,
                series: watch_points(&card.cumulative, PRODUCTION_ARM),
            });
        }
        for guardrail in experiment.metrics.guardrails.iter() {
            let Some(result) = card.metrics.iter().find(|m| m.name == *guardrail) else {
                continue;
            };
            let margin = result.guardrail.first().map(|check| check.margin);
            let mut alone = experiment.clone();
            alone.metrics.primary = guardrail.clone();
            alone.metrics.guardrails.clear();
            let series = match self.analyze_experiment(&alone, at, &options) {
                Ok(alone) => watch_points(&alone.cumulative, PRODUCTION_ARM),
                // A quantile guardrail cannot be a primary, so it has no daily series.
                Err(StoreError::Invalid(_)) => Vec::new(),
                Err(err) => return Err(err),
            };
            let series = if series.is_empty() {
                current_point(&card, guardrail, at).into_iter().collect()
            } else {
                series
            };
            metrics.push(WatchedMetric {
                name: guardrail.clone(),
                role: "guardrail".into(),
                direction: result.direction,
                margin,
                series,
            });
        }
        let trial_interval = self.trial_interval(&holdout.trial, &holdout.version)?;
        Ok(HoldoutWatch::new(
            experiment.key.clone(),
            holdout,
            card.difference,
            trial_interval,
            metrics,
        ))
    }

    /// The all-units interval trial `key` measured for `version`'s primary.
    fn trial_interval(&self, key: &str, version: &str) -> StoreResult<Option<TrialInterval>> {
        let trial = self.get_experiment(key)?;
        let Some(frozen) = self.frozen_results(key)? else {
            return Ok(None);
        };
        let Some(index) = trial
            .variants
            .iter()
            .position(|v| v.model_version.as_deref() == Some(version))
        else {
            return Ok(None);
        };
        Ok(frozen.business_lift_at(index).and_then(|lift| {
            Some(TrialInterval {
                effect: lift.effect?,
                ci_low: lift.ci_low?,
                ci_high: lift.ci_high?,
            })
        }))
    }

    fn timeline(
        &self,
        name: &str,
        holdouts: &[Experiment],
        watched: Option<&HoldoutWatch>,
        window: usize,
        at: DateTime<Utc>,
    ) -> StoreResult<ValueTimeline> {
        let (stopped, entries, steps) = {
            let writer = self.writer();
            let stopped = stopped_trials(&writer.conn, name)?;
            let entries = model_entries(&writer.conn, name, &stopped)?;
            (stopped, entries, promotions(&writer.conn, name)?)
        };
        let mut trials = Vec::new();
        for entry in entries {
            let Some((experiment, frozen)) = stopped.iter().find(|(e, _)| e.key == entry.experiment) else {
                continue;
            };
            let direction = frozen.primary().map_or(Direction::Increase, |p| p.direction);
            let long_term =
                self.long_term(holdouts, watched, &entry.experiment, &entry.treatment_version, at)?;
            trials.push(TimelineEntry {
                concluded_at: experiment
                    .stopped_at
                    .map_or(String::new(), |t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
                direction,
                significant: TimelineEntry::is_significant(direction, entry.ci_low, entry.ci_high),
                long_term,
                experiment: entry.experiment,
                version: entry.treatment_version,
                control_version: entry.control_version,
                verdict: entry.verdict,
                primary_metric: entry.primary_metric,
                lift: entry.lift,
                ci_low: entry.ci_low,
                ci_high: entry.ci_high,
                offline_gain: entry.offline_gain,
            });
        }
        trials.sort_by(|a, b| a.concluded_at.cmp(&b.concluded_at));
        let steps = steps
            .into_iter()
            .map(|p| {
                let relative = p.evidence["primary"]["difference"].as_str() == Some("relative");
                ProductionStep {
                    version: p.version,
                    previous: p.previous,
                    at: p.at.to_rfc3339_opts(SecondsFormat::Secs, true),
                    basis: p.evidence["basis"].as_str().unwrap_or("override").to_string(),
                    lift: p.evidence["primary"]["effect"].as_f64().filter(|_| relative),
                    cumulative_lift: None,
                }
            })
            .collect();
        Ok(timeline(name, trials, steps, window))
    }

    /// The latest long-term lift of `version` launched on `trial`: the watched holdout's last
    /// look, a stopped holdout's frozen effect, or a running one's current effect.
    fn long_term(
        &self,
        holdouts: &[Experiment],
        watched: Option<&HoldoutWatch>,
        trial: &str,
        version: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<LongTermLift>> {
        let Some(experiment) = holdouts.iter().rev().find(|e| {
            e.holdout
                .as_ref()
                .is_some_and(|h| h.trial == trial && h.version == version)
        }) else {
            return Ok(None);
        };
        if let Some(watch) = watched.filter(|w| w.experiment == experiment.key) {
            let last = watch.metrics.first().and_then(|m| m.series.last());
            return Ok(last.map(|p| long_term_of(&experiment.key, p)));
        }
        let card = match experiment.status {
            Status::Stopped => self
                .frozen_results(&experiment.key)?
                .as_ref()
                .and_then(FrozenResult::scorecard)
                .cloned(),
            _ => Some(self.analyze_experiment(
                experiment,
                at,
                &AnalyzeOptions {
                    segment: None,
                    series: false,
                    ..AnalyzeOptions::default()
                },
            )?),
        };
        let Some(card) = card else {
            return Ok(None);
        };
        let primary = card.metrics.first().map(|m| m.name.clone()).unwrap_or_default();
        Ok(current_point(&card, &primary, at).map(|p| long_term_of(&experiment.key, &p)))
    }
}

fn long_term_of(experiment: &str, point: &WatchPoint) -> LongTermLift {
    LongTermLift {
        experiment: experiment.to_string(),
        effect: point.effect,
        ci_low: point.ci_low,
        ci_high: point.ci_high,
        date: point.date.clone(),
    }
}

/// Metric `name`'s effect for the production arm in `card`, as one look dated `at`.
fn current_point(card: &Scorecard, name: &str, at: DateTime<Utc>) -> Option<WatchPoint> {
    let metric = card.metrics.iter().find(|m| m.name == name)?;
    let row = metric.variants.iter().find(|v| v.result.name == PRODUCTION_ARM)?;
    let comparison = row.comparison()?;
    Some(WatchPoint {
        date: at.format("%Y-%m-%d").to_string(),
        units: card.units.total(),
        effect: comparison.effect?,
        ci_low: comparison.ci_low,
        ci_high: comparison.ci_high,
    })
}
