//! API keys as `[auth.api_keys]` and `tenants.<name>.api_keys` write them: the rules of their names
//! (and tenant names, which follow them), of their digests, and of their lifetimes. A key is its
//! digest alone, or a table that also says from when and until when it is valid, so that a key can
//! be issued ahead of its use and retire on its own: rotation is adding the new key, moving clients,
//! then removing the old one, each a reload.

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::{ConfigError, invalid};
use super::models::calendar_date;

/// How a tenant or key name may be written, for refusals.
pub(super) const NAME_RULE: &str = "is 1 to 64 lowercase letters, digits, '_' or '-', starting with a letter or digit (names \
                         meant to be set through environment variables must avoid '-')";

/// One API key: the SHA-256 (hex) of the key, or a table with the digest and its lifetime. Written
/// either way (untagged): the string keeps every existing configuration and environment override
/// (`BEDROCK_GATEWAY_TENANTS__TEAM_A__API_KEYS__CI=<hex>`) working.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ApiKey {
    /// `"<hex>"`: valid until removed.
    Digest(String),
    /// `{ sha256 = "<hex>", not_before = "...", expires_on = "..." }`.
    Table(ApiKeyTable),
}

/// An API key with its lifetime. Times are RFC 3339 (`2027-01-31T00:00:00Z`) or a date
/// (`2027-01-31`), which means 00:00 UTC that day: a key that "expires on" a date is refused from
/// the start of that day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyTable {
    /// The SHA-256 (hex) of the key.
    pub sha256: String,
    /// The key is refused before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// The key is refused from this time on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_on: Option<String>,
}

/// By hand rather than derived untagged, so that a mistake in the table form is named (an unknown
/// field, a missing `sha256`) instead of "did not match any variant". A format that does not say
/// which form it holds (not human-readable, as the configuration's schema tracer) gets the table,
/// the form with fields.
impl<'de> Deserialize<'de> for ApiKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ApiKey, D::Error> {
        if !deserializer.is_human_readable() {
            return ApiKeyTable::deserialize(deserializer).map(ApiKey::Table);
        }
        deserializer.deserialize_any(ApiKeyVisitor)
    }
}

struct ApiKeyVisitor;

impl<'de> Visitor<'de> for ApiKeyVisitor {
    type Value = ApiKey;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str(
            "the key's SHA-256 as hex, or a table { sha256 = \"<hex>\", not_before = \"...\", expires_on = \"...\" }",
        )
    }

    fn visit_str<E: de::Error>(self, digest: &str) -> Result<ApiKey, E> {
        Ok(ApiKey::Digest(digest.to_owned()))
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<ApiKey, M::Error> {
        ApiKeyTable::deserialize(de::value::MapAccessDeserializer::new(map)).map(ApiKey::Table)
    }
}

impl From<String> for ApiKey {
    /// A key valid until removed, by its digest.
    fn from(digest: String) -> ApiKey {
        ApiKey::Digest(digest)
    }
}

impl ApiKey {
    /// The digest as configured (hex, either case).
    pub fn digest(&self) -> &str {
        match self {
            ApiKey::Digest(digest) => digest,
            ApiKey::Table(table) => &table.sha256,
        }
    }

    /// When the key becomes valid; `None` when unset (or invalid, which validation refuses).
    pub fn not_before(&self) -> Option<OffsetDateTime> {
        self.table().and_then(|table| table.not_before.as_deref()).and_then(key_time)
    }

    /// When the key stops being valid; `None` when unset (or invalid, which validation refuses).
    pub fn expires_on(&self) -> Option<OffsetDateTime> {
        self.table().and_then(|table| table.expires_on.as_deref()).and_then(key_time)
    }

    fn table(&self) -> Option<&ApiKeyTable> {
        match self {
            ApiKey::Digest(_) => None,
            ApiKey::Table(table) => Some(table),
        }
    }

    /// Checks the entry configured at `key` (e.g. `tenants.payments.api_keys.ci`): its digest, its
    /// times, and that it is valid for some time.
    pub(super) fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let Some(table) = self.table() else {
            return check_digest(key, self.digest());
        };
        check_digest(&format!("{key}.sha256"), &table.sha256)?;
        let time = |field: &str, value: &Option<String>| match value.as_deref() {
            None => Ok(None),
            Some(text) => key_time(text).map(Some).ok_or_else(|| {
                invalid(
                    &format!("{key}.{field}"),
                    format!(
                        "{text:?} is not a time: write RFC 3339 (\"2027-01-31T00:00:00Z\") or a date (\"2027-01-31\", \
                         meaning 00:00 UTC that day)"
                    ),
                )
            }),
        };
        let not_before = time("not_before", &table.not_before)?;
        let expires_on = time("expires_on", &table.expires_on)?;
        if let (Some(not_before), Some(expires_on)) = (not_before, expires_on)
            && not_before >= expires_on
        {
            return Err(invalid(
                &format!("{key}.not_before"),
                format!("must be before expires_on ({})", format_time(expires_on)),
            ));
        }
        Ok(())
    }
}

/// A key's time as configured: RFC 3339, or a date meaning 00:00 UTC that day.
fn key_time(text: &str) -> Option<OffsetDateTime> {
    match calendar_date(text) {
        Some(date) => Some(date.midnight().assume_utc()),
        None => OffsetDateTime::parse(text, &Rfc3339).ok(),
    }
}

/// `time` in UTC as RFC 3339, for messages.
pub fn format_time(time: OffsetDateTime) -> String {
    time.to_offset(time::UtcOffset::UTC).format(&Rfc3339).unwrap_or_else(|_| time.to_string())
}

/// Whether `name` follows [`NAME_RULE`].
pub(super) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
}

/// Refuses a key digest that is not a SHA-256 in hex.
fn check_digest(key: &str, digest: &str) -> Result<(), ConfigError> {
    if digest.len() != 64 || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(invalid(
            key,
            "must be the SHA-256 of the key as 64 hex digits (printf %s KEY | sha256sum)".to_owned(),
        ));
    }
    Ok(())
}
