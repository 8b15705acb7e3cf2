//! The tonic service: for each call, validate, resolve the logical model, call Bedrock, relay.
//! Everything here is orchestration; the decisions live in `catalog`, `convert`, `relay`, `error`.

use std::sync::Arc;
use std::time::Duration;

use bedrock_gateway_proto::v1;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::admission::{Admission, CallerKey, RequestMemory, Slot};
use crate::bedrock::{Bedrock, UnaryBounds};
use crate::catalog::Model;
use crate::catalog::config::{ModelKind, ModelState};
use crate::catalog_source::LiveCatalog;
use crate::config::{BedrockConfig, ServerConfig};
use crate::convert::request::{BedrockRequest, estimated_input_tokens, require_model_name, to_bedrock};
use crate::convert::response::answer;
use crate::convert::structured::tool_answer_as_text;
use crate::embed;
use crate::error::{GatewayError, QuotaRetry, Reservation};
use crate::listener::{ConnectionCut, Peer};
use crate::metering::Metered;
use crate::metrics::{self, Rejection};
use crate::quota::{QuotaRequest, Quotas};
use crate::relay::{RelayContext, RelayStream, proto_duration, relay};
use crate::request_log::RequestLog;
use crate::routing::{self, Target};
use crate::stream_reset::StreamReset;
use crate::tenants::Identity;

pub use bedrock_gateway_proto::metadata::MODEL_DEPRECATION as DEPRECATION_HEADER;

/// The v1 GatewayService.
#[derive(Debug, Clone)]
pub struct Gateway {
    catalog: LiveCatalog,
    bedrock: Bedrock,
    admission: Admission,
    quotas: Quotas,
    max_stream_duration: Duration,
    stream_idle_timeout: Duration,
    client_stall_timeout: Duration,
    stream_open_timeout: Duration,
    converse_timeout: Duration,
    cut: CancellationToken,
}

/// One call in progress: its log line, which also holds its id and its clock.
struct Call {
    log: RequestLog,
}

impl Call {
    /// The call's record, started by the edge layer (or here, when the service runs without it).
    fn start(rpc: &'static str, extensions: &tonic::Extensions) -> Call {
        let log = extensions
            .get::<RequestLog>()
            .cloned()
            .unwrap_or_else(|| RequestLog::start(rpc, extensions.get::<Peer>().cloned(), None));
        Call { log }
    }

    /// The caller's identity, established by the identity layer in front of the service.
    fn identity(&self, extensions: &tonic::Extensions) -> Result<Identity, Status> {
        extensions
            .get::<Identity>()
            .cloned()
            .ok_or_else(|| self.fail(GatewayError::Unauthenticated { reason: "the request was not identified".into() }))
    }

    fn fail(&self, err: GatewayError) -> Status {
        self.log.failed(&err);
        err.to_status(self.log.request_id())
    }
}

/// A validated Converse-shaped call, ready to send to Bedrock.
struct Prepared {
    model: Arc<Model>,
    /// The targets to try, in order: the one picked, then the model's fallbacks.
    route: Vec<Arc<Target>>,
    bedrock_request: BedrockRequest,
    deadline: Instant,
    /// The request's input tokens, as estimated for its quota reservation; `None` where no tokens
    /// quota applies.
    input_estimate: Option<u64>,
}

impl Prepared {
    /// The tokens a Converse call reserves: its max_tokens and its estimated input.
    fn tokens(&self) -> u64 {
        let max_tokens = self.bedrock_request.inference.max_tokens.map_or(0, |tokens| tokens.max(0) as u64);
        max_tokens + self.input_estimate.unwrap_or(0)
    }
}

impl Gateway {
    /// A service answering from `catalog` through `bedrock`, admitting requests through
    /// `admission`; its open streams end with UNAVAILABLE when their connection's
    /// [`ConnectionCut`] is cancelled, or `cut` for requests that came without one.
    pub fn new(
        catalog: LiveCatalog,
        bedrock: Bedrock,
        admission: Admission,
        quotas: Quotas,
        server: &ServerConfig,
        bedrock_config: &BedrockConfig,
        cut: CancellationToken,
    ) -> Gateway {
        Gateway {
            cut,
            catalog,
            bedrock,
            admission,
            quotas,
            max_stream_duration: server.max_stream_duration_secs.get(),
            stream_idle_timeout: server.stream_idle_timeout_secs.get(),
            client_stall_timeout: server.client_stall_timeout_secs.get(),
            stream_open_timeout: bedrock_config.stream_open_timeout_secs.get(),
            converse_timeout: bedrock_config.converse_timeout_secs.get(),
        }
    }

    /// This service, calling Bedrock through `bedrock` instead: for another shard, which shares
    /// everything else (see [`crate::shards`]).
    pub fn with_bedrock(&self, bedrock: Bedrock) -> Gateway {
        Gateway { bedrock, ..self.clone() }
    }

    /// Validates and converts the request; nothing here talks to Bedrock.
    fn prepare(
        &self,
        request: v1::ConverseRequest,
        metadata: &MetadataMap,
        identity: &Identity,
        call: &Call,
    ) -> Result<Prepared, GatewayError> {
        call.log.set_request(&request);
        require_model_name(&request)?;
        let model = self.resolve(&request.model, ModelKind::Chat, identity, call)?;
        let route = model.route(&request.request_metadata);
        call.log.set_model_version(&route[0].version);
        if model.state == ModelState::Deprecated {
            call.log.set_deprecated();
        }
        // Walking the request to estimate it costs time on every call, so only where tokens count.
        let input_estimate = identity.tenant.counts_tokens(&model.name).then(|| estimated_input_tokens(&request));
        let bedrock_request = to_bedrock(request, &model)?;
        Ok(Prepared { model, route, bedrock_request, deadline: self.deadline(metadata, call), input_estimate })
    }

    /// The logical model `name`, as `identity`'s tenant may call it today, of `kind`.
    fn resolve(
        &self,
        name: &str,
        kind: ModelKind,
        identity: &Identity,
        call: &Call,
    ) -> Result<Arc<Model>, GatewayError> {
        let resolved = self.catalog.current().resolve(name, &identity.tenant);
        if !matches!(resolved, Err(GatewayError::UnknownModel { .. })) {
            call.log.set_known_model();
        }
        let model = resolved.map_err(|err| match err {
            GatewayError::ModelNotAllowed { .. } => {
                call.log.refused(Rejection::Permission, &err);
                err
            }
            err => err,
        })?;
        model.require_kind(kind)?;
        Ok(model)
    }

    /// The caller's deadline: its own `grpc-timeout`, within the gateway's maximum.
    fn deadline(&self, metadata: &MetadataMap, call: &Call) -> Instant {
        let limit =
            client_timeout(metadata).map_or(self.max_stream_duration, |timeout| timeout.min(self.max_stream_duration));
        call.log.received_at() + limit
    }

    /// The bounds of a unary Converse by `deadline`: Bedrock responds only once the model has
    /// generated the whole answer.
    fn converse_bounds(&self, deadline: Instant) -> UnaryBounds {
        UnaryBounds {
            respond_within: self.converse_timeout,
            respond_key: "bedrock.converse_timeout_secs",
            idle: self.stream_idle_timeout,
            deadline,
        }
    }

    /// The bounds of a CountTokens or InvokeModel call by `deadline`: Bedrock responds as soon as
    /// it has taken the call, as it opens a stream.
    fn call_bounds(&self, deadline: Instant) -> UnaryBounds {
        UnaryBounds {
            respond_within: self.stream_open_timeout,
            respond_key: "bedrock.stream_open_timeout_secs",
            idle: self.stream_idle_timeout,
            deadline,
        }
    }

    /// Calls `attempt` on the request's targets in order until one answers: on to the next only
    /// while the one before had no capacity for the request (throttled, unavailable, not ready,
    /// timed out opening) and the caller's deadline has not passed. Nothing has been sent to the
    /// caller yet, so it sees one answer; the log line and a metric record each fallback.
    async fn with_fallbacks<R, T, F, Fut>(
        &self,
        call: &Call,
        model: &Model,
        route: Vec<Arc<Target>>,
        request: R,
        deadline: Instant,
        attempt: F,
    ) -> Result<(Arc<Target>, T), GatewayError>
    where
        R: Clone,
        F: Fn(Arc<Target>, R) -> Fut,
        Fut: Future<Output = Result<T, GatewayError>>,
    {
        let mut targets = route.into_iter().peekable();
        let mut request = Some(request);
        loop {
            let target = targets.next().expect("a route has at least its picked target");
            call.log.set_model_version(&target.version);
            // The last try takes the request; earlier ones a copy, for the next.
            let this_try = match targets.peek() {
                Some(_) => request.clone(),
                None => request.take(),
            }
            .expect("the request is kept until the last try");
            match attempt(Arc::clone(&target), this_try).await {
                Ok(answer) => return Ok((target, answer)),
                Err(err) if routing::falls_back(&err) && Instant::now() < deadline => match targets.peek() {
                    Some(next) => {
                        call.log.fell_back_from(&target.version);
                        metrics::fell_back(&model.name, &target.version, &next.version);
                    }
                    None => return Err(err),
                },
                Err(err) => return Err(err),
            }
        }
    }

    /// Reserves the call's place within its tenant's quotas on `model`: `tokens` (for a Converse
    /// call, max_tokens plus the input estimate; `reserved_for` says which), a request, a
    /// concurrency place.
    async fn reserve(
        &self,
        call: &Call,
        identity: &Identity,
        model: &str,
        tokens: u64,
        reserved_for: Reservation,
        input_estimate: Option<u64>,
    ) -> Result<Metered, Status> {
        let tenant = &identity.tenant;
        let request = QuotaRequest {
            tenant: &tenant.name,
            model,
            tenant_limits: &tenant.quotas,
            model_limits: tenant.model_quotas(model),
            tokens,
        };
        match self.quotas.acquire(request).await {
            Ok(grant) => Ok(Metered::new(grant, input_estimate, call.log.clone())),
            Err(exceeded) => {
                let quota = match &exceeded.model {
                    Some(model) => format!("tenants.{}.model_quotas.{model}.{}", tenant.name, exceeded.quota),
                    None => format!("tenants.{}.quotas.{}", tenant.name, exceeded.quota),
                };
                let retry = match exceeded.retry_after {
                    None => QuotaRetry::Never,
                    Some(_) if exceeded.frees_when_a_request_ends() => QuotaRetry::WhenARequestEnds,
                    Some(after) => QuotaRetry::After(after),
                };
                let err =
                    GatewayError::QuotaExceeded { quota, limit: exceeded.limit, retry, reserved: tokens, reserved_for };
                call.log.refused(Rejection::Quota, &err);
                Err(err.to_status(call.log.request_id()))
            }
        }
    }

    /// [`Gateway::reserve`] for a Converse call's answer: its max_tokens plus its input estimate.
    async fn reserve_answer(&self, call: &Call, identity: &Identity, prepared: &Prepared) -> Result<Metered, Status> {
        let (model, tokens) = (&prepared.model.name, prepared.tokens());
        self.reserve(call, identity, model, tokens, Reservation::Answer, prepared.input_estimate).await
    }

    /// Takes the call's admission slot, now that its message is complete and valid.
    fn admit(&self, call: &Call, extensions: &tonic::Extensions) -> Result<Slot, Status> {
        self.admission.admit(CallerKey::of(extensions)).map_err(|(reason, err)| {
            call.log.refused(reason, &err);
            err.to_status(call.log.request_id())
        })
    }
}

#[tonic::async_trait]
impl v1::gateway_service_server::GatewayService for Gateway {
    type ConverseStreamStream = RelayStream;

    async fn converse_stream(&self, request: Request<v1::ConverseRequest>) -> Result<Response<RelayStream>, Status> {
        let (metadata, extensions, request) = request.into_parts();
        let call = Call::start("ConverseStream", &extensions);
        let identity = call.identity(&extensions)?;
        let prepared = self.prepare(request, &metadata, &identity, &call).map_err(|err| call.fail(err))?;
        let slot = self.admit(&call, &extensions)?;
        let mut metered = self.reserve_answer(&call, &identity, &prepared).await?;
        let Prepared { model, route, bedrock_request, deadline, .. } = prepared;
        let tool_answer = bedrock_request.answer_in_tool;
        let stream_open_timeout = self.stream_open_timeout;
        let opened = self
            .with_fallbacks(&call, &model, route, bedrock_request, deadline, |target, request| {
                let open_by = deadline.min(Instant::now() + stream_open_timeout);
                let bedrock = self.bedrock.clone();
                let model = Arc::clone(&model);
                async move {
                    let open = bedrock.converse_stream(&model, &target, request);
                    match tokio::time::timeout_at(open_by, open).await {
                        Ok(opened) => opened,
                        Err(_) if open_by < deadline => Err(GatewayError::BedrockOpenTimeout {
                            alias: model.name.clone(),
                            after: stream_open_timeout,
                            key: "bedrock.stream_open_timeout_secs",
                        }),
                        Err(_) => Err(GatewayError::DeadlineExceeded),
                    }
                }
            })
            .await;
        let (target, stream) = opened.map_err(|err| call.fail(err))?;
        metered.started();
        release_request_memory(&extensions);
        let context = RelayContext {
            model: Arc::clone(&model),
            target,
            deadline,
            idle_timeout: self.stream_idle_timeout,
            client_stall_timeout: self.client_stall_timeout,
            log: call.log,
            cut: extensions.get::<ConnectionCut>().map_or_else(|| self.cut.clone(), |cut| cut.0.clone()),
            reset: extensions.get::<StreamReset>().cloned().unwrap_or_default(),
            slot,
            metered,
            tool_answer,
        };
        let mut response = Response::new(relay(stream, context));
        tag_response(response.metadata_mut(), &model);
        Ok(response)
    }

    async fn converse(&self, request: Request<v1::ConverseRequest>) -> Result<Response<v1::ConverseResponse>, Status> {
        let (metadata, extensions, request) = request.into_parts();
        let call = Call::start("Converse", &extensions);
        let identity = call.identity(&extensions)?;
        let prepared = self.prepare(request, &metadata, &identity, &call).map_err(|err| call.fail(err))?;
        let _slot = self.admit(&call, &extensions)?;
        let mut metered = self.reserve_answer(&call, &identity, &prepared).await?;
        let Prepared { model, route, bedrock_request, deadline, .. } = prepared;
        let tool_answer = bedrock_request.answer_in_tool;
        let bounds = self.converse_bounds(deadline);
        let called = self
            .with_fallbacks(&call, &model, route, bedrock_request, deadline, |target, request| {
                let bedrock = self.bedrock.clone();
                let model = Arc::clone(&model);
                async move { bedrock.converse(&model, &target, request, &bounds).await }
            })
            .await;
        let (target, output) = called.map_err(|err| call.fail(err))?;
        release_request_memory(&extensions);
        let mut answer = answer(output);
        if tool_answer {
            tool_answer_as_text(&mut answer.output.content, &mut answer.stop_reason);
        }
        metered.settle(&answer.usage);
        let total = call.log.received_at().elapsed();
        // The whole answer arrives at once: a time to first token would only repeat the total.
        call.log.succeeded(answer.stop_reason, answer.usage, None);
        let mut response = Response::new(v1::ConverseResponse {
            request_id: call.log.request_id().to_owned(),
            model: model.name.clone(),
            model_version: target.version.clone(),
            output: Some(answer.output),
            stop_reason: answer.stop_reason as i32,
            usage: Some(answer.usage),
            timing: Some(v1::Timing { time_to_first_token: None, total: Some(proto_duration(total)) }),
        });
        tag_response(response.metadata_mut(), &model);
        Ok(response)
    }

    async fn list_models(
        &self,
        request: Request<v1::ListModelsRequest>,
    ) -> Result<Response<v1::ListModelsResponse>, Status> {
        let call = Call::start("ListModels", request.extensions());
        let identity = call.identity(request.extensions())?;
        call.log.answered();
        Ok(Response::new(self.catalog.current().list(&identity.tenant)))
    }

    async fn count_tokens(
        &self,
        request: Request<v1::ConverseRequest>,
    ) -> Result<Response<v1::CountTokensResponse>, Status> {
        let (metadata, extensions, request) = request.into_parts();
        let call = Call::start("CountTokens", &extensions);
        let identity = call.identity(&extensions)?;
        let prepared = self.prepare(request, &metadata, &identity, &call).map_err(|err| call.fail(err))?;
        if !prepared.model.capabilities.count_tokens {
            let err = GatewayError::Unsupported {
                alias: prepared.model.name.clone(),
                rpc: "CountTokens",
                capability: "count_tokens",
            };
            return Err(call.fail(err));
        }
        let _slot = self.admit(&call, &extensions)?;
        // One request against request quotas; counting uses no tokens.
        let _metered = self.reserve(&call, &identity, &prepared.model.name, 0, Reservation::Answer, None).await?;
        let Prepared { model, route, bedrock_request, deadline, .. } = prepared;
        let bounds = self.call_bounds(deadline);
        let counted = self
            .with_fallbacks(&call, &model, route, bedrock_request, deadline, |target, request| {
                let bedrock = self.bedrock.clone();
                let model = Arc::clone(&model);
                async move { bedrock.count_tokens(&model, &target, request, &bounds).await }
            })
            .await;
        let (target, input_tokens) = counted.map_err(|err| call.fail(err))?;
        release_request_memory(&extensions);
        call.log.answered();
        let mut response = Response::new(v1::CountTokensResponse {
            request_id: call.log.request_id().to_owned(),
            model: model.name.clone(),
            model_version: target.version.clone(),
            input_tokens,
        });
        tag_response(response.metadata_mut(), &model);
        Ok(response)
    }

    async fn embed(&self, request: Request<v1::EmbedRequest>) -> Result<Response<v1::EmbedResponse>, Status> {
        let (metadata, extensions, request) = request.into_parts();
        let call = Call::start("Embed", &extensions);
        let identity = call.identity(&extensions)?;
        call.log.set_embed_request(&request);
        let prepared = (|| {
            embed::require_model_name(&request)?;
            let model = self.resolve(&request.model, ModelKind::Embedding, &identity, &call)?;
            let route = model.route(&request.request_metadata);
            call.log.set_model_version(&route[0].version);
            if model.state == ModelState::Deprecated {
                call.log.set_deprecated();
            }
            let plan = embed::plan(request, &model)?;
            Ok((model, route, plan))
        })();
        let (model, route, plan) = prepared.map_err(|err| call.fail(err))?;
        let deadline = self.deadline(&metadata, &call);
        let _slot = self.admit(&call, &extensions)?;
        let input_estimate = identity.tenant.counts_tokens(&model.name).then(|| plan.estimated_input_tokens());
        let tokens = input_estimate.unwrap_or(0);
        let mut metered =
            self.reserve(&call, &identity, &model.name, tokens, Reservation::Texts, input_estimate).await?;
        let bounds = self.call_bounds(deadline);
        let embedded = self
            .with_fallbacks(&call, &model, route, plan.clone(), deadline, |target, plan| {
                let bedrock = self.bedrock.clone();
                let model = Arc::clone(&model);
                async move { embed::embed(&bedrock, &model, &target, &plan, &bounds).await }
            })
            .await;
        let (target, embedded) = embedded.map_err(|err| call.fail(err))?;
        release_request_memory(&extensions);
        let usage = v1::TokenUsage {
            input_tokens: embedded.input_tokens,
            total_tokens: embedded.input_tokens,
            ..Default::default()
        };
        metered.settle(&usage);
        call.log.read_tokens(usage);
        let mut response = Response::new(v1::EmbedResponse {
            request_id: call.log.request_id().to_owned(),
            model: model.name.clone(),
            model_version: target.version.clone(),
            embeddings: embedded.vectors.into_iter().map(|values| v1::Embedding { values }).collect(),
            dimensions: plan.dimensions,
            input_tokens: embedded.input_tokens,
        });
        tag_response(response.metadata_mut(), &model);
        Ok(response)
    }
}

/// Bedrock has the request: its bytes (the decoded message, its conversion, the SDK's body) are
/// gone, so they leave the memory budget. A failed call gives them back when it is dropped.
fn release_request_memory(extensions: &tonic::Extensions) {
    if let Some(memory) = extensions.get::<RequestMemory>() {
        memory.release();
    }
}

/// Response metadata besides `x-request-id`, which the edge layer sets on every response.
fn tag_response(metadata: &mut MetadataMap, model: &Model) {
    if let Some(notice) = model.deprecation_notice()
        && let Ok(value) = notice.parse()
    {
        metadata.insert(DEPRECATION_HEADER, value);
    }
}

/// The client's deadline, from the `grpc-timeout` header (digits followed by a unit letter).
fn client_timeout(metadata: &MetadataMap) -> Option<Duration> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout(value: &str) -> Option<Duration> {
        let mut metadata = MetadataMap::new();
        metadata.insert("grpc-timeout", value.parse().unwrap());
        client_timeout(&metadata)
    }

    #[test]
    fn grpc_timeout_header_is_parsed() {
        assert_eq!(timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(timeout("x"), None);
        assert_eq!(timeout("10"), None);
        assert_eq!(client_timeout(&MetadataMap::new()), None);
    }
}
