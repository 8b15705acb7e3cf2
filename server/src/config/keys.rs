//! The rules of API key names (and tenant names, which follow them) and of key digests, as
//! `[auth.api_keys]` and `tenants.<name>.api_keys` write them.

use super::error::{ConfigError, invalid};

/// How a tenant or key name may be written, for refusals.
pub(super) const NAME_RULE: &str = "is 1 to 64 lowercase letters, digits, '_' or '-', starting with a letter or digit (names \
                         meant to be set through environment variables must avoid '-')";

/// Whether `name` follows [`NAME_RULE`].
pub(super) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
}

/// Refuses a key digest that is not a SHA-256 in hex.
pub(super) fn check_digest(key: &str, digest: &str) -> Result<(), ConfigError> {
    if digest.len() != 64 || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(invalid(
            key,
            "must be the SHA-256 of the key as 64 hex digits (printf %s KEY | sha256sum)".to_owned(),
        ));
    }
    Ok(())
}
