//! The one error of configuration, and the checks every section uses to build it, so that every
//! refusal names its key the same way. A leaf: the catalog's own checks use it too.

/// A configuration that cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or an environment variable could not be read or has the wrong type.
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    /// A value is out of its allowed range.
    #[error("configuration key `{key}`: {reason}")]
    Invalid {
        /// Dotted path of the key, as written in the TOML file.
        key: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
}

/// The refusal of `key`, saying what is wrong and what is allowed.
pub(crate) fn invalid(key: &str, reason: String) -> ConfigError {
    ConfigError::Invalid { key: key.to_owned(), reason }
}

/// Refuses `value` of `key` below `minimum`.
pub(crate) fn at_least(key: &str, value: u64, minimum: u64) -> Result<(), ConfigError> {
    if value < minimum {
        return Err(invalid(key, format!("is {value}, must be at least {minimum}")));
    }
    Ok(())
}
