//! One structured log line per request, written when the request ends however it ends (success,
//! error, or the client going away), so that every request is accounted for. It records ids,
//! model, caller, status, token counts and timings; never prompt or completion text.

use std::collections::BTreeMap;
use std::time::Duration;

use bedrock_gateway_proto::{limits, v1};
use tokio::time::Instant;

use crate::admission::Caller;
use crate::convert::request::check_metadata;
use crate::error::GatewayError;
use crate::listener::Peer;

/// The log line of one request, emitted on drop.
#[derive(Debug)]
pub struct RequestLog {
    request_id: String,
    rpc: &'static str,
    model: String,
    caller: Option<Caller>,
    peer: Option<Peer>,
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
    /// Starts the record of `request`, received at `received_at`; the caller and peer come from
    /// the request's extensions, set by the auth layer and the listener.
    pub fn new(
        rpc: &'static str,
        request_id: &str,
        request: &v1::ConverseRequest,
        extensions: &tonic::Extensions,
        received_at: Instant,
    ) -> Self {
        // The request is not validated yet: a refused one may carry megabytes of model name or
        // labels, so only a name the size of one, and only labels within the limits, are logged.
        let labels = if request.request_metadata.is_empty() || check_metadata(request).is_err() {
            String::new()
        } else {
            serde_json::to_string(&request.request_metadata.iter().collect::<BTreeMap<_, _>>()).unwrap_or_default()
        };
        RequestLog {
            request_id: request_id.to_owned(),
            rpc,
            model: request.model.chars().take(limits::MODEL_NAME_CHARS).collect(),
            caller: extensions.get::<Caller>().cloned(),
            peer: extensions.get::<Peer>().cloned(),
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
        let (status, stop_reason, usage, time_to_first_token, error) = match &self.outcome {
            Some(Outcome::Succeeded { stop_reason, usage, time_to_first_token }) => {
                ("OK", Some(stop_reason.as_str_name()), Some(*usage), *time_to_first_token, None)
            }
            Some(Outcome::Failed { code, message, .. }) => (code_name(*code), None, None, None, Some(message.as_str())),
            None => ("Cancelled", None, None, None, None),
        };
        let misconfiguration = matches!(self.outcome, Some(Outcome::Failed { misconfiguration: true, .. }));
        macro_rules! request_line {
            ($level:ident, $($message:literal)?) => {
                tracing::$level!(
                    target: "bedrock_gateway::request",
                    request_id = %self.request_id,
                    rpc = self.rpc,
                    model = %self.model,
                    status,
                    stop_reason,
                    input_tokens = usage.map(|usage| usage.input_tokens),
                    output_tokens = usage.map(|usage| usage.output_tokens),
                    ttft_ms = time_to_first_token.map(|ttft| ttft.as_secs_f64() * 1e3),
                    duration_ms = self.received_at.elapsed().as_secs_f64() * 1e3,
                    error,
                    caller = self.caller.as_ref().map(|caller| &*caller.0),
                    peer = self.peer.as_ref().and_then(|peer| peer.addr).map(tracing::field::display),
                    vpce = self.peer.as_ref().and_then(|peer| peer.vpc_endpoint_id.as_deref()),
                    labels = %self.labels,
                    $($message)?
                )
            };
        }
        if misconfiguration {
            request_line!(error, "the model catalog or the task role needs fixing");
        } else {
            request_line!(info,);
        }
    }
}

fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "Cancelled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}
