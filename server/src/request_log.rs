//! One structured log line per request, written when the request ends however it ends (success,
//! error, or the client going away), so that every request is accounted for. It records ids,
//! model, status, token counts and timings; never prompt or completion text.

use std::collections::HashMap;
use std::time::Duration;

use bedrock_gateway_proto::v1;
use tokio::time::Instant;

use crate::error::GatewayError;

/// The log line of one request, emitted on drop.
#[derive(Debug)]
pub struct RequestLog {
    request_id: String,
    rpc: &'static str,
    model: String,
    caller: String,
    labels: String,
    received_at: Instant,
    outcome: Option<Outcome>,
}

#[derive(Debug)]
enum Outcome {
    Succeeded { stop_reason: v1::StopReason, usage: v1::TokenUsage, time_to_first_token: Option<Duration> },
    Failed { code: tonic::Code, message: String, misconfiguration: bool },
}

impl RequestLog {
    /// Starts the record of a request from `caller` (empty when auth is off) received at
    /// `received_at`.
    pub fn new(
        rpc: &'static str,
        request_id: &str,
        model: &str,
        caller: &str,
        labels: &HashMap<String, String>,
        received_at: Instant,
    ) -> Self {
        let labels = if labels.is_empty() {
            String::new()
        } else {
            let sorted: std::collections::BTreeMap<_, _> = labels.iter().collect();
            serde_json::to_string(&sorted).unwrap_or_default()
        };
        RequestLog {
            request_id: request_id.to_owned(),
            rpc,
            model: model.to_owned(),
            caller: caller.to_owned(),
            labels,
            received_at,
            outcome: None,
        }
    }

    /// Records success.
    pub fn succeeded(
        &mut self,
        stop_reason: v1::StopReason,
        usage: v1::TokenUsage,
        time_to_first_token: Option<Duration>,
    ) {
        self.outcome = Some(Outcome::Succeeded { stop_reason, usage, time_to_first_token });
    }

    /// Records failure.
    pub fn failed(&mut self, err: &GatewayError) {
        self.outcome = Some(Outcome::Failed {
            code: err.code(),
            message: err.to_string(),
            misconfiguration: err.is_misconfiguration(),
        });
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        let duration_ms = self.received_at.elapsed().as_secs_f64() * 1e3;
        match &self.outcome {
            Some(Outcome::Succeeded { stop_reason, usage, time_to_first_token }) => tracing::info!(
                target: "bedrock_gateway::request",
                request_id = %self.request_id,
                rpc = self.rpc,
                model = %self.model,
                caller = %self.caller,
                status = "OK",
                stop_reason = stop_reason.as_str_name(),
                input_tokens = usage.input_tokens,
                output_tokens = usage.output_tokens,
                ttft_ms = time_to_first_token.map(|ttft| ttft.as_secs_f64() * 1e3),
                duration_ms,
                labels = %self.labels,
            ),
            Some(Outcome::Failed { code, message, misconfiguration: true }) => tracing::error!(
                target: "bedrock_gateway::request",
                request_id = %self.request_id,
                rpc = self.rpc,
                model = %self.model,
                caller = %self.caller,
                status = ?code,
                error = %message,
                duration_ms,
                labels = %self.labels,
                "the model catalog or the task role needs fixing"
            ),
            Some(Outcome::Failed { code, message, misconfiguration: false }) => tracing::info!(
                target: "bedrock_gateway::request",
                request_id = %self.request_id,
                rpc = self.rpc,
                model = %self.model,
                caller = %self.caller,
                status = ?code,
                error = %message,
                duration_ms,
                labels = %self.labels,
            ),
            None => tracing::info!(
                target: "bedrock_gateway::request",
                request_id = %self.request_id,
                rpc = self.rpc,
                model = %self.model,
                caller = %self.caller,
                status = "Cancelled",
                duration_ms,
                labels = %self.labels,
            ),
        }
    }
}
