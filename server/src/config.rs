//! The gateway's one typed configuration: loaded from a TOML file, overridden by environment
//! variables, then by command-line flags, and validated once at startup so that a bad value stops
//! the process with a message naming its key instead of failing some request later.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Environment variables with this prefix override the file; `__` separates nesting levels, as in
/// `BEDROCK_GATEWAY_SERVER__LISTEN` or `BEDROCK_GATEWAY_MODELS__CHAT__MODEL_ID`.
pub const ENV_PREFIX: &str = "BEDROCK_GATEWAY_";

/// Everything the gateway needs to run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The gRPC listener and its limits.
    pub server: ServerConfig,
    /// How to reach Bedrock.
    pub bedrock: BedrockConfig,
    /// Log output.
    pub logging: LoggingConfig,
    /// Who may call the gateway service.
    pub auth: AuthConfig,
    /// The catalog: logical model name -> Bedrock target.
    pub models: BTreeMap<String, ModelConfig>,
}

/// The gRPC listener and its limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the gRPC server binds.
    pub listen: SocketAddr,
    /// Expect a PROXY protocol v2 header on every connection, as the NLB sends when its target
    /// group enables it; must match the target group's setting.
    pub proxy_protocol: bool,
    /// Largest request message accepted, in bytes; larger ones get RESOURCE_EXHAUSTED.
    pub max_request_bytes: usize,
    /// Most requests (streams included) in flight at once; more get RESOURCE_EXHAUSTED. The default
    /// is what a 1024 MiB task survives when every request in flight is of `max_request_bytes`
    /// (worst case ≈ 17 MiB + limit × 1.7 × max_request_bytes + worker threads × 87 MiB; see
    /// BENCHMARKS.md), not what it can stream: an open stream costs about 28 KiB once its request
    /// has been sent to Bedrock.
    pub max_concurrent_requests: usize,
    /// Longest a single stream may run, whatever deadline the client sets.
    pub max_stream_duration_secs: u64,
    /// Longest Bedrock may stay silent within a stream before the stream fails as incomplete.
    pub stream_idle_timeout_secs: u64,
    /// How long in-flight streams may take to finish after SIGTERM before they are cut.
    pub shutdown_grace_secs: u64,
    /// Interval of HTTP/2 keepalive pings; well inside the NLB's 350 s idle timeout.
    pub http2_keepalive_interval_secs: u64,
    /// How long to wait for a keepalive ping's answer before closing the connection.
    pub http2_keepalive_timeout_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 50051)),
            proxy_protocol: false,
            max_request_bytes: 4 * 1024 * 1024,
            max_concurrent_requests: 100,
            max_stream_duration_secs: 900,
            stream_idle_timeout_secs: 120,
            shutdown_grace_secs: 30,
            http2_keepalive_interval_secs: 60,
            http2_keepalive_timeout_secs: 20,
        }
    }
}

impl ServerConfig {
    /// See [`ServerConfig::max_stream_duration_secs`].
    pub fn max_stream_duration(&self) -> Duration {
        Duration::from_secs(self.max_stream_duration_secs)
    }

    /// See [`ServerConfig::stream_idle_timeout_secs`].
    pub fn stream_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.stream_idle_timeout_secs)
    }

    /// See [`ServerConfig::shutdown_grace_secs`].
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

/// Where Bedrock credentials come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialsSource {
    /// The standard AWS chain: environment, profile, web identity, ECS task role, instance role.
    #[default]
    AwsChain,
    /// Fixed placeholder keys, only for a Bedrock emulator (requires `bedrock.endpoint_url`).
    Emulator,
}

/// How to reach Bedrock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BedrockConfig {
    /// AWS region of the Bedrock runtime.
    pub region: String,
    /// Overrides the Bedrock runtime endpoint (a VPC endpoint's DNS name, or the emulator).
    pub endpoint_url: Option<String>,
    /// Where credentials come from.
    pub credentials: CredentialsSource,
    /// Attempts per Bedrock call before the stream starts (1 = no retry). Kept low because clients
    /// retry too, and retries multiply.
    pub max_attempts: u32,
    /// Timeout for opening a connection to Bedrock.
    pub connect_timeout_ms: u64,
}

impl Default for BedrockConfig {
    fn default() -> Self {
        BedrockConfig {
            region: "us-east-1".to_owned(),
            endpoint_url: None,
            credentials: CredentialsSource::AwsChain,
            max_attempts: 2,
            connect_timeout_ms: 3_000,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// One JSON object per line, for CloudWatch Logs Insights.
    #[default]
    Json,
    /// Human-readable lines, for a terminal.
    Text,
}

/// Log output. Prompts and completions are never logged, whatever the settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// Line format.
    pub format: LogFormat,
    /// `tracing` filter directives, such as `info` or `bedrock_gateway=debug`.
    pub filter: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig { format: LogFormat::Json, filter: "info".to_owned() }
    }
}

/// Who may call the gateway service. With no keys, any caller that reaches the listener may (the
/// network, PrivateLink and security groups, is then the boundary). Health and reflection are
/// always open, for load balancer health checks and grpcurl.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Caller name -> SHA-256 (hex) of its API key, sent as `authorization: Bearer <key>`. Only
    /// digests are configured, so the config holds no secret; the caller name is logged.
    pub api_keys: BTreeMap<String, String>,
}

/// Where a logical model is in its lifecycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelState {
    /// Serving.
    #[default]
    Active,
    /// Serving, with a planned end.
    Deprecated,
    /// Not serving; requests fail with FAILED_PRECONDITION naming the replacement.
    Retired,
}

/// One logical model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Bedrock model id, inference profile id, or ARN of either.
    pub model_id: String,
    /// Version shown to clients; defaults to `model_id`.
    #[serde(default)]
    pub version: Option<String>,
    /// What the model is good for, shown by ListModels.
    #[serde(default)]
    pub description: String,
    /// The largest max_tokens a request may ask for.
    #[serde(default = "default_max_tokens_cap")]
    pub max_tokens_cap: u32,
    /// Lifecycle state.
    #[serde(default)]
    pub state: ModelState,
    /// The logical model to move to (for deprecated and retired models).
    #[serde(default)]
    pub replacement: Option<String>,
    /// The day a deprecated model retires, as YYYY-MM-DD.
    #[serde(default)]
    pub retires_on: Option<String>,
}

fn default_max_tokens_cap() -> u32 {
    4096
}

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
        figment.merge(env).extract().map_err(|err| ConfigError::Load(Box::new(err)))
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

    /// Checks every value that types alone cannot; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_server()?;
        self.validate_bedrock()?;
        self.validate_auth()?;
        self.validate_models()
    }

    fn validate_server(&self) -> Result<(), ConfigError> {
        let server = &self.server;
        at_least("server.max_request_bytes", server.max_request_bytes as u64, 1024)?;
        at_least("server.max_concurrent_requests", server.max_concurrent_requests as u64, 1)?;
        at_least("server.max_stream_duration_secs", server.max_stream_duration_secs, 1)?;
        at_least("server.stream_idle_timeout_secs", server.stream_idle_timeout_secs, 1)?;
        at_least("server.http2_keepalive_timeout_secs", server.http2_keepalive_timeout_secs, 1)?;
        if !(10..=300).contains(&server.http2_keepalive_interval_secs) {
            return Err(invalid(
                "server.http2_keepalive_interval_secs",
                "must be from 10 to 300, inside the load balancer's 350 s idle timeout".to_owned(),
            ));
        }
        Ok(())
    }

    fn validate_bedrock(&self) -> Result<(), ConfigError> {
        let bedrock = &self.bedrock;
        let region_ok = !bedrock.region.is_empty()
            && bedrock.region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !region_ok {
            return Err(invalid(
                "bedrock.region",
                format!("{:?} is not an AWS region name like \"us-east-1\"", bedrock.region),
            ));
        }
        if let Some(url) = &bedrock.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid("bedrock.endpoint_url", format!("{url:?} must start with http:// or https://")));
        }
        if bedrock.credentials == CredentialsSource::Emulator && bedrock.endpoint_url.is_none() {
            return Err(invalid(
                "bedrock.credentials",
                "\"emulator\" needs bedrock.endpoint_url pointing at the emulator".to_owned(),
            ));
        }
        if !(1..=5).contains(&bedrock.max_attempts) {
            return Err(invalid("bedrock.max_attempts", "must be from 1 to 5".to_owned()));
        }
        at_least("bedrock.connect_timeout_ms", bedrock.connect_timeout_ms, 1)
    }

    fn validate_auth(&self) -> Result<(), ConfigError> {
        for (caller, digest) in &self.auth.api_keys {
            if digest.len() != 64 || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(invalid(
                    &format!("auth.api_keys.{caller}"),
                    "must be the SHA-256 of the key as 64 hex digits (printf %s KEY | sha256sum)".to_owned(),
                ));
            }
        }
        Ok(())
    }

    fn validate_models(&self) -> Result<(), ConfigError> {
        if self.models.is_empty() {
            return Err(invalid("models", "at least one model must be configured, as [models.<name>]".to_owned()));
        }
        for (name, model) in &self.models {
            let key = |field: &str| format!("models.{name}.{field}");
            if !valid_model_name(name) {
                return Err(invalid(
                    &format!("models.{name}"),
                    "a model name is 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit".to_owned(),
                ));
            }
            if model.model_id.trim().is_empty() {
                return Err(invalid(&key("model_id"), "must not be empty".to_owned()));
            }
            at_least(&key("max_tokens_cap"), u64::from(model.max_tokens_cap), 1)?;
            if let Some(replacement) = &model.replacement
                && !self.models.contains_key(replacement)
            {
                let known = self.models.keys().cloned().collect::<Vec<_>>().join(", ");
                return Err(invalid(
                    &key("replacement"),
                    format!("{replacement:?} is not a configured model (configured: {known})"),
                ));
            }
            if let Some(day) = &model.retires_on
                && !is_iso_date(day)
            {
                return Err(invalid(&key("retires_on"), format!("{day:?} is not a date as YYYY-MM-DD")));
            }
            if model.state == ModelState::Retired && model.replacement.is_none() {
                return Err(invalid(&key("replacement"), "a retired model must name its replacement".to_owned()));
            }
        }
        Ok(())
    }
}

fn invalid(key: &str, reason: String) -> ConfigError {
    ConfigError::Invalid { key: key.to_owned(), reason }
}

fn at_least(key: &str, value: u64, minimum: u64) -> Result<(), ConfigError> {
    if value < minimum {
        return Err(invalid(key, format!("is {value}, must be at least {minimum}")));
    }
    Ok(())
}

fn valid_model_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    first_ok
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

fn is_iso_date(day: &str) -> bool {
    let parts: Vec<&str> = day.split('-').collect();
    let numeric = |part: &str, len: usize| part.len() == len && part.chars().all(|c| c.is_ascii_digit());
    match parts.as_slice() {
        [year, month, date] if numeric(year, 4) && numeric(month, 2) && numeric(date, 2) => {
            let (month, date): (u32, u32) = (month.parse().unwrap_or(0), date.parse().unwrap_or(0));
            (1..=12).contains(&month) && (1..=31).contains(&date)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[models.chat]\nmodel_id = \"anthropic.claude-3-haiku-20240307-v1:0\"\n";

    fn rejected_key(toml: &str) -> String {
        match Config::from_toml(toml) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn minimal_file_takes_defaults() {
        let config = Config::from_toml(MINIMAL).unwrap();
        assert_eq!(config.server.listen.port(), 50051);
        assert_eq!(config.server.max_request_bytes, 4 * 1024 * 1024);
        assert_eq!(config.server.max_concurrent_requests, 100);
        assert_eq!(config.models["chat"].max_tokens_cap, 4096);
        assert_eq!(config.models["chat"].state, ModelState::Active);
    }

    #[test]
    fn no_models_is_rejected() {
        assert_eq!(rejected_key(""), "models");
    }

    #[test]
    fn bad_values_name_their_key() {
        assert_eq!(rejected_key(&format!("{MINIMAL}[server]\nmax_request_bytes = 10\n")), "server.max_request_bytes");
        assert_eq!(rejected_key(&format!("{MINIMAL}[bedrock]\nregion = \"US East\"\n")), "bedrock.region");
        assert_eq!(rejected_key(&format!("{MINIMAL}[bedrock]\ncredentials = \"emulator\"\n")), "bedrock.credentials");
        assert_eq!(rejected_key(&format!("{MINIMAL}[auth.api_keys]\nteam-a = \"secret\"\n")), "auth.api_keys.team-a");
        assert_eq!(rejected_key("[models.Chat]\nmodel_id = \"x\"\n"), "models.Chat");
        assert_eq!(rejected_key("[models.chat]\nmodel_id = \" \"\n"), "models.chat.model_id");
        assert_eq!(
            rejected_key("[models.old]\nmodel_id = \"x\"\nstate = \"retired\"\nreplacement = \"new\"\n"),
            "models.old.replacement"
        );
        assert_eq!(
            rejected_key("[models.old]\nmodel_id = \"x\"\nretires_on = \"next year\"\n"),
            "models.old.retires_on"
        );
    }

    #[test]
    fn wrong_types_and_unknown_keys_name_the_key() {
        let err = Config::from_toml(&format!("{MINIMAL}[server]\nmax_request_bytes = \"big\"\n")).unwrap_err();
        assert!(err.to_string().contains("max_request_bytes"), "{err}");
        let err = Config::from_toml(&format!("{MINIMAL}[server]\nlisten_port = 1\n")).unwrap_err();
        assert!(err.to_string().contains("listen_port"), "{err}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // the closure's error type is figment::Jail's, not ours
    fn file_then_environment_override_in_that_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("gateway.toml", &format!("{MINIMAL}[server]\nlisten = \"127.0.0.1:7000\"\n"))?;
            jail.set_env("BEDROCK_GATEWAY_SERVER__LISTEN", "127.0.0.1:7001");
            jail.set_env("BEDROCK_GATEWAY_MODELS__CHAT__MAX_TOKENS_CAP", "512");
            jail.set_env("BEDROCK_GATEWAY_CONFIG", "ignored: names the file, read by the flag parser");
            let config = Config::load(Some(Path::new("gateway.toml"))).expect("loads");
            assert_eq!(config.server.listen.port(), 7001);
            assert_eq!(config.models["chat"].max_tokens_cap, 512);
            assert_eq!(config.models["chat"].model_id, "anthropic.claude-3-haiku-20240307-v1:0");
            jail.set_env("BEDROCK_GATEWAY_SERVER__MAX_REQUEST_BYTES", "lots");
            let err = Config::load(Some(Path::new("gateway.toml"))).unwrap_err().to_string();
            assert!(err.to_lowercase().contains("server.max_request_bytes"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn iso_dates() {
        assert!(is_iso_date("2027-01-31"));
        assert!(!is_iso_date("2027-13-01"));
        assert!(!is_iso_date("27-01-01"));
    }
}
