//! `[bedrock]`: how the gateway reaches Bedrock: region, endpoints, credentials, retries and the
//! bounds of a call.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::duration::{Millis, Seconds};
use super::error::{ConfigError, invalid};

/// Where Bedrock credentials come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialsSource {
    /// The standard AWS chain: environment, profile, web identity, ECS task role, instance role.
    #[default]
    AwsChain,
    /// Fixed placeholder keys, only for a local stand-in such as the Bedrock emulator (requires
    /// the section's `endpoint_url`).
    Emulator,
}

/// How to reach Bedrock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BedrockConfig {
    /// AWS region of the Bedrock runtime: the home region, of every target that names none.
    pub region: String,
    /// Overrides the home region's Bedrock runtime endpoint (a VPC endpoint's DNS name, or the emulator).
    pub endpoint_url: Option<String>,
    /// Endpoints of other regions' Bedrock runtimes, by region, for targets in those regions;
    /// a region not listed is called at its public regional endpoint.
    pub region_endpoint_urls: BTreeMap<String, String>,
    /// Where credentials come from: the gateway's own, used as they are for targets without a
    /// `role_arn`, and to assume the roles of those with one.
    pub credentials: CredentialsSource,
    /// Overrides the STS endpoint the roles of targets in other accounts are assumed at (an STS
    /// VPC endpoint's DNS name, or a stand-in for tests). Unset: STS's regional endpoint in
    /// `region`.
    pub sts_endpoint_url: Option<String>,
    /// Attempts per Bedrock call before the stream starts (1 = no retry). Kept low because clients
    /// retry too, and retries multiply.
    pub max_attempts: u32,
    /// Timeout for opening a connection to Bedrock.
    pub connect_timeout_ms: Millis,
    /// Longest ConverseStream waits for Bedrock to accept the call and open its stream (separate
    /// from the idle timeout between events), and CountTokens and Embed's InvokeModel calls wait
    /// for Bedrock's response to begin; then UNAVAILABLE with a retry pushback.
    pub stream_open_timeout_secs: Seconds,
    /// Longest a unary Converse waits for Bedrock's response to begin. Bedrock sends a unary
    /// answer only once the model has generated all of it, so this bounds the generation: keep it
    /// above the longest answer callers take unary (max_tokens ÷ the model's output tokens per
    /// second). Then UNAVAILABLE with a retry pushback; once the response has begun,
    /// `server.stream_idle_timeout_secs` bounds the silence between its bytes.
    pub converse_timeout_secs: Seconds,
}

impl Default for BedrockConfig {
    fn default() -> Self {
        BedrockConfig {
            region: "us-east-1".to_owned(),
            endpoint_url: None,
            region_endpoint_urls: BTreeMap::new(),
            credentials: CredentialsSource::AwsChain,
            sts_endpoint_url: None,
            max_attempts: 2,
            connect_timeout_ms: Millis(3_000),
            stream_open_timeout_secs: Seconds(30),
            converse_timeout_secs: Seconds(300),
        }
    }
}

impl BedrockConfig {
    /// Checks the section's keys.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let region_ok = !self.region.is_empty()
            && self.region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !region_ok {
            return Err(invalid(
                "bedrock.region",
                format!("{:?} is not an AWS region name like \"us-east-1\"", self.region),
            ));
        }
        for (key, url) in
            [("bedrock.endpoint_url", &self.endpoint_url), ("bedrock.sts_endpoint_url", &self.sts_endpoint_url)]
        {
            if let Some(url) = url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(invalid(key, format!("{url:?} must start with http:// or https://")));
            }
        }
        for (region, url) in &self.region_endpoint_urls {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                let key = format!("bedrock.region_endpoint_urls.{region}");
                return Err(invalid(&key, format!("{url:?} must start with http:// or https://")));
            }
        }
        if self.credentials == CredentialsSource::Emulator && self.endpoint_url.is_none() {
            return Err(invalid(
                "bedrock.credentials",
                "\"emulator\" needs bedrock.endpoint_url pointing at the emulator".to_owned(),
            ));
        }
        if !(1..=5).contains(&self.max_attempts) {
            return Err(invalid("bedrock.max_attempts", "must be from 1 to 5".to_owned()));
        }
        self.connect_timeout_ms.check("bedrock.connect_timeout_ms", 1)?;
        self.stream_open_timeout_secs.check("bedrock.stream_open_timeout_secs", 1)?;
        self.converse_timeout_secs.check("bedrock.converse_timeout_secs", 1)
    }
}
