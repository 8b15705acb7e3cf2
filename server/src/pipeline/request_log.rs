//! The record of one request, started at the edge before anything can refuse it and written once
//! when the request ends however it ends (success, error, refusal, or the client going away): one
//! structured log line and the request's metrics. It holds ids, tenant, model, status, token counts
//! and timings; never prompt or completion text. The line is also the request's usage record: one
//! per request however it ended, cancelled ones included. A stream that ended without Bedrock's
//! usage (cancelled, cut or failed after Bedrock began) carries the tokens its quotas were charged
//! on an estimate instead, marked as estimated, in its line and in its tenant's token counts.
//!
//! Every piece of the request path that learns something (the identity layer the tenant, the service the
//! model, the relay the outcome) holds a clone of the same [`RequestLog`]; the line is written when the
//! last clone is dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bedrock_gateway_proto::{limits, v1};
use opentelemetry::trace::TraceId;
use tokio::time::Instant;

use crate::error::GatewayError;
use crate::ops::metrics::{self, Metrics, Rejection};
use crate::pipeline::peer::Peer;
use crate::pipeline::tenants::Identity;

/// A shared handle on the record of one request; cheap to clone.
#[derive(Debug, Clone)]
pub struct RequestLog {
    record: Arc<Mutex<Record>>,
    request_id: Arc<str>,
    received_at: Instant,
}

#[derive(Debug)]
struct Record {
    request_id: Arc<str>,
    rpc: &'static str,
    /// The protocol it came in by (`grpc`, `bedrock`, `openai`).
    protocol: &'static str,
    /// The model the client named, as sent.
    model: String,
    /// Whether `model` is in the catalog; only then is it a metrics label (names are unbounded).
    known_model: bool,
    /// The version of the model that answered.
    model_version: Option<String>,
    /// Versions of the targets tried before it, which had no capacity for the request.
    fallback_from: Vec<String>,
    /// Whether the model is deprecated, so the call is counted for the platform team.
    deprecated: bool,
    identity: Option<Identity>,
    peer: Option<Peer>,
    trace_id: Option<TraceId>,
    labels: String,
    received_at: Instant,
    /// Health and reflection: written only when refused, since load balancers call them often
    /// and they are no one's usage.
    control: bool,
    /// Where the request is counted when the record is written.
    metrics: Metrics,
    outcome: Option<Outcome>,
    /// The tokens charged on an estimate, when the request ended without Bedrock's usage.
    estimated: Option<Estimated>,
}

/// What a request that ended without Bedrock's usage was charged: the metering's estimate.
#[derive(Debug, Clone, Copy)]
struct Estimated {
    /// The input estimate of the reservation; `None` where no tokens quota applied, which is
    /// when the input is not estimated.
    input: Option<u64>,
    /// The output relayed before the end.
    output: u64,
}

#[derive(Debug)]
enum Outcome {
    Succeeded {
        stop_reason: Option<v1::StopReason>,
        usage: Option<v1::TokenUsage>,
        time_to_first_token: Option<Duration>,
    },
    Failed {
        code: tonic::Code,
        message: String,
        detail: Option<String>,
        misconfiguration: bool,
    },
    Refused {
        reason: Rejection,
        code: tonic::Code,
        message: String,
    },
}

impl RequestLog {
    /// Starts the record of a request to `rpc` from `peer` in trace `trace_id`, received now, with a
    /// fresh request id, to be counted in `metrics`.
    pub fn start(rpc: &'static str, peer: Option<Peer>, trace_id: Option<TraceId>, metrics: &Metrics) -> RequestLog {
        RequestLog::new(rpc, peer, trace_id, false, metrics)
    }

    /// Starts the record of a request to a control route (health, reflection; see
    /// the edge's `Route`), which is written, and counted as a rejection, only if the
    /// request is refused.
    pub fn start_control(
        service: &'static str,
        peer: Option<Peer>,
        trace_id: Option<TraceId>,
        metrics: &Metrics,
    ) -> RequestLog {
        RequestLog::new(service, peer, trace_id, true, metrics)
    }

    fn new(
        rpc: &'static str,
        peer: Option<Peer>,
        trace_id: Option<TraceId>,
        control: bool,
        metrics: &Metrics,
    ) -> RequestLog {
        let request_id: Arc<str> = Arc::from(uuid::Uuid::new_v4().to_string());
        let received_at = Instant::now();
        let record = Record {
            request_id: Arc::clone(&request_id),
            rpc,
            protocol: "grpc",
            model: String::new(),
            known_model: false,
            model_version: None,
            fallback_from: Vec::new(),
            deprecated: false,
            identity: None,
            peer,
            trace_id,
            labels: String::new(),
            received_at,
            control,
            metrics: metrics.clone(),
            outcome: None,
            estimated: None,
        };
        RequestLog { record: Arc::new(Mutex::new(record)), request_id, received_at }
    }

    /// The gateway's id of this request, as sent in `x-request-id`.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// When the gateway received the request.
    pub fn received_at(&self) -> Instant {
        self.received_at
    }

    fn record(&self) -> MutexGuard<'_, Record> {
        // A panic while holding the lock leaves nothing half-written that matters for a log line.
        self.record.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records that the request came in by `protocol` (`bedrock`, `openai`) rather than gRPC.
    pub fn set_protocol(&self, protocol: &'static str) {
        self.record().protocol = protocol;
    }

    /// Records what the request turned out to be, where its path alone could not say: an OpenAI
    /// chat completion is a `ConverseStream` or a `Converse` by its body.
    pub fn set_rpc(&self, rpc: &'static str) {
        self.record().rpc = rpc;
    }

    /// Records who called, as the identity layer established it.
    pub fn set_identity(&self, identity: &Identity) {
        self.record().identity = Some(identity.clone());
    }

    /// Records what the request asked for, once it has been decoded.
    pub fn set_request(&self, request: &v1::ConverseRequest) {
        self.set_model(&request.model);
    }

    /// Records what an Embed request asked for, once it has been decoded.
    pub fn set_embed_request(&self, request: &v1::EmbedRequest) {
        self.set_model(&request.model);
    }

    /// The request is not validated yet: a refused one may carry megabytes of model name, so only
    /// a name the size of one is kept.
    fn set_model(&self, model: &str) {
        self.record().model = model.chars().take(limits::MODEL_NAME_CHARS).collect();
    }

    /// Records the request's labels, once they have been validated.
    pub fn set_labels(&self, labels: &HashMap<String, String>) {
        if !labels.is_empty() {
            self.record().labels =
                serde_json::to_string(&labels.iter().collect::<BTreeMap<_, _>>()).unwrap_or_default();
        }
    }

    /// Records that the request's model is in the catalog, so metrics may carry it as a label.
    pub fn set_known_model(&self) {
        self.record().known_model = true;
    }

    /// Records the version of the model that answers.
    pub fn set_model_version(&self, version: &str) {
        self.record().model_version = Some(version.to_owned());
    }

    /// Records that the target of `version` had no capacity for the request, which went on to the
    /// next.
    pub fn fell_back_from(&self, version: &str) {
        self.record().fallback_from.push(version.to_owned());
    }

    /// Records that the request called a deprecated model.
    pub fn set_deprecated(&self) {
        self.record().deprecated = true;
    }

    /// Whether an outcome has been recorded.
    pub fn is_settled(&self) -> bool {
        self.record().outcome.is_some()
    }

    /// Records a complete answer.
    pub fn succeeded(&self, stop_reason: v1::StopReason, usage: v1::TokenUsage, time_to_first_token: Option<Duration>) {
        self.settle(Outcome::Succeeded { stop_reason: Some(stop_reason), usage: Some(usage), time_to_first_token });
    }

    /// Records success of a call that read tokens without generating any (Embed).
    pub fn read_tokens(&self, usage: v1::TokenUsage) {
        self.settle(Outcome::Succeeded { stop_reason: None, usage: Some(usage), time_to_first_token: None });
    }

    /// Records success of a call that used no tokens, such as ListModels or CountTokens.
    pub fn answered(&self) {
        self.settle(Outcome::Succeeded { stop_reason: None, usage: None, time_to_first_token: None });
    }

    /// Records failure.
    pub fn failed(&self, err: &GatewayError) {
        self.settle(Outcome::Failed {
            code: err.code(),
            message: err.to_string(),
            detail: err.detail().map(str::to_owned),
            misconfiguration: err.is_misconfiguration(),
        });
    }

    /// Records a refusal before the request reached Bedrock.
    pub fn refused(&self, reason: Rejection, err: &GatewayError) {
        self.refused_with(reason, err.code(), err.to_string());
    }

    /// Records a refusal whose status was made outside the gateway's code (by tonic itself).
    pub fn refused_with(&self, reason: Rejection, code: tonic::Code, message: String) {
        self.settle(Outcome::Refused { reason, code, message });
    }

    /// Records that the request, which Bedrock began answering but which ended without its usage,
    /// was charged `input` (its estimate, if one was made) and `output` tokens.
    pub fn charged_estimate(&self, input: Option<u64>, output: u64) {
        self.record().estimated = Some(Estimated { input, output });
    }

    /// The first outcome recorded is the one that happened; later ones are consequences.
    fn settle(&self, outcome: Outcome) {
        let mut record = self.record();
        if record.outcome.is_none() {
            record.outcome = Some(outcome);
        }
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        if self.control && !matches!(self.outcome, Some(Outcome::Refused { .. })) {
            return;
        }
        let duration = self.received_at.elapsed();
        let (status, stop_reason, usage, time_to_first_token, error, detail, reason) = match &self.outcome {
            Some(Outcome::Succeeded { stop_reason, usage, time_to_first_token }) => {
                ("OK", stop_reason.map(|reason| reason.as_str_name()), *usage, *time_to_first_token, None, None, None)
            }
            Some(Outcome::Failed { code, message, detail, .. }) => {
                (code_name(*code), None, None, None, Some(message.as_str()), detail.as_deref(), None)
            }
            Some(Outcome::Refused { reason, code, message }) => {
                (code_name(*code), None, None, None, Some(message.as_str()), None, Some(reason.as_str()))
            }
            None => ("Cancelled", None, None, None, None, None, None),
        };
        if let Some(Outcome::Refused { reason, .. }) = &self.outcome {
            self.metrics.rejected(*reason);
        }
        // Bedrock's count when it gave one, else the charge on an estimate.
        let estimated = self.estimated.filter(|_| usage.is_none());
        let input_tokens =
            usage.map(|usage| u64::from(usage.input_tokens)).or(estimated.and_then(|estimated| estimated.input));
        let output_tokens =
            usage.map(|usage| u64::from(usage.output_tokens)).or(estimated.map(|estimated| estimated.output));
        let caller_label = self.caller_label();
        let tenant = self.identity.as_ref().map(|identity| &*identity.tenant.name);
        if self.deprecated {
            metrics::deprecated_call(&self.model, tenant.unwrap_or("-"), caller_label);
        }
        // The requests series are the gateway service's calls; a refused control request counts
        // in the rejections above.
        if !self.control {
            self.metrics.request_finished(&metrics::Finished {
                rpc: self.rpc,
                protocol: self.protocol,
                model: if self.known_model { &self.model } else { "unknown" },
                version: self.model_version.as_deref().unwrap_or("-"),
                caller: caller_label,
                tenant,
                refused: matches!(self.outcome, Some(Outcome::Refused { .. })),
                code: status,
                time_to_first_token,
                duration,
                // An input that was not estimated adds nothing to the tenant's input tokens.
                tokens: output_tokens.map(|output| (input_tokens.unwrap_or(0), output)),
                cache_tokens: usage
                    .map(|usage| (u64::from(usage.cache_read_input_tokens), u64::from(usage.cache_write_input_tokens))),
            });
        }
        let misconfiguration = matches!(self.outcome, Some(Outcome::Failed { misconfiguration: true, .. }));
        macro_rules! request_line {
            ($level:ident, $($message:literal)?) => {
                tracing::$level!(
                    target: "bedrock_gateway::request",
                    request_id = %self.request_id,
                    rpc = self.rpc,
                    protocol = self.protocol,
                    model = %self.model,
                    status,
                    reason,
                    stop_reason,
                    input_tokens,
                    output_tokens,
                    tokens_estimated = estimated.is_some(),
                    cache_read_input_tokens = usage.map(|usage| usage.cache_read_input_tokens),
                    cache_write_input_tokens = usage.map(|usage| usage.cache_write_input_tokens),
                    ttft_ms = time_to_first_token.map(|ttft| ttft.as_secs_f64() * 1e3),
                    duration_ms = duration.as_secs_f64() * 1e3,
                    error,
                    bedrock_message = detail,
                    tenant,
                    identity = self.identity.as_ref().map(|identity| identity.source.as_str()),
                    api_key = self.identity.as_ref().and_then(|identity| identity.key_name.as_deref()),
                    model_version = self.model_version.as_deref(),
                    fallback_from = (!self.fallback_from.is_empty()).then(|| self.fallback_from.join(",")),
                    cancelled = self.outcome.is_none(),
                    peer = self.peer.as_ref().and_then(|peer| peer.addr).map(tracing::field::display),
                    vpce = self.peer.as_ref().and_then(|peer| peer.vpc_endpoint_id.as_deref()),
                    client_cert = self.peer.as_ref().and_then(|peer| peer.client_cert_subject.as_deref()),
                    labels = %self.labels,
                    trace_id = self.trace_id.map(tracing::field::display),
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

impl Record {
    /// The `caller` metrics label: the API key's name, else the PrivateLink endpoint id when it is
    /// one of the tenant's own, else `-`. Only configured values become labels: an endpoint id no
    /// tenant lists is whatever the PROXY header said, and peer addresses are unbounded too.
    fn caller_label(&self) -> &str {
        let Some(identity) = &self.identity else {
            return "-";
        };
        let endpoint = self.peer.as_ref().and_then(|peer| peer.vpc_endpoint_id.as_deref());
        match (identity.key_name.as_deref(), endpoint) {
            (Some(key_name), _) => key_name,
            (None, Some(endpoint)) if identity.tenant.has_endpoint(endpoint) => endpoint,
            (None, _) => "-",
        }
    }
}

/// The gRPC code's name as tonic's `Code` debug output spells it, without allocating.
pub fn code_name(code: tonic::Code) -> &'static str {
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
