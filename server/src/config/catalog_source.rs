//! `[catalog]`: where the catalog is reloaded from while the gateway runs (the config file's
//! `[models]`, or an S3 object) and how often.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::bedrock::CredentialsSource;
use super::duration::Seconds;
use super::error::{ConfigError, invalid};
use crate::config::ModelConfig;

/// Where the catalog is reloaded from while the gateway runs: this file's `[models]`, or an S3
/// object, checked every `reload_secs` and on SIGHUP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// How often the source is checked for a new catalog, in seconds; 0: only on SIGHUP.
    pub reload_secs: Seconds,
    /// Read the catalog from this S3 object instead of `[models]` (which must then be absent).
    pub s3: Option<S3CatalogConfig>,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig { reload_secs: Seconds(15), s3: None }
    }
}

/// The S3 object holding the catalog: JSON, `{"models": {...}}` with the `[models]` table's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3CatalogConfig {
    /// The bucket.
    pub bucket: String,
    /// The object's key.
    pub key: String,
    /// The bucket's region; unset: `bedrock.region`.
    #[serde(default)]
    pub region: Option<String>,
    /// Overrides the S3 endpoint (an S3 stand-in for tests); unset: the regional endpoint, which
    /// the gateway reaches through the VPC's S3 gateway endpoint.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// `aws-chain` (the task role), or `emulator`: placeholder keys for a local stand-in.
    #[serde(default)]
    pub credentials: CredentialsSource,
}

impl CatalogConfig {
    /// Checks the section's keys; with `s3`, the catalog is not also in the file (`models`).
    pub(super) fn validate(&self, models: &BTreeMap<String, ModelConfig>) -> Result<(), ConfigError> {
        if self.reload_secs.0 > 86_400 {
            return Err(invalid("catalog.reload_secs", "must be from 0 (SIGHUP only) to 86400".to_owned()));
        }
        let Some(s3) = &self.s3 else {
            return Ok(());
        };
        if !models.is_empty() {
            return Err(invalid(
                "models",
                "with catalog.s3 the catalog is read from S3: remove the [models] tables (or catalog.s3)".to_owned(),
            ));
        }
        if s3.bucket.trim().is_empty() {
            return Err(invalid("catalog.s3.bucket", "must not be empty".to_owned()));
        }
        if s3.key.trim().is_empty() {
            return Err(invalid("catalog.s3.key", "must not be empty".to_owned()));
        }
        if s3.credentials == CredentialsSource::Emulator && s3.endpoint_url.is_none() {
            return Err(invalid("catalog.s3.credentials", "\"emulator\" needs catalog.s3.endpoint_url".to_owned()));
        }
        Ok(())
    }
}
