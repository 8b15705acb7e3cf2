//! `[logging]`: the log lines' format and filter. Prompts and completions are never logged,
//! whatever the settings.

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, invalid};

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

impl LoggingConfig {
    /// `filter` parsed, strictly: the one parser of it, for validation and for the logger, so
    /// that a directive the logger would drop without a word stops the start instead.
    pub fn env_filter(&self) -> Result<tracing_subscriber::EnvFilter, tracing_subscriber::filter::ParseError> {
        tracing_subscriber::EnvFilter::builder().parse(&self.filter)
    }

    /// `filter` parses, as the logger will parse it.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Err(err) = self.env_filter() {
            return Err(invalid(
                "logging.filter",
                format!(
                    "{:?} is not a list of tracing directives such as \"info\" or \"info,bedrock_gateway=debug\": {err}",
                    self.filter
                ),
            ));
        }
        Ok(())
    }
}
