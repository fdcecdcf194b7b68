//! Rules for names and bounded text shared by experiments, metrics and events.
//!
//! Experiment keys and metric names end up in URLs (`/v1/experiments/{key}`), TOML table names
//! and generated SQL, so they are restricted to a URL- and identifier-safe alphabet. Free text
//! coming from clients (unit ids, event names) is only bounded, never restricted: whatever a
//! model service uses as a user id must be storable.

use crate::error::ValidationError;

/// Longest experiment key, metric name, variant name or event name, in characters.
pub const MAX_NAME_CHARS: usize = 128;

/// Checks an identifier: 1..=128 characters from `A-Z a-z 0-9 _ - .`.
pub fn check_identifier(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(field, "Must not be empty."));
    }
    let length = value.chars().count();
    if length > MAX_NAME_CHARS {
        return Err(ValidationError::new(
            field,
            format!("Is {length} characters long; at most {MAX_NAME_CHARS} are allowed."),
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(ValidationError::new(
            field,
            format!("Contains {bad:?}; use only letters, digits, '_', '-' and '.'."),
        ));
    }
    Ok(())
}

/// Checks free text: non-empty, at most `max_chars` characters, no control characters.
pub fn check_text(field: &str, value: &str, max_chars: usize) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(field, "Must not be empty."));
    }
    check_length(field, value, max_chars)?;
    if has_control_character(value) {
        return Err(ValidationError::new(
            field,
            "Must not contain control characters.",
        ));
    }
    Ok(())
}

/// Whether `value` holds a control character (`char::is_control`: U+0000–U+001F and
/// U+007F–U+009F), found on the bytes: the first two ranges are single bytes below 0x20 and
/// 0x7F, the last is 0xC2 followed by 0x80–0x9F. Decoding every character was ~2% of an
/// import's CPU.
fn has_control_character(value: &str) -> bool {
    let bytes = value.as_bytes();
    // A pass without early exit that the compiler vectorizes: most values have none of these
    // bytes, and only those that do are looked at byte by byte.
    let suspect = bytes.iter().fold(false, |seen, &byte| {
        seen | (byte < 0x20) | (byte == 0x7f) | (byte == 0xc2)
    });
    suspect
        && bytes.iter().enumerate().any(|(index, &byte)| {
            byte < 0x20 || byte == 0x7f || (byte == 0xc2 && matches!(bytes.get(index + 1), Some(0x80..=0x9f)))
        })
}

/// Checks only the length (in characters); the empty string passes.
pub fn check_length(field: &str, value: &str, max_chars: usize) -> Result<(), ValidationError> {
    // Byte length bounds the character count from above, so most values skip the count.
    if value.len() > max_chars {
        let length = value.chars().count();
        if length > max_chars {
            return Err(ValidationError::new(
                field,
                format!("Is {length} characters long; at most {max_chars} are allowed."),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_found_on_the_bytes_as_by_char() {
        for code in 0..=0x10ffff_u32 {
            let Some(c) = char::from_u32(code) else { continue };
            let text = format!("a{c}b");
            assert_eq!(has_control_character(&text), c.is_control(), "U+{code:04X}");
        }
        assert!(!has_control_character("ünïcödé ¡ ÿ"));
    }

    #[test]
    fn identifiers_accept_url_safe_names() {
        assert!(check_identifier("key", "ranker-v7.2_b").is_ok());
    }

    #[test]
    fn identifiers_reject_empty_long_and_odd_characters() {
        assert!(check_identifier("key", "").is_err());
        assert!(check_identifier("key", &"a".repeat(129)).is_err());
        assert!(check_identifier("key", &"a".repeat(128)).is_ok());
        let err = check_identifier("key", "a b").expect_err("space");
        assert_eq!(err.field.as_deref(), Some("key"));
        assert!(check_identifier("key", "a/b").is_err());
    }

    #[test]
    fn text_is_bounded_in_characters_not_bytes() {
        assert!(check_text("unit", &"é".repeat(10), 10).is_ok());
        assert!(check_text("unit", &"é".repeat(11), 10).is_err());
        assert!(check_text("unit", "", 10).is_err());
        assert!(check_text("unit", "a\nb", 10).is_err());
    }
}
