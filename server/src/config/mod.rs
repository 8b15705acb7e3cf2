//! The gateway's one typed configuration: loaded from a TOML file, overridden by environment
//! variables, then by command-line flags, and validated once at startup so that a bad value stops
//! the process with a message naming its key instead of failing some request later.
//!
//! One file per section, each type with the checks of its keys beside it; this file holds the
//! whole, its loading, and the checks that span sections. The catalog's own types (`[models]`)
//! live with the catalog (`crate::config`), which validates them alone when it reloads.

mod admin;
mod auth;
mod bedrock;
mod duration;
pub(crate) mod error;
mod keys;
mod logging;
mod metrics;
mod models;
mod protocols;
mod quotas;
mod server;
mod sources;
mod telemetry;
mod tenants;
mod tls;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

pub use self::admin::AdminConfig;
pub use self::auth::AuthConfig;
pub use self::bedrock::{BedrockConfig, CredentialsSource};
pub use self::duration::{Millis, Seconds};
pub use self::error::ConfigError;
use self::error::invalid;
pub use self::keys::{ApiKey, ApiKeyTable, format_time};
pub use self::logging::{LogFormat, LoggingConfig};
pub use self::metrics::MetricsConfig;
pub use self::models::validate as validate_models;
pub use self::models::{
    CapabilitiesConfig, DEFAULT_MAX_TOKENS, EmbeddingFormat, GuardrailConfig, Modality, ModelConfig, ModelKind,
    ModelState, PromptCachingConfig, ReasoningStyle, StreamProcessingMode, StructuredOutputStyle, TargetConfig,
    calendar_date, utc_today,
};
pub use self::protocols::ProtocolsConfig;
pub use self::quotas::{QuotaLimits, QuotaStoreKind, QuotasConfig, RedisConfig, RedisIamAuthConfig};
pub use self::server::{Scheduler, ServerConfig};
pub use self::sources::{CatalogConfig, S3DocumentConfig, TenantsSourceConfig};
pub use self::telemetry::TelemetryConfig;
pub use self::tenants::{DEFAULT_TENANT, TenantConfig};
pub use self::tls::TlsConfig;

/// Environment variables with this prefix override the file; `__` separates nesting levels, as in
/// `BEDROCK_GATEWAY_SERVER__LISTEN` or `BEDROCK_GATEWAY_MODELS__CHAT__MODEL_ID`.
pub const ENV_PREFIX: &str = "BEDROCK_GATEWAY_";

/// Everything the gateway needs to run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The gRPC listener and its limits.
    pub server: ServerConfig,
    /// The HTTP doors served on the same listener besides gRPC.
    pub protocols: ProtocolsConfig,
    /// How to reach Bedrock.
    pub bedrock: BedrockConfig,
    /// Log output.
    pub logging: LoggingConfig,
    /// Who may call the gateway service.
    pub auth: AuthConfig,
    /// The teams that call the gateway: how each is recognised, what it may use, how much.
    pub tenants: BTreeMap<String, TenantConfig>,
    /// Where the tenants and their keys are reloaded from while the gateway runs.
    pub tenants_source: TenantsSourceConfig,
    /// Where quota counters live.
    pub quotas: QuotasConfig,
    /// The admin HTTP listener: metrics, liveness, readiness.
    pub admin: AdminConfig,
    /// Metrics output besides the admin listener's Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// Trace export.
    pub telemetry: TelemetryConfig,
    /// Where the catalog is reloaded from while the gateway runs.
    pub catalog: CatalogConfig,
    /// The catalog: logical model name -> Bedrock target.
    pub models: BTreeMap<String, ModelConfig>,
    /// The file this configuration was loaded from (`--config`), whose `[models]` the catalog is
    /// reloaded from (and whose `[tenants]` and `[auth]` the tenants are); not a key.
    #[serde(skip)]
    pub source_file: Option<PathBuf>,
}

impl Config {
    /// Loads the defaults, then `file` (if given), then `BEDROCK_GATEWAY_*` variables from the
    /// environment. Does not validate: flags may still override, so call [`Config::validate`] last.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(invalid("--config", format!("no such file: {}", path.display())));
            }
            figment = figment.merge(Toml::file(path));
        }
        // `CONFIG` names the file itself and is read by the flag parser, not here.
        let env = Env::prefixed(ENV_PREFIX).ignore(&["config"]).split("__");
        let mut config: Config = figment.merge(env).extract().map_err(|err| ConfigError::Load(Box::new(err)))?;
        config.source_file = file.map(Path::to_path_buf);
        Ok(config)
    }

    /// Parses a whole configuration from TOML text, then validates it.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(text))
            .extract()
            .map_err(|err| ConfigError::Load(Box::new(err)))?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration as the gateway applies it, with the defaults that depend on other keys
    /// written out (`auth.require_identity`, each model's `version` and `default_max_tokens`): what
    /// `check-config` prints.
    pub fn with_derived_defaults(mut self) -> Config {
        self.auth.require_identity = Some(self.auth.identity_required(&self.tenants));
        for (name, model) in &mut self.models {
            model.version = Some(model.effective_version(name));
            model.default_max_tokens = Some(model.effective_default_max_tokens());
        }
        self
    }

    /// Checks every value that types alone cannot; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate()?;
        self.bedrock.validate()?;
        self.logging.validate()?;
        self.listeners_apart()?;
        self.metrics.validate()?;
        self.telemetry.validate()?;
        self.catalog.validate(&self.models)?;
        self.tenants_source.validate(&self.tenants, &self.auth)?;
        if let Some(models) = self.models_here() {
            models::validate(models)?;
        }
        let model_names = self.models_here().map(|models| models.keys().cloned().collect());
        validate_tenants(&self.tenants, &self.auth, &self.server, model_names.as_ref())?;
        self.quotas.validate()
    }

    /// The catalog, when it is part of this configuration; `None` when it is read from S3 (and
    /// checked, with the tenants that name its models, when read).
    fn models_here(&self) -> Option<&BTreeMap<String, ModelConfig>> {
        (self.catalog.s3.is_none() || !self.models.is_empty()).then_some(&self.models)
    }

    /// The admin listener cannot share the gRPC listener's port.
    fn listeners_apart(&self) -> Result<(), ConfigError> {
        let port = self.admin.listen.port();
        if port != 0 && port == self.server.listen.port() {
            return Err(invalid("admin.listen", format!("port {port} is server.listen's; use another (default 9090)")));
        }
        Ok(())
    }
}

/// Checks the tenants and the keys of `[auth]` as start-up does, on the `server` they run on, with
/// the catalog's model names when it is known (`models`): at start-up, and for each tenants
/// document a reload brings.
pub fn validate_tenants(
    tenants: &BTreeMap<String, TenantConfig>,
    auth: &AuthConfig,
    server: &ServerConfig,
    models: Option<&BTreeSet<String>>,
) -> Result<(), ConfigError> {
    auth.validate()?;
    tenants::validate(tenants, &auth.api_keys, server, models)
}

#[cfg(test)]
mod tests;
