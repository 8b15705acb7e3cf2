//! Durations as the configuration writes them: whole seconds or milliseconds, in the unit the
//! key's name says (`_secs`, `_ms`), which is a contract. Typed once, so that code reads a
//! [`Duration`] and never converts a key by hand, and every key is bounded the same way.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, at_least, invalid};

/// The longest duration any setting may have, in seconds. Durations are added to clock readings,
/// so an unbounded value would overflow the clock instead of meaning "forever".
const MAX_SECONDS: u64 = 7 * 24 * 3600;

/// A `_secs` key: whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Seconds(pub u64);

impl Seconds {
    /// The duration.
    pub const fn get(self) -> Duration {
        Duration::from_secs(self.0)
    }

    /// Refuses a value of `key` below `minimum` seconds or above 7 days.
    pub(super) fn check(self, key: &str, minimum: u64) -> Result<(), ConfigError> {
        at_least(key, self.0, minimum)?;
        if self.0 > MAX_SECONDS {
            return Err(invalid(key, format!("is {}, must be at most {MAX_SECONDS} (7 days)", self.0)));
        }
        Ok(())
    }
}

/// A `_ms` key: whole milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Millis(pub u64);

impl Millis {
    /// The duration.
    pub const fn get(self) -> Duration {
        Duration::from_millis(self.0)
    }

    /// Refuses a value of `key` below `minimum` milliseconds or above 7 days.
    pub(super) fn check(self, key: &str, minimum: u64) -> Result<(), ConfigError> {
        at_least(key, self.0, minimum)?;
        if self.0 > MAX_SECONDS * 1000 {
            return Err(invalid(key, format!("is {}, must be at most {} (7 days)", self.0, MAX_SECONDS * 1000)));
        }
        Ok(())
    }
}
