//! rctgate's domain: the types users write and send, and every rule about them.
//!
//! This crate owns the shapes of SPEC §6 (events) and §7 (metrics and experiments), the
//! experiment lifecycle and the §5 rule on changing a running experiment, and API-key scopes.
//! It is pure: no I/O, no clock, no database. Whatever validation needs from storage (which
//! metrics and experiments exist) is passed in through the traits of [`catalog`], so the same
//! rules run in the server, the CLI and the store, and are unit-tested here.
//!
//! Invariants the rest of the system relies on:
//! - every failure is a [`ValidationError`] naming the field (`variants[1].weight`,
//!   `line 17: ts`) with one sentence, or a [`Refusal`] (a lifecycle conflict, HTTP 409) with
//!   one reason sentence;
//! - unknown fields are errors everywhere except inside `payload` and `attributes`, so typos
//!   are never silently ignored;
//! - a value that passed validation is storable: strings are bounded, numbers finite, times
//!   are UTC instants.

pub mod analysis;
pub mod api_key;
pub mod attributes;
pub mod catalog;
pub mod design;
pub mod error;
pub mod event;
pub mod event_batch;
pub mod event_fields;
pub mod event_record_ref;
pub mod experiment;
pub mod histogram;
pub mod holdout;
pub mod holdout_plan;
pub mod json;
pub mod lifecycle;
pub mod metric;
pub mod model;
pub mod names;
pub mod scope;
pub mod update_rule;
pub mod verdict;

pub use analysis::{Analysis, Difference, Method};
pub use api_key::{parse_lifetime, KeyRequest, KeySpec};
pub use attributes::{AttributeValue, Attributes};
pub use catalog::{ExperimentCatalog, MetricCatalog};
pub use design::Design;
pub use error::ValidationError;
pub use event::{EventRecord, EventTime};
pub use event_batch::{parse_event_batch, split_event_body, BatchError, BodyPart, EventBatch, PositionKind};
pub use event_fields::{CheckedFields, EventFields, EventType, ReceivedEvent, TimeField};
pub use event_record_ref::EventRecordRef;
pub use experiment::{Experiment, Layer, MetricRoles, Variant};
pub use histogram::Histogram;
pub use holdout::Holdout;
pub use holdout_plan::HoldoutPlan;
pub use json::{from_json_slice, from_json_str, from_json_value};
pub use lifecycle::{Refusal, Status};
pub use metric::{Direction, Metric, MetricKind, MetricSource};
pub use model::{
    check_deployment, check_promotion, Approval, Deployable, Evidence, GateInput, ModelVersion, NewModel,
    OverrideRequest, OverrideStatus, PromotionRequest, TrialRecord,
};
pub use scope::{Scope, Scopes};
pub use update_rule::{check_replacement, same_definition};
pub use verdict::Verdict;
