//! The model outputs of a trial per arm and per day (`rctgate_analysis::distribution`): the
//! engine returns the outputs' range and bin counts; the arms' model versions bring their
//! reference distributions.

use crate::error::{StoreError, StoreResult};
use crate::store::Store;
use crate::time::now;
use crate::trials::duckdb_engine::DuckDbEngine;
use rctgate_analysis::distribution::{Distributions, Histogram};
use rctgate_analysis::execute;
use rctgate_analysis::{ExposureWindow, Plan};
use rctgate_domain::Experiment;

impl Store {
    /// The model outputs of experiment `key`'s exposures in its window, per arm and per day,
    /// with each arm's shape and shifts (`GET /v1/experiments/{key}/distributions`).
    pub fn distributions(&self, key: &str) -> StoreResult<Distributions> {
        let experiment = self.get_experiment(key)?;
        let plan = Plan::exposures_only(&experiment, ExposureWindow::of(&experiment, now()));
        let references = || self.references(&experiment);
        if let Some(open) = self.events_engine() {
            let engine = open().map_err(StoreError::Query)?;
            return execute::output_distributions(&*engine, &plan, references);
        }
        let conn = self.read_connection()?;
        execute::output_distributions(&DuckDbEngine(&conn), &plan, references)
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
