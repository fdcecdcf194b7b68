//! API-key scopes (SPEC §4) and the set of them a key carries.
//!
//! The scopes follow the people of a trial rather than the endpoints: a model service holds
//! `assign` and `ingest` (one key), an experimenter `experiment` (define, start and stop
//! trials, register models, promote on trial evidence), a product manager or a CI pipeline
//! `read`, and the few operators `admin` (keys, the audit log, and overriding the gate).
//! Two implications keep keys short: `admin` includes every scope, and `experiment` includes
//! `read`, since nobody can run a trial without seeing it. Nothing else implies anything, so
//! the power to override the gate stays with `admin` alone. `docs/scopes.md` has the table of
//! every endpoint and the scope it needs.

use crate::error::ValidationError;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a key may do: one capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// `POST /v1/decide` and OFREP evaluation.
    Assign,
    /// `POST /v1/events`.
    Ingest,
    /// Results, lists, the gate check, the dashboard.
    Read,
    /// Create and change metrics and experiments, start and stop them, register models and
    /// versions, promote on trial evidence; includes `read`.
    Experiment,
    /// Keys, the audit log, overrides of the gate; includes every other scope.
    Admin,
}

impl Scope {
    /// Every scope, narrowest first.
    pub const ALL: [Scope; 5] = [
        Scope::Assign,
        Scope::Ingest,
        Scope::Read,
        Scope::Experiment,
        Scope::Admin,
    ];

    /// Whether holding this scope grants `required`.
    pub fn allows(self, required: Scope) -> bool {
        self == required || self == Scope::Admin || (self == Scope::Experiment && required == Scope::Read)
    }

    /// The lower-case name used in the API, the CLI and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Assign => "assign",
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Experiment => "experiment",
            Scope::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of the scope names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unknown scope {0:?}; use assign, ingest, read, experiment or admin.")]
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

/// The scopes one key carries: never empty once parsed.
///
/// Written as a list (`["assign", "ingest"]` in JSON, `assign,ingest` on the command line and
/// in the database); read from either form, so `{"scope": "read"}` from before keys held
/// several scopes still means what it meant.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

impl Scopes {
    /// One scope.
    pub fn of(scope: Scope) -> Scopes {
        Scopes(scope.bit())
    }

    /// Whether any scope in the set grants `required`.
    pub fn allows(self, required: Scope) -> bool {
        self.iter().any(|scope| scope.allows(required))
    }

    /// Whether the set names `scope` itself.
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// The scopes, narrowest first.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |scope| self.contains(*scope))
    }

    /// `assign,ingest`: the form of the CLI and the database.
    pub fn to_list(self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(",")
    }

    /// Parses `assign,ingest` (blanks around names allowed, repeats merged); an empty list or
    /// an unknown name is an error naming `field`.
    pub fn parse_list(field: &str, text: &str) -> Result<Scopes, ValidationError> {
        Self::from_names(field, text.split(','))
    }

    fn from_names<'a>(
        field: &str,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Scopes, ValidationError> {
        let mut bits = 0;
        for name in names {
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            let scope: Scope = name
                .parse()
                .map_err(|err: UnknownScope| ValidationError::new(field, err.to_string()))?;
            bits |= scope.bit();
        }
        if bits == 0 {
            return Err(ValidationError::new(
                field,
                "A key needs at least one scope: assign, ingest, read, experiment or admin.",
            ));
        }
        Ok(Scopes(bits))
    }
}

impl From<Scope> for Scopes {
    fn from(scope: Scope) -> Scopes {
        Scopes::of(scope)
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_list())
    }
}

impl Serialize for Scopes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        for scope in self.iter() {
            seq.serialize_element(&scope)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Scopes, D::Error> {
        struct ScopesVisitor;

        impl<'de> Visitor<'de> for ScopesVisitor {
            type Value = Scopes;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of scopes (assign, ingest, read, experiment, admin)")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Scopes, E> {
                Scopes::from_names("scopes", text.split(',')).map_err(|err| E::custom(err.message))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scopes, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Scopes::from_names("scopes", names.iter().map(String::as_str))
                    .map_err(|err| de::Error::custom(err.message))
            }
        }

        deserializer.deserialize_any(ScopesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_includes_every_scope_and_experiment_includes_read() {
        for scope in Scope::ALL {
            assert!(Scope::Admin.allows(scope));
        }
        assert!(Scope::Experiment.allows(Scope::Read));
        assert!(!Scope::Experiment.allows(Scope::Admin));
        assert!(!Scope::Experiment.allows(Scope::Assign));
    }

    #[test]
    fn narrow_scopes_allow_only_themselves() {
        assert!(Scope::Ingest.allows(Scope::Ingest));
        assert!(!Scope::Ingest.allows(Scope::Read));
        assert!(!Scope::Read.allows(Scope::Admin));
        assert!(!Scope::Read.allows(Scope::Experiment));
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

    #[test]
    fn a_set_allows_what_any_member_allows() {
        let service = Scopes::parse_list("scope", "assign, ingest,assign").expect("valid");
        assert_eq!(service.to_list(), "assign,ingest");
        assert!(service.allows(Scope::Assign) && service.allows(Scope::Ingest));
        assert!(!service.allows(Scope::Read));
        assert!(Scopes::of(Scope::Experiment).allows(Scope::Read));
    }

    #[test]
    fn empty_and_unknown_lists_name_the_field() {
        for text in ["", " , ", "read,reader"] {
            let err = Scopes::parse_list("scope", text).expect_err(text);
            assert_eq!(err.field.as_deref(), Some("scope"), "{text}");
        }
    }

    #[test]
    fn json_takes_a_list_or_the_old_single_name() {
        let list: Scopes = serde_json::from_str(r#"["read", "assign"]"#).expect("list");
        assert_eq!(list.to_list(), "assign,read");
        assert_eq!(
            serde_json::to_string(&list).ok().as_deref(),
            Some(r#"["assign","read"]"#)
        );
        let single: Scopes = serde_json::from_str(r#""admin""#).expect("single");
        assert_eq!(single, Scopes::of(Scope::Admin));
        assert!(serde_json::from_str::<Scopes>("[]").is_err());
        assert!(serde_json::from_str::<Scopes>(r#"["root"]"#).is_err());
    }
}
