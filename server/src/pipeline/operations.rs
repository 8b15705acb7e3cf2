//! What differs between the calls the pipeline runs, and nothing else: each [`Operation`] says
//! what it records of its request, how it checks it against the model and converts it, what it
//! reserves, how one target is tried, and what Bedrock's answer becomes. The phases themselves,
//! and their order, are the pipeline's (see the module above).

use std::collections::HashMap;
use std::sync::Arc;

use bedrock_gateway_proto::v1;

use crate::config::ModelKind;
use crate::error::{GatewayError, Reservation};
use crate::pipeline::catalog::Model;
use crate::pipeline::convert::request::{estimated_input_tokens, to_bedrock};
use crate::pipeline::convert::response::answer;
use crate::pipeline::convert::structured::tool_answer_as_text;
use crate::pipeline::embed::{self, EmbedPlan, Embedded};
use crate::pipeline::relay::{RelayContext, RelayStream, proto_duration, relay};
use crate::pipeline::request_log::RequestLog;
use crate::pipeline::{Answered, Attempt, Call, Pipeline, Served};
use crate::upstream::bedrock::{BedrockRequest, BedrockStream};

/// What a call reserves within its tenant's quotas, besides one request and one concurrency place.
#[derive(Debug, Clone, Copy)]
pub struct Reserve {
    /// Tokens held until the call settles.
    pub tokens: u64,
    /// What the tokens are for, as a refusal explains them.
    pub reserved_for: Reservation,
    /// The input's estimated tokens, charged if the call ends without Bedrock's usage; `None` where
    /// no tokens quota applies.
    pub input_estimate: Option<u64>,
}

/// A request checked against its model and converted: what goes to Bedrock, and what it reserves.
#[derive(Debug)]
pub struct Prepared<U> {
    /// What each target tried is sent.
    pub upstream: U,
    /// What the call reserves.
    pub reserve: Reserve,
}

/// What the pipeline reads of every request, whatever it asks for.
pub trait Request {
    /// The logical model the request names.
    fn model(&self) -> &str;
    /// The request's labels, which may pick its target.
    fn request_metadata(&self) -> &HashMap<String, String>;
    /// Records what the request asks for on its log line, before anything is checked.
    fn record(&self, log: &RequestLog);
}

impl Request for v1::ConverseRequest {
    fn model(&self) -> &str {
        &self.model
    }

    fn request_metadata(&self) -> &HashMap<String, String> {
        &self.request_metadata
    }

    fn record(&self, log: &RequestLog) {
        log.set_request(self);
    }
}

impl Request for v1::EmbedRequest {
    fn model(&self) -> &str {
        &self.model
    }

    fn request_metadata(&self) -> &HashMap<String, String> {
        &self.request_metadata
    }

    fn record(&self, log: &RequestLog) {
        log.set_embed_request(self);
    }
}

/// One kind of call through the pipeline.
pub trait Operation {
    /// The request, as a door decoded it.
    type Request: Request + Send;
    /// What each target tried is sent.
    type Upstream: Clone + Send + Sync;
    /// What a target answered.
    type Answer: Send;
    /// What the call serves its door.
    type Served;
    /// The kind of logical model the call needs.
    const KIND: ModelKind;
    /// The call's name in records and metrics (the `rpc` label), whatever door it came by.
    const RPC: &'static str;

    /// Checks the request against `model` and converts it; estimates its input where its tenant
    /// `counts_tokens` on the model.
    fn prepare(
        request: Self::Request,
        model: &Model,
        counts_tokens: bool,
    ) -> Result<Prepared<Self::Upstream>, GatewayError>;
    /// Whether the answer comes as a forced tool's input, to be turned back into text.
    fn answer_in_tool(_upstream: &Self::Upstream) -> bool {
        false
    }
    /// Tries one target.
    fn attempt(
        attempt: &Attempt<'_>,
        upstream: Self::Upstream,
    ) -> impl Future<Output = Result<Self::Answer, GatewayError>> + Send;
    /// Relays or settles what Bedrock answered.
    fn finish(pipeline: &Pipeline, call: Call, answered: Answered<Self::Answer>) -> Served<Self::Served>;
}

/// A streamed Converse: the answer relayed event by event.
#[derive(Debug)]
pub struct ConverseStream;

/// A Converse answered whole.
#[derive(Debug)]
pub struct Converse;

/// The input tokens a Converse request would use.
#[derive(Debug)]
pub struct CountTokens;

/// Embeddings of texts.
#[derive(Debug)]
pub struct Embed;

/// The Converse-shaped calls' common preparation: the request checked against the model and
/// converted; its max_tokens and its input estimate reserved.
fn prepare_converse(
    request: v1::ConverseRequest,
    model: &Model,
    counts_tokens: bool,
) -> Result<Prepared<BedrockRequest>, GatewayError> {
    // Walking the request to estimate it costs time on every call, so only where tokens count.
    let input_estimate = counts_tokens.then(|| estimated_input_tokens(&request));
    let upstream = to_bedrock(request, model)?;
    let max_tokens = upstream.inference.max_tokens.map_or(0, |tokens| tokens.max(0) as u64);
    let reserve =
        Reserve { tokens: max_tokens + input_estimate.unwrap_or(0), reserved_for: Reservation::Answer, input_estimate };
    Ok(Prepared { upstream, reserve })
}

impl Operation for ConverseStream {
    type Request = v1::ConverseRequest;
    type Upstream = BedrockRequest;
    type Answer = BedrockStream;
    type Served = RelayStream;
    const KIND: ModelKind = ModelKind::Chat;
    const RPC: &'static str = "ConverseStream";

    fn prepare(
        request: v1::ConverseRequest,
        model: &Model,
        counts_tokens: bool,
    ) -> Result<Prepared<BedrockRequest>, GatewayError> {
        prepare_converse(request, model, counts_tokens)
    }

    fn answer_in_tool(upstream: &BedrockRequest) -> bool {
        upstream.answer_in_tool
    }

    /// Opens the stream, within `bedrock.stream_open_timeout_secs` and the caller's deadline.
    async fn attempt(attempt: &Attempt<'_>, upstream: BedrockRequest) -> Result<BedrockStream, GatewayError> {
        let open_timeout = attempt.stream_open_timeout();
        let open_by = attempt.deadline.min(tokio::time::Instant::now() + open_timeout);
        match tokio::time::timeout_at(open_by, attempt.bedrock().converse_stream(&attempt.to, upstream)).await {
            Ok(opened) => opened,
            Err(_) if open_by < attempt.deadline => Err(GatewayError::BedrockOpenTimeout {
                alias: attempt.to.alias.to_owned(),
                after: open_timeout,
                key: "bedrock.stream_open_timeout_secs",
            }),
            Err(_) => Err(GatewayError::DeadlineExceeded),
        }
    }

    fn finish(pipeline: &Pipeline, call: Call, answered: Answered<BedrockStream>) -> Served<RelayStream> {
        let Answered { model, target, answer: stream, deadline, answer_in_tool, slot, mut metered } = answered;
        metered.started();
        call.release_request_memory();
        let context = RelayContext {
            model: Arc::clone(&model),
            target,
            deadline,
            idle_timeout: pipeline.bounds.stream_idle_timeout,
            client_stall_timeout: pipeline.bounds.client_stall_timeout,
            log: call.log().clone(),
            metrics: pipeline.metrics.clone(),
            cut: call.connection_cut().cloned().unwrap_or_else(|| pipeline.cut.clone()),
            reset: call.stream_reset().clone(),
            slot,
            metered,
            tool_answer: answer_in_tool,
        };
        Served { model, value: relay(stream, context) }
    }
}

impl Operation for Converse {
    type Request = v1::ConverseRequest;
    type Upstream = BedrockRequest;
    type Answer = aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
    type Served = v1::ConverseResponse;
    const KIND: ModelKind = ModelKind::Chat;
    const RPC: &'static str = "Converse";

    fn prepare(
        request: v1::ConverseRequest,
        model: &Model,
        counts_tokens: bool,
    ) -> Result<Prepared<BedrockRequest>, GatewayError> {
        prepare_converse(request, model, counts_tokens)
    }

    fn answer_in_tool(upstream: &BedrockRequest) -> bool {
        upstream.answer_in_tool
    }

    async fn attempt(attempt: &Attempt<'_>, upstream: BedrockRequest) -> Result<Self::Answer, GatewayError> {
        attempt.bedrock().converse(&attempt.to, upstream, &attempt.converse_bounds()).await
    }

    fn finish(_pipeline: &Pipeline, call: Call, answered: Answered<Self::Answer>) -> Served<v1::ConverseResponse> {
        let Answered { model, target, answer: output, answer_in_tool, mut metered, .. } = answered;
        call.release_request_memory();
        let mut answer = answer(output);
        if answer_in_tool {
            tool_answer_as_text(&mut answer.output.content, &mut answer.stop_reason);
        }
        metered.settle(&answer.usage);
        let total = call.log().received_at().elapsed();
        // The whole answer arrives at once: a time to first token would only repeat the total.
        call.log().succeeded(answer.stop_reason, answer.usage, None);
        let value = v1::ConverseResponse {
            request_id: call.request_id().to_owned(),
            model: model.name.clone(),
            model_version: target.version.clone(),
            output: Some(answer.output),
            stop_reason: answer.stop_reason as i32,
            usage: Some(answer.usage),
            timing: Some(v1::Timing { time_to_first_token: None, total: Some(proto_duration(total)) }),
        };
        Served { model, value }
    }
}

impl Operation for CountTokens {
    type Request = v1::ConverseRequest;
    type Upstream = BedrockRequest;
    type Answer = u32;
    type Served = v1::CountTokensResponse;
    const KIND: ModelKind = ModelKind::Chat;
    const RPC: &'static str = "CountTokens";

    /// The Converse preparation, on a model that counts tokens; one request against request
    /// quotas, as counting uses no tokens.
    fn prepare(
        request: v1::ConverseRequest,
        model: &Model,
        _counts_tokens: bool,
    ) -> Result<Prepared<BedrockRequest>, GatewayError> {
        let upstream = prepare_converse(request, model, false)?.upstream;
        if !model.capabilities.count_tokens {
            return Err(GatewayError::Unsupported {
                alias: model.name.clone(),
                rpc: "CountTokens",
                capability: "count_tokens",
            });
        }
        Ok(Prepared {
            upstream,
            reserve: Reserve { tokens: 0, reserved_for: Reservation::Answer, input_estimate: None },
        })
    }

    async fn attempt(attempt: &Attempt<'_>, upstream: BedrockRequest) -> Result<u32, GatewayError> {
        attempt.bedrock().count_tokens(&attempt.to, upstream, &attempt.call_bounds()).await
    }

    fn finish(_pipeline: &Pipeline, call: Call, answered: Answered<u32>) -> Served<v1::CountTokensResponse> {
        call.release_request_memory();
        call.log().answered();
        let value = v1::CountTokensResponse {
            request_id: call.request_id().to_owned(),
            model: answered.model.name.clone(),
            model_version: answered.target.version.clone(),
            input_tokens: answered.answer,
        };
        Served { model: answered.model, value }
    }
}

impl Operation for Embed {
    type Request = v1::EmbedRequest;
    type Upstream = EmbedPlan;
    type Answer = (Embedded, u32);
    type Served = v1::EmbedResponse;
    const KIND: ModelKind = ModelKind::Embedding;
    const RPC: &'static str = "Embed";

    /// The texts planned into the model family's calls; their estimated tokens reserved.
    fn prepare(
        request: v1::EmbedRequest,
        model: &Model,
        counts_tokens: bool,
    ) -> Result<Prepared<EmbedPlan>, GatewayError> {
        let plan = embed::plan(request, model)?;
        let input_estimate = counts_tokens.then(|| plan.estimated_input_tokens());
        let reserve = Reserve { tokens: input_estimate.unwrap_or(0), reserved_for: Reservation::Texts, input_estimate };
        Ok(Prepared { upstream: plan, reserve })
    }

    /// Every text embedded, with the plan's dimensions.
    async fn attempt(attempt: &Attempt<'_>, plan: EmbedPlan) -> Result<(Embedded, u32), GatewayError> {
        let embedded = embed::embed(attempt.bedrock(), &attempt.to, &plan, &attempt.call_bounds()).await?;
        Ok((embedded, plan.dimensions))
    }

    fn finish(_pipeline: &Pipeline, call: Call, answered: Answered<(Embedded, u32)>) -> Served<v1::EmbedResponse> {
        let Answered { model, target, answer: (embedded, dimensions), mut metered, .. } = answered;
        call.release_request_memory();
        let usage = v1::TokenUsage {
            input_tokens: embedded.input_tokens,
            total_tokens: embedded.input_tokens,
            ..Default::default()
        };
        metered.settle(&usage);
        call.log().read_tokens(usage);
        let value = v1::EmbedResponse {
            request_id: call.request_id().to_owned(),
            model: model.name.clone(),
            model_version: target.version.clone(),
            embeddings: embedded.vectors.into_iter().map(|values| v1::Embedding { values }).collect(),
            dimensions,
            input_tokens: embedded.input_tokens,
        };
        Served { model, value }
    }
}
