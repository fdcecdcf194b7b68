//! What a request for a new API key may say (`POST /v1/keys`, `rctgate keys create`).
//!
//! Keys are named so a listing tells them apart ("checkout model service", "nightly CI"), and
//! may expire: a key handed to a contractor or a CI system should not outlive its use. The
//! lifetime is a duration (`90d`) rather than a date so the same command works in a script on
//! any day; the store turns it into an instant when it creates the key.

use crate::error::ValidationError;
use crate::names::check_text;
use crate::scope::Scopes;
use chrono::Duration;
use serde::Deserialize;

/// Longest key name, in characters.
pub const MAX_KEY_NAME_CHARS: usize = 200;
/// Longest lifetime a key may be given: ten years.
pub const MAX_KEY_LIFETIME_DAYS: i64 = 3650;

/// `{"scopes": ["assign", "ingest"], "name": "...", "expires_in": "90d"}`; `scope` (one name
/// or a comma list) is the same field under its older name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// What the key may do.
    #[serde(alias = "scope")]
    pub scopes: Scopes,
    /// A label for listings.
    #[serde(default)]
    pub name: Option<String>,
    /// Lifetime from creation (`30m`, `12h`, `90d`, `2w`); none: until revoked.
    #[serde(default)]
    pub expires_in: Option<String>,
}

/// A checked [`KeyRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// What the key may do.
    pub scopes: Scopes,
    /// A label for listings.
    pub name: Option<String>,
    /// Lifetime from creation; none: until revoked.
    pub lifetime: Option<Duration>,
}

impl KeySpec {
    /// A key with these scopes, no name, no expiry.
    pub fn scopes(scopes: impl Into<Scopes>) -> KeySpec {
        KeySpec {
            scopes: scopes.into(),
            name: None,
            lifetime: None,
        }
    }
}

impl KeyRequest {
    /// Checks the name and parses the lifetime.
    pub fn validate(self) -> Result<KeySpec, ValidationError> {
        if let Some(name) = &self.name {
            check_text("name", name, MAX_KEY_NAME_CHARS)?;
        }
        let lifetime = self
            .expires_in
            .as_deref()
            .map(|text| parse_lifetime("expires_in", text))
            .transpose()?;
        Ok(KeySpec {
            scopes: self.scopes,
            name: self.name,
            lifetime,
        })
    }
}

/// Parses a lifetime: a positive whole number and a unit, `s`, `m`, `h`, `d` or `w`
/// (`90d`, `12h`), at most ten years; anything else is an error naming `field`.
pub fn parse_lifetime(field: &str, text: &str) -> Result<Duration, ValidationError> {
    let bad = || {
        ValidationError::new(
            field,
            format!(
                "{text:?} is not a duration; write a whole number and a unit, s, m, h, d or w (90d, 12h)."
            ),
        )
    };
    let text_trimmed = text.trim();
    let unit_at = text_trimmed
        .char_indices()
        .last()
        .map(|(index, _)| index)
        .ok_or_else(bad)?;
    let (number, unit) = text_trimmed.split_at(unit_at);
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let count: i64 = number.parse().map_err(|_| bad())?;
    let seconds_per_unit: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    if count == 0 {
        return Err(ValidationError::new(
            field,
            "Must be longer than zero; leave it out for a key that lasts until it is revoked.",
        ));
    }
    let seconds = count
        .checked_mul(seconds_per_unit)
        .filter(|s| *s <= MAX_KEY_LIFETIME_DAYS * 86_400)
        .ok_or_else(|| {
            ValidationError::new(
                field,
                format!("{text:?} is longer than the {MAX_KEY_LIFETIME_DAYS} days a key may last."),
            )
        })?;
    Ok(Duration::seconds(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Scope;

    #[test]
    fn lifetimes_take_one_unit() {
        assert_eq!(parse_lifetime("e", "90d"), Ok(Duration::days(90)));
        assert_eq!(parse_lifetime("e", "12h"), Ok(Duration::hours(12)));
        assert_eq!(parse_lifetime("e", "2w"), Ok(Duration::weeks(2)));
        assert_eq!(parse_lifetime("e", "30m"), Ok(Duration::minutes(30)));
        assert_eq!(parse_lifetime("e", " 5s "), Ok(Duration::seconds(5)));
        for bad in [
            "",
            "d",
            "90",
            "90 d",
            "-1d",
            "1.5d",
            "90days",
            "0d",
            "99999999999999999999d",
            "4000d",
            "١d",
        ] {
            let err = parse_lifetime("expires_in", bad).expect_err(bad);
            assert_eq!(err.field.as_deref(), Some("expires_in"), "{bad}");
        }
    }

    #[test]
    fn requests_accept_the_old_single_scope() {
        let request: KeyRequest =
            serde_json::from_str(r#"{"scope": "read", "name": "pm"}"#).expect("old form");
        let spec = request.validate().expect("valid");
        assert_eq!(spec.scopes, Scopes::of(Scope::Read));
        assert_eq!(spec.name.as_deref(), Some("pm"));
        let request: KeyRequest =
            serde_json::from_str(r#"{"scopes": ["assign", "ingest"], "expires_in": "90d"}"#)
                .expect("new form");
        let spec = request.validate().expect("valid");
        assert_eq!(spec.scopes.to_list(), "assign,ingest");
        assert_eq!(spec.lifetime, Some(Duration::days(90)));
        let request: KeyRequest = serde_json::from_str(r#"{"scopes": "read", "name": ""}"#).expect("parses");
        assert_eq!(
            request.validate().expect_err("empty name").field.as_deref(),
            Some("name")
        );
    }
}
