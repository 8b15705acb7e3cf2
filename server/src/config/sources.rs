//! `[catalog]` and `[tenants_source]`: where the catalog and the tenants are reloaded from while
//! the gateway runs (the config file itself, or an S3 object each) and how often.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::auth::AuthConfig;
use super::bedrock::CredentialsSource;
use super::duration::Seconds;
use super::error::{ConfigError, invalid};
use super::tenants::TenantConfig;
use crate::config::ModelConfig;

/// Where the catalog is reloaded from while the gateway runs: this file's `[models]`, or an S3
/// object, checked every `reload_secs` and on SIGHUP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// How often the source is checked for a new catalog, in seconds; 0: only on SIGHUP.
    pub reload_secs: Seconds,
    /// Read the catalog from this S3 object instead of `[models]` (which must then be absent):
    /// JSON, `{"models": {...}}` with the `[models]` table's shape.
    pub s3: Option<S3DocumentConfig>,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig { reload_secs: Seconds(15), s3: None }
    }
}

/// Where the tenants and their keys are reloaded from while the gateway runs: this file's
/// `[tenants]` and `[auth]`, or an S3 object, checked every `reload_secs` and on SIGHUP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantsSourceConfig {
    /// How often the source is checked for new tenants, in seconds; 0: only on SIGHUP.
    pub reload_secs: Seconds,
    /// Read the tenants from this S3 object instead of `[tenants]` and `auth.api_keys` (which must
    /// then be absent): JSON, `{"tenants": {...}}` with the `[tenants]` table's shape.
    pub s3: Option<S3DocumentConfig>,
}

impl Default for TenantsSourceConfig {
    fn default() -> Self {
        TenantsSourceConfig { reload_secs: Seconds(15), s3: None }
    }
}

/// One S3 object holding a document the gateway reloads (the catalog, the tenants).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3DocumentConfig {
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

impl S3DocumentConfig {
    /// Checks the object's keys, configured at `section` (e.g. `catalog.s3`).
    fn validate(&self, section: &str) -> Result<(), ConfigError> {
        if self.bucket.trim().is_empty() {
            return Err(invalid(&format!("{section}.bucket"), "must not be empty".to_owned()));
        }
        if self.key.trim().is_empty() {
            return Err(invalid(&format!("{section}.key"), "must not be empty".to_owned()));
        }
        if self.credentials == CredentialsSource::Emulator && self.endpoint_url.is_none() {
            return Err(invalid(
                &format!("{section}.credentials"),
                format!("\"emulator\" needs {section}.endpoint_url"),
            ));
        }
        Ok(())
    }
}

fn check_reload_secs(key: &str, reload_secs: Seconds) -> Result<(), ConfigError> {
    if reload_secs.0 > 86_400 {
        return Err(invalid(key, "must be from 0 (SIGHUP only) to 86400".to_owned()));
    }
    Ok(())
}

impl CatalogConfig {
    /// Checks the section's keys; with `s3`, the catalog is not also in the file (`models`).
    pub(super) fn validate(&self, models: &BTreeMap<String, ModelConfig>) -> Result<(), ConfigError> {
        check_reload_secs("catalog.reload_secs", self.reload_secs)?;
        let Some(s3) = &self.s3 else {
            return Ok(());
        };
        if !models.is_empty() {
            return Err(invalid(
                "models",
                "with catalog.s3 the catalog is read from S3: remove the [models] tables (or catalog.s3)".to_owned(),
            ));
        }
        s3.validate("catalog.s3")
    }
}

impl TenantsSourceConfig {
    /// Checks the section's keys; with `s3`, no tenant or API key is also in the file.
    pub(super) fn validate(
        &self,
        tenants: &BTreeMap<String, TenantConfig>,
        auth: &AuthConfig,
    ) -> Result<(), ConfigError> {
        check_reload_secs("tenants_source.reload_secs", self.reload_secs)?;
        let Some(s3) = &self.s3 else {
            return Ok(());
        };
        if !tenants.is_empty() {
            return Err(invalid(
                "tenants",
                "with tenants_source.s3 the tenants are read from S3: remove the [tenants] tables (or \
                 tenants_source.s3)"
                    .to_owned(),
            ));
        }
        if !auth.api_keys.is_empty() {
            return Err(invalid(
                "auth.api_keys",
                "with tenants_source.s3 the tenants and their keys are read from S3: move these keys to the \
                 tenants document (or remove tenants_source.s3)"
                    .to_owned(),
            ));
        }
        s3.validate("tenants_source.s3")
    }
}
