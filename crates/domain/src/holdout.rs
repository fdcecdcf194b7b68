//! Holdouts after a launch (issue 23): a promotion may keep a share of units on the version
//! it replaces, so the launch's lift keeps being measured after the trial ended.
//!
//! The holdout is an ordinary running experiment of the model, built from the trial
//! that justified the promotion: control `holdout` (the previous version, at the holdout's
//! weight) against treatment `production` (the promoted version), the trial's primary and
//! guardrails, analysed with the always-valid sequential method because it is watched every
//! day for as long as it runs (a fixed-horizon test read daily would cry wolf;
//! `crate::holdout_plan` builds it). It carries [`Holdout`] so monitoring can find it and the
//! dashboard can say what it is.

use crate::error::ValidationError;
use serde::{Deserialize, Serialize};

/// The largest share of units a holdout may keep: beyond half, the "holdout" is the launch.
pub const MAX_HOLDOUT_SHARE: f64 = 0.5;

/// Name of the holdout experiment's control arm (the previous version).
pub const HOLDOUT_ARM: &str = "holdout";
/// Name of the holdout experiment's treatment arm (the promoted version).
pub const PRODUCTION_ARM: &str = "production";

/// What a holdout experiment holds out (server-owned, written by the promotion).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holdout {
    /// The model.
    pub model: String,
    /// The version promoted.
    pub version: String,
    /// The version the held-out units keep.
    pub previous: String,
    /// The share of units held out, in (0, 0.5].
    pub share: f64,
    /// The trial whose evidence promoted the version, against whose interval the long-term
    /// lift is compared.
    pub trial: String,
}

/// Checks a holdout share named `field`; `example` says what 0.05 keeps (a promotion's
/// holdout and a layer's global holdout share the bound, not the words).
pub fn check_share(field: &str, share: f64, example: &str) -> Result<(), ValidationError> {
    if share.is_finite() && share > 0.0 && share <= MAX_HOLDOUT_SHARE {
        Ok(())
    } else {
        Err(ValidationError::new(
            field,
            format!(
                "Must be a share of units greater than 0 and at most {MAX_HOLDOUT_SHARE} (0.05 keeps 5% {example}); got {share}."
            ),
        ))
    }
}

/// The first of `{model}-{version}-holdout`, `...-holdout-2`, ... that `taken` says is free
/// (a version promoted again after a rollback gets a new holdout).
pub fn holdout_key(model: &str, version: &str, taken: impl Fn(&str) -> bool) -> String {
    let base = format!("{model}-{version}-holdout");
    if !taken(&base) {
        return base;
    }
    (2u32..)
        .map(|n| format!("{base}-{n}"))
        .find(|key| !taken(key))
        .unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_outside_zero_to_a_half_are_refused_naming_the_field() {
        for share in [0.0, -0.1, 0.51, 1.0, f64::NAN, f64::INFINITY] {
            let err = check_share("holdout", share, "on the previous version").expect_err("refused");
            assert_eq!(err.field.as_deref(), Some("holdout"));
        }
        for share in [0.01, 0.05, 0.5] {
            assert!(check_share("holdout", share, "on the previous version").is_ok());
        }
    }

    #[test]
    fn keys_get_a_counter_when_taken() {
        assert_eq!(holdout_key("m", "v2", |_| false), "m-v2-holdout");
        assert_eq!(
            holdout_key("m", "v2", |key| key == "m-v2-holdout"),
            "m-v2-holdout-2"
        );
    }
}
