//! `[metrics]`: metrics output besides the admin listener's Prometheus endpoint (CloudWatch EMF).

use serde::{Deserialize, Serialize};

use super::duration::Seconds;
use super::error::{ConfigError, invalid};

/// Metrics output besides the admin listener's Prometheus endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Write CloudWatch Embedded Metric Format lines to stdout, for CloudWatch Logs to turn into
    /// metrics (on ECS with the awslogs driver, no agent needed).
    pub emf: bool,
    /// The `ServiceName` dimension of the EMF metrics.
    pub emf_service_name: String,
    /// Seconds between EMF lines.
    pub emf_interval_secs: Seconds,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { emf: false, emf_service_name: "bedrock-gateway".to_owned(), emf_interval_secs: Seconds(10) }
    }
}

impl MetricsConfig {
    /// Checks the section's keys.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let name = &self.emf_service_name;
        if name.is_empty() || name.len() > 255 || !name.chars().all(|c| c.is_ascii_graphic()) {
            return Err(invalid(
                "metrics.emf_service_name",
                format!("{name:?} must be 1 to 255 printable ASCII characters without spaces"),
            ));
        }
        if !(1..=60).contains(&self.emf_interval_secs.0) {
            return Err(invalid(
                "metrics.emf_interval_secs",
                "must be from 1 to 60, so that every CloudWatch minute gets a value".to_owned(),
            ));
        }
        Ok(())
    }
}
