//! API-key scopes (SPEC §4).
//!
//! A key carries exactly one scope. `admin` includes every other scope, so one admin key is
//! enough to run everything; the narrower scopes exist so a model service holding an `assign`
//! key cannot change experiments, and a pipeline holding an `ingest` key cannot read results.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// `POST /v1/decide` and OFREP evaluation.
    Assign,
    /// `POST /v1/events`.
    Ingest,
    /// Results and lists.
    Read,
    /// Create and change experiments and models, promote, keys, audit; includes the others.
    Admin,
}

impl Scope {
    /// Every scope, narrowest first.
    pub const ALL: [Scope; 4] = [Scope::Assign, Scope::Ingest, Scope::Read, Scope::Admin];

    /// Whether a key with this scope may call an endpoint that requires `required`.
    pub fn allows(self, required: Scope) -> bool {
        self == Scope::Admin || self == required
    }

    /// The lower-case name used in the API, the CLI and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Assign => "assign",
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of `assign`, `ingest`, `read`, `admin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unknown scope {0:?}; use assign, ingest, read or admin.")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == text)
            .ok_or_else(|| UnknownScope(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_includes_every_scope() {
        for scope in Scope::ALL {
            assert!(Scope::Admin.allows(scope));
        }
    }

    #[test]
    fn narrow_scopes_allow_only_themselves() {
        assert!(Scope::Ingest.allows(Scope::Ingest));
        assert!(!Scope::Ingest.allows(Scope::Read));
        assert!(!Scope::Read.allows(Scope::Admin));
        assert!(!Scope::Assign.allows(Scope::Ingest));
    }

    #[test]
    fn parses_and_prints_lower_case_names() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
            assert_eq!(
                serde_json::to_string(&scope).ok(),
                Some(format!("\"{}\"", scope.as_str()))
            );
        }
        assert!("Admin".parse::<Scope>().is_err());
        assert!("root".parse::<Scope>().is_err());
    }
}
