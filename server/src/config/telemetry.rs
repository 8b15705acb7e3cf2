//! `[telemetry]`: trace export over OTLP/HTTP.

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, invalid};

/// Trace export. Incoming W3C `traceparent` headers are always honoured (the trace id is logged);
/// spans are exported only when an endpoint is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Base URL of an OTLP/HTTP (protobuf) collector, such as `http://localhost:4318` for a
    /// sidecar; spans go to `<url>/v1/traces`. Unset: no export.
    pub otlp_endpoint: Option<String>,
}

impl TelemetryConfig {
    /// The collector's URL is one the exporter can use.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.otlp_endpoint {
            let has_host = url.parse::<http::Uri>().is_ok_and(|uri| uri.host().is_some_and(|host| !host.is_empty()));
            if !url.starts_with("http://") || !has_host {
                return Err(invalid(
                    "telemetry.otlp_endpoint",
                    format!(
                        "{url:?} must be an http:// URL of an OTLP/HTTP collector, such as \"http://localhost:4318\" \
                         (no TLS: run the collector next to the gateway)"
                    ),
                ));
            }
        }
        Ok(())
    }
}
