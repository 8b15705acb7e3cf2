//! The request pipeline: the phases every call goes through, whatever door it came in by and
//! whatever it asks Bedrock for, in this order:
//!
//! 1. **identify**: the caller's tenant, as the edge established it ([`Call::identity`]);
//! 2. **validate**: the request's own fields, before the catalog is asked;
//! 3. **resolve**: the logical model as the tenant may call it today, its route of targets, and
//!    the request checked against the model and converted for Bedrock;
//! 4. **admit**: an in-flight place, then the tenant's quotas ([`crate::pipeline::quota`]);
//! 5. **call**: the real Bedrock SDK, target after target while one has no capacity and nothing
//!    has been sent to the caller;
//! 6. **relay** or **settle**: a stream's events relayed with its terminal event guaranteed
//!    ([`relay`]), or a whole answer's usage settled; the request's record and metrics close.
//!
//! What differs between calls is an [`Operation`] (`operations.rs`): what it records and checks,
//! what it reserves, how one target is tried and what its answer becomes. A door only decodes its
//! protocol's request, starts the [`Call`] and encodes what the pipeline returns.

pub mod admission;
mod call;
pub mod catalog;
pub mod convert;
pub mod embed;
pub mod metering;
mod operations;
pub mod peer;
pub mod quota;
pub mod relay;
pub mod request_log;
pub mod routing;
pub mod stream_reset;
pub mod tenants;
mod validate;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ModelKind, ModelState};
use crate::error::{GatewayError, QuotaRetry};
use crate::ops::metrics::{self, Metrics, Rejection};
use crate::pipeline::admission::{Admission, Slot};
use crate::pipeline::catalog::Model;
use crate::pipeline::catalog::live::LiveCatalog;
use crate::pipeline::metering::Metered;
use crate::pipeline::quota::{QuotaRequest, Quotas};
use crate::pipeline::routing::Target;
use crate::upstream::bedrock::{Bedrock, Destination, UnaryBounds};

pub use call::Call;
pub use operations::{Converse, ConverseStream, CountTokens, Embed, Operation, Request, Reserve};

/// The pipeline of one gateway task; cheap to clone.
#[derive(Debug, Clone)]
pub struct Pipeline {
    catalog: LiveCatalog,
    bedrock: Bedrock,
    admission: Admission,
    quotas: Quotas,
    bounds: Bounds,
    metrics: Metrics,
    /// Ends the streams of calls that came without a connection of their own.
    cut: CancellationToken,
}

/// How long each part of a call may take.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    max_stream_duration: Duration,
    stream_idle_timeout: Duration,
    client_stall_timeout: Duration,
    stream_open_timeout: Duration,
    converse_timeout: Duration,
}

/// A call Bedrock has answered: the model and target that answered, what it answered, and what
/// the call still holds until it is settled.
#[derive(Debug)]
pub struct Answered<A> {
    /// The logical model.
    pub model: Arc<Model>,
    /// The target that answered.
    pub target: Arc<Target>,
    /// Bedrock's answer.
    pub answer: A,
    /// When the call must be complete.
    pub deadline: Instant,
    /// Whether the answer comes as a forced tool's input, to be turned back into text.
    pub answer_in_tool: bool,
    /// The call's in-flight place.
    pub slot: Slot,
    /// The call's quota reservation.
    pub metered: Metered,
}

/// What a call served its door: the logical model (whose notices go with the answer), and what the
/// operation made of Bedrock's answer.
#[derive(Debug)]
pub struct Served<T> {
    /// The logical model.
    pub model: Arc<Model>,
    /// What the operation made of Bedrock's answer.
    pub value: T,
}

impl Pipeline {
    /// A pipeline answering from `catalog` through `bedrock`, admitting requests through
    /// `admission` and `quotas`, within the bounds of `config`'s `server` and `bedrock` sections,
    /// counting in `metrics`; the streams of calls without a connection end when `cut` is cancelled.
    pub fn new(
        catalog: LiveCatalog,
        bedrock: Bedrock,
        admission: Admission,
        quotas: Quotas,
        config: &Config,
        metrics: Metrics,
        cut: CancellationToken,
    ) -> Pipeline {
        let (server, bedrock_config) = (&config.server, &config.bedrock);
        let bounds = Bounds {
            max_stream_duration: server.max_stream_duration_secs.get(),
            stream_idle_timeout: server.stream_idle_timeout_secs.get(),
            client_stall_timeout: server.client_stall_timeout_secs.get(),
            stream_open_timeout: bedrock_config.stream_open_timeout_secs.get(),
            converse_timeout: bedrock_config.converse_timeout_secs.get(),
        };
        Pipeline { catalog, bedrock, admission, quotas, bounds, metrics, cut }
    }

    /// This pipeline, calling Bedrock through `bedrock` instead: for another shard, which shares
    /// everything else (see `transport::shards`).
    pub fn with_bedrock(&self, bedrock: Bedrock) -> Pipeline {
        Pipeline { bedrock, ..self.clone() }
    }

    /// Where this pipeline's calls are counted.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Runs `request` through every phase as the operation `O`.
    pub async fn run<O: Operation>(&self, call: Call, request: O::Request) -> Result<Served<O::Served>, GatewayError> {
        let identity = call.identity()?;
        // validate, resolve
        request.record(call.log());
        validate::check_model_name(request.model()).map_err(|err| call.failed(err))?;
        validate::check_labels(request.request_metadata()).map_err(|err| call.failed(err))?;
        call.log().set_labels(request.request_metadata());
        let model = self.resolve(request.model(), O::KIND, &call).map_err(|err| call.failed(err))?;
        let route = model.route(request.request_metadata());
        call.log().set_model_version(&route[0].version);
        if model.state == ModelState::Deprecated {
            call.log().set_deprecated();
        }
        let counts_tokens = identity.tenant.counts_tokens(&model.name);
        let prepared = O::prepare(request, &model, counts_tokens).map_err(|err| call.failed(err))?;
        let deadline = self.deadline(&call);
        // admit
        let slot = self.admission.admit(call.caller().clone()).map_err(|(reason, err)| call.refused(reason, err))?;
        let metered = self.reserve(&call, &model.name, prepared.reserve).await?;
        // call
        let answer_in_tool = O::answer_in_tool(&prepared.upstream);
        let (target, answer) = self
            .with_fallbacks::<O>(&call, &model, route, prepared.upstream, deadline)
            .await
            .map_err(|err| call.failed(err))?;
        let answered = Answered { model, target, answer, deadline, answer_in_tool, slot, metered };
        // relay or settle
        Ok(O::finish(self, call, answered))
    }

    /// Phase "identify" alone, for calls that ask nothing of Bedrock: the models the caller's
    /// tenant may call.
    pub fn list_models(&self, call: &Call) -> Result<bedrock_gateway_proto::v1::ListModelsResponse, GatewayError> {
        let identity = call.identity()?;
        call.log().answered();
        Ok(self.catalog.current().list(&identity.tenant))
    }

    /// The logical model `name`, as the call's tenant may call it today, of `kind`.
    fn resolve(&self, name: &str, kind: ModelKind, call: &Call) -> Result<Arc<Model>, GatewayError> {
        let identity = call.identity()?;
        let resolved = self.catalog.current().resolve(name, &identity.tenant);
        if !matches!(resolved, Err(GatewayError::UnknownModel { .. })) {
            call.log().set_known_model();
        }
        let model = resolved.map_err(|err| match err {
            GatewayError::ModelNotAllowed { .. } => {
                call.log().refused(Rejection::Permission, &err);
                err
            }
            err => err,
        })?;
        model.require_kind(kind)?;
        Ok(model)
    }

    /// The call's deadline: its caller's own, within the gateway's maximum.
    fn deadline(&self, call: &Call) -> Instant {
        let max = self.bounds.max_stream_duration;
        call.log().received_at() + call.client_timeout().map_or(max, |timeout| timeout.min(max))
    }

    /// Reserves the call's place within its tenant's quotas on `model`: a request, a concurrency
    /// place and `reserve`'s tokens.
    async fn reserve(&self, call: &Call, model: &str, reserve: Reserve) -> Result<Metered, GatewayError> {
        let tenant = &call.identity()?.tenant;
        let request = QuotaRequest {
            tenant: &tenant.name,
            model,
            tenant_limits: &tenant.quotas,
            model_limits: tenant.model_quotas(model),
            tokens: reserve.tokens,
        };
        match self.quotas.acquire(request).await {
            Ok(grant) => Ok(Metered::new(grant, reserve.input_estimate, call.log().clone())),
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
                let err = GatewayError::QuotaExceeded {
                    quota,
                    limit: exceeded.limit,
                    retry,
                    reserved: reserve.tokens,
                    reserved_for: reserve.reserved_for,
                };
                Err(call.refused(Rejection::Quota, err))
            }
        }
    }

    /// Tries the request's targets in order until one answers: on to the next only while the one
    /// before had no capacity for the request (throttled, unavailable, not ready, timed out
    /// opening) and the caller's deadline has not passed. Nothing has been sent to the caller yet,
    /// so it sees one answer; the log line and a metric record each fallback.
    async fn with_fallbacks<O: Operation>(
        &self,
        call: &Call,
        model: &Arc<Model>,
        route: Vec<Arc<Target>>,
        upstream: O::Upstream,
        deadline: Instant,
    ) -> Result<(Arc<Target>, O::Answer), GatewayError> {
        let mut targets = route.into_iter().peekable();
        let mut upstream = Some(upstream);
        loop {
            let target = targets.next().expect("a route has at least its picked target");
            call.log().set_model_version(&target.version);
            // The last try takes the request; earlier ones a copy, for the next.
            let this_try = match targets.peek() {
                Some(_) => upstream.clone(),
                None => upstream.take(),
            }
            .expect("the request is kept until the last try");
            let attempt = Attempt { pipeline: self, to: destination(model, &target), deadline };
            match O::attempt(&attempt, this_try).await {
                Ok(answer) => return Ok((target, answer)),
                Err(err) if routing::falls_back(&err) && Instant::now() < deadline => match targets.peek() {
                    Some(next) => {
                        call.log().fell_back_from(&target.version);
                        metrics::fell_back(&model.name, &target.version, &next.version);
                    }
                    None => return Err(err),
                },
                Err(err) => return Err(err),
            }
        }
    }
}

/// One try of a call on one target: where it goes, and what bounds it.
#[derive(Debug)]
pub struct Attempt<'a> {
    pipeline: &'a Pipeline,
    /// The target, as Bedrock names it.
    pub to: Destination<'a>,
    /// When the call must be complete.
    pub deadline: Instant,
}

impl Attempt<'_> {
    /// The Bedrock clients.
    pub fn bedrock(&self) -> &Bedrock {
        &self.pipeline.bedrock
    }

    /// How long a stream may take to open (`bedrock.stream_open_timeout_secs`).
    pub fn stream_open_timeout(&self) -> Duration {
        self.pipeline.bounds.stream_open_timeout
    }

    /// The bounds of a unary Converse: Bedrock responds only once the model has generated the
    /// whole answer.
    pub fn converse_bounds(&self) -> UnaryBounds {
        UnaryBounds {
            respond_within: self.pipeline.bounds.converse_timeout,
            respond_key: "bedrock.converse_timeout_secs",
            idle: self.pipeline.bounds.stream_idle_timeout,
            deadline: self.deadline,
        }
    }

    /// The bounds of a CountTokens or InvokeModel call: Bedrock responds as soon as it has taken
    /// the call, as it opens a stream.
    pub fn call_bounds(&self) -> UnaryBounds {
        UnaryBounds {
            respond_within: self.pipeline.bounds.stream_open_timeout,
            respond_key: "bedrock.stream_open_timeout_secs",
            idle: self.pipeline.bounds.stream_idle_timeout,
            deadline: self.deadline,
        }
    }
}

/// Where a call to `target` of `model` goes, in Bedrock's names.
fn destination<'a>(model: &'a Model, target: &'a Target) -> Destination<'a> {
    Destination {
        alias: &model.name,
        model_id: &target.model_id,
        region: &target.region,
        role_arn: target.role_arn.as_deref(),
        guardrail: model.guardrail.as_ref(),
        additional_fields: target.additional_request_fields.as_ref(),
    }
}
