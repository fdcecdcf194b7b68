//! From an experiment to its scorecard and verdict (SPEC §7, §9). Pure: no I/O, no clock.
//!
//! The flow, with the I/O in the store:
//! 1. [`Plan`] turns an experiment and its metrics into SQL ([`Plan::scorecard_sql`],
//!    [`Plan::daily_sql`]) through a [`Dialect`], so only per-arm sums leave the engine;
//! 2. [`execute`] runs it on an [`Engine`] (DuckDB in the store, Spark through Spark Connect
//!    in `rctgate-spark`: the I/O lives in those implementations) and reads the answers
//!    into [`ArmSums`] and [`DailySums`] rows, the same way for every engine;
//! 3. [`build()`](build::build) runs each metric through the stats crate, adjusts p-values (Holm),
//!    checks SRM and guardrails, and applies the [`policy`];
//! 4. `rctgate-report` presents it (terminal table, HTML, charts).

pub mod build;
pub mod contrasts;
pub mod decision;
pub mod dialect;
pub mod distribution;
pub mod engine;
pub mod execute;
pub mod format;
pub mod frozen;
pub mod latency_cost;
pub mod ledger;
pub mod monitoring;
pub mod novelty;
pub mod plan;
pub mod policy;
pub mod rollout;
pub mod saturation;
pub mod scorecard;
pub mod sums;

pub use build::{build, Inputs};
pub use decision::{Decision, Diagnostic, Severity, Verdict};
pub use dialect::{Dialect, DuckDb, EventCoding, SparkSql};
pub use engine::{Cell, Engine, EngineError, Rows};
pub use frozen::{FrozenResult, PrimaryLift};
pub use plan::{ExposureWindow, Plan, PlannedMetric, Role};
pub use scorecard::{LatencySummary, Movement, Scorecard};
pub use sums::{ArmSums, DailySums, MetricSums, QuantileArm, QuantileArms, SegmentKey, TriggerCounts};
