//! The model outputs of a trial per arm and per day (`rctgate_analysis::distribution`): the
//! engine returns the outputs' range and bin counts; the arms' model versions bring their
//! reference distributions.

use crate::error::StoreResult;
use crate::store::Store;
use crate::time::now;
use duckdb::Connection;
use rctgate_analysis::distribution::{self, ArmReference, BinCount, Distributions, Histogram};
use rctgate_analysis::{DuckDb, ExposureWindow, Plan};
use rctgate_domain::Experiment;

impl Store {
    /// The model outputs of experiment `key`'s exposures in its window, per arm and per day,
    /// with each arm's shape and shifts (`GET /v1/experiments/{key}/distributions`).
    pub fn distributions(&self, key: &str) -> StoreResult<Distributions> {
        let experiment = self.get_experiment(key)?;
        let plan = Plan::exposures_only(&experiment, ExposureWindow::of(&experiment, now()));
        let conn = self.read_connection()?;
        output_distributions(&conn, &plan, || self.references(&experiment))
    }

    /// Each arm's model version and its reference distribution, where it has one.
    pub(crate) fn references(
        &self,
        experiment: &Experiment,
    ) -> StoreResult<Vec<(String, String, Histogram)>> {
        let Some(model) = &experiment.model else {
            return Ok(Vec::new());
        };
        let Ok(view) = self.get_model(model) else {
            return Ok(Vec::new());
        };
        Ok(experiment
            .variants
            .iter()
            .filter_map(|variant| {
                let version = variant.model_version.as_ref()?;
                let reference = view
                    .versions
                    .iter()
                    .find(|v| &v.version == version)?
                    .reference_distribution
                    .clone()?;
                Some((variant.name.clone(), version.clone(), reference))
            })
            .collect())
    }
}

/// The distributions of `plan`'s arms; `references` gives (variant, model version,
/// reference), read only when there are outputs to compare (it reads the model registry).
pub(crate) fn output_distributions(
    conn: &Connection,
    plan: &Plan,
    references: impl FnOnce() -> StoreResult<Vec<(String, String, Histogram)>>,
) -> StoreResult<Distributions> {
    let (n, min, max): (i64, Option<f64>, Option<f64>) =
        conn.query_row(&plan.output_range_sql(&DuckDb), [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
    let scores = matches!((min, max), (Some(min), Some(max)) if min >= 0.0 && max <= 1.0);
    let deciles = if n > 0 && !scores {
        conn.query_row(&plan.output_deciles_sql(&DuckDb), [], |row| {
            (0..9)
                .map(|i| row.get::<_, Option<f64>>(i).map(|v| v.unwrap_or(f64::NAN)))
                .collect::<Result<Vec<f64>, _>>()
        })?
    } else {
        Vec::new()
    };
    let bins = distribution::choose_bins(
        u64::try_from(n).unwrap_or(0),
        min.unwrap_or(f64::NAN),
        max.unwrap_or(f64::NAN),
        &deciles,
    );
    let rows = match &bins {
        Some((_, edges)) => bin_counts(conn, plan, edges)?,
        None => Vec::new(),
    };
    let registered = if bins.is_some() { references()? } else { Vec::new() };
    let mut references = Vec::with_capacity(registered.len());
    for (variant, model_version, reference) in &registered {
        let mut counts = vec![0u64; reference.counts.len()];
        for row in bin_counts(conn, plan, &reference.edges)? {
            if &row.variant == variant {
                if let Some(count) = counts.get_mut(row.bin) {
                    *count += row.n;
                }
            }
        }
        references.push(ArmReference {
            variant,
            model_version,
            reference,
            counts,
        });
    }
    Ok(distribution::analyse(
        &plan.experiment,
        &plan.variants,
        bins,
        &rows,
        &references,
    ))
}

fn bin_counts(conn: &Connection, plan: &Plan, edges: &[f64]) -> StoreResult<Vec<BinCount>> {
    let mut statement = conn.prepare(&plan.output_histogram_sql(&DuckDb, edges))?;
    let rows = statement
        .query_map([], |row| {
            Ok(BinCount {
                variant: row.get(0)?,
                day_micros: row.get(1)?,
                bin: usize::try_from(row.get::<_, i64>(2)?).unwrap_or(usize::MAX),
                n: u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
