//! The statistics engine of rctgate: sufficient statistics in, effects,
//! intervals, p-values, chances to win, SRM and sample sizes out.
//!
//! Why a crate of its own: every number a product manager reads comes from
//! here, so it is kept pure (no I/O, no async, no clock), small, and checked
//! against the tools users already trust. The conventions are gbstats 0.8.0's
//! (GrowthBook's engine) so that the same sufficient statistics give the same
//! figures to 1e-6 relative; `tests/reference/generate.py` at the repository
//! root writes the golden files the tests compare against.
//!
//! Data flow: per-arm [`SufficientStats`] → per-arm [`ArmEstimate`] (mean and
//! variance, CUPED-adjusted or delta-method for ratios) → a [`Contrast`] of a
//! treatment against control (effect and its variance, relative or absolute)
//! → a test ([`frequentist`], [`sequential`], [`bayesian`]). [`request`] wraps
//! that pipeline in the JSON contract of `rctgate stats` (SPEC §8).
//!
//! Invariants: no function here panics on any input, and no `NaN` or infinity
//! leaves the crate in a result: where a figure is undefined the result says
//! why ([`Undefined`]).

pub mod adjust;
pub mod bayesian;
mod contrast;
pub mod distribution;
mod error;
pub mod frequentist;
pub mod heterogeneity;
mod inference;
mod moments;
pub mod power;
pub mod quantile;
pub mod request;
pub mod sequential;
pub mod srm;
mod sufficient;

pub use contrast::{ArmEstimate, Contrast, Difference, Undefined};
pub use error::InputError;
pub use inference::{Alternative, Direction, Inference};
pub use moments::Moments;
pub use quantile::{ClusterSums, QuantileSums};
pub use sufficient::{Scale, SufficientStats};
