//! Which engine reads the events of an analysis: the file's own DuckDB (the default), or Spark
//! through Spark Connect, configured by a TOML file and flags (flags win):
//!
//! ```toml
//! [spark]
//! url = "sc://spark.internal:15002"          # ;token=...;use_ssl=true as Spark Connect takes them
//! exposures = "lake.rctgate.exposures"       # a table, or a path: parquet.`/lake/exposures`
//! metric_events = "lake.rctgate.metric_events"
//! broadcast_units = 2000000                  # optional: the most units a join broadcasts
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::ValueEnum;
use rctgate_analysis::Engine;
use rctgate_spark::{Sources, SparkEngine, DEFAULT_BROADCAST_UNITS};
use rctgate_store::EngineFactory;
use serde::Deserialize;

use crate::failure::Failure;

/// The engine, as `--engine` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EngineKind {
    /// The database file's own DuckDB.
    Duckdb,
    /// Spark, through Spark Connect (--spark-url or the --engine-config file's [spark]).
    Spark,
}

/// The flags that configure Spark.
#[derive(clap::Args, Debug, Clone)]
pub struct EngineArgs {
    /// Which engine reads the events; the experiment and its metrics always come from the
    /// file.
    #[arg(long, value_enum, default_value = "duckdb")]
    pub engine: EngineKind,
    /// A TOML file whose [spark] table gives url, exposures and metric_events.
    #[arg(long, value_name = "FILE")]
    engine_config: Option<PathBuf>,
    /// The Spark Connect URL (sc://host:15002).
    #[arg(long, env = "RCTGATE_SPARK_URL", value_name = "URL")]
    spark_url: Option<String>,
    /// The Spark relation holding exposures (a table, or parquet.`/path`).
    #[arg(long, value_name = "RELATION")]
    spark_exposures: Option<String>,
    /// The Spark relation holding metric events.
    #[arg(long, value_name = "RELATION")]
    spark_metric_events: Option<String>,
    /// The most counted units a join sends to every Spark executor instead of moving the
    /// events by unit (default 2000000; 0: never).
    #[arg(long, value_name = "UNITS")]
    spark_broadcast_units: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    spark: Option<SparkConfig>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SparkConfig {
    url: Option<String>,
    exposures: Option<String>,
    metric_events: Option<String>,
    broadcast_units: Option<u64>,
}

impl EngineArgs {
    /// The Spark engine, connected (whatever `--engine` says: the caller asked for Spark).
    pub fn spark(&self) -> Result<SparkEngine, Failure> {
        SparkEngine::connect(&self.spark_sources()?).map_err(Failure::input)
    }

    /// For a server: the engine every analysis opens when `--engine spark` (checked by
    /// connecting once now, so a wrong URL or relation stops the start); `None` for the
    /// file's own.
    pub fn factory(&self) -> Result<Option<EngineFactory>, Failure> {
        let Some(sources) = self.sources()? else {
            return Ok(None);
        };
        drop(SparkEngine::connect(&sources).map_err(Failure::input)?);
        Ok(Some(Arc::new(move || {
            SparkEngine::connect(&sources).map(|engine| Box::new(engine) as Box<dyn Engine>)
        })))
    }

    /// Where Spark finds the events, when `--engine spark`.
    fn sources(&self) -> Result<Option<Sources>, Failure> {
        match self.engine {
            EngineKind::Duckdb => Ok(None),
            EngineKind::Spark => self.spark_sources().map(Some),
        }
    }

    /// Where Spark finds the events, from the flags and the configuration file.
    fn spark_sources(&self) -> Result<Sources, Failure> {
        let file = match &self.engine_config {
            Some(path) => read_config(path)?,
            None => SparkConfig::default(),
        };
        let from = |flag: &Option<String>, file: Option<String>, (option, key): (&str, &str)| {
            let given = |v: &String| !v.trim().is_empty();
            flag.clone().filter(given).or(file.filter(given)).ok_or_else(|| {
                Failure::input(format!(
                    "--engine spark needs --{option}, or {key} in the [spark] table of an --engine-config file."
                ))
            })
        };
        let sources = Sources {
            url: from(&self.spark_url, file.url, ("spark-url", "url"))?,
            exposures: from(
                &self.spark_exposures,
                file.exposures,
                ("spark-exposures", "exposures"),
            )?,
            metric_events: from(
                &self.spark_metric_events,
                file.metric_events,
                ("spark-metric-events", "metric_events"),
            )?,
            broadcast_units: self
                .spark_broadcast_units
                .or(file.broadcast_units)
                .unwrap_or(DEFAULT_BROADCAST_UNITS),
        };
        Ok(sources)
    }
}

fn read_config(path: &Path) -> Result<SparkConfig, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::input(format!("--engine-config {}: {e}.", path.display())))?;
    let config: ConfigFile = toml::from_str(&text).map_err(|e| {
        Failure::input(format!(
            "--engine-config {}: not valid: {}",
            path.display(),
            e.message()
        ))
    })?;
    config.spark.ok_or_else(|| {
        Failure::input(format!(
            "--engine-config {} has no [spark] table (url, exposures, metric_events).",
            path.display()
        ))
    })
}
