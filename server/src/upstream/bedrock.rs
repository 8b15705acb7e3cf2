//! The Bedrock side: building the real `aws-sdk-bedrockruntime` client from config, making the
//! calls (Converse, ConverseStream, CountTokens, InvokeModel), and classifying every SDK error into
//! the gateway's error type in one function. The unary calls wait on Bedrock within the bounds of
//! the `unary` module ([`UnaryBounds`]).

mod clients;
mod request;
mod unary;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_bedrockruntime::config::{ConfigBag, Intercept, Region, RuntimeComponents};
use aws_sdk_bedrockruntime::error::{ConnectorError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::{ConverseError, ConverseOutput};
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::operation::count_tokens::CountTokensError;
use aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelError;
use aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{
    ConverseStreamOutput, ConverseTokensRequest, CountTokensInput, GuardrailConfiguration,
    GuardrailStreamConfiguration, GuardrailStreamProcessingMode,
};
use aws_smithy_types::Blob;

use crate::config::{BedrockConfig, CredentialsSource, StreamProcessingMode};
use crate::error::{BedrockFailure, GatewayError};
use crate::ops::metrics::Metrics;

use self::clients::Clients;

pub use request::{BedrockRequest, Destination};
pub use unary::UnaryBounds;

/// The stream of events of one ConverseStream call.
pub type BedrockStream = EventReceiver<ConverseStreamOutput, ConverseStreamOutputError>;

/// The Bedrock runtime clients, one per region and account, shared by all requests.
#[derive(Debug, Clone)]
pub struct Bedrock {
    clients: Clients,
    /// Where Bedrock's errors are counted.
    metrics: Metrics,
}

impl Bedrock {
    /// Builds the client, counting Bedrock's errors in `metrics`. Credentials are resolved lazily,
    /// on the first call, so start-up never waits on the credential chain (or on STS).
    pub async fn connect(config: &BedrockConfig, metrics: Metrics) -> Bedrock {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .retry_config(RetryConfig::standard().with_max_attempts(config.max_attempts))
            .timeout_config(TimeoutConfig::builder().connect_timeout(config.connect_timeout_ms.get()).build())
            // Models may think for a long time between tokens; the relay's idle timeout, which is
            // configurable and reported as an incomplete answer, replaces the SDK's 5 s default.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
        if let Some(url) = &config.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if config.credentials == CredentialsSource::Emulator {
            loader =
                loader.credentials_provider(Credentials::new("emulator", "emulator", None, None, "bedrock-emulator"));
        }
        let sdk = loader.load().await;
        Bedrock { clients: Clients::new(sdk, config), metrics }
    }

    /// The same clients for another thread's runtime (a shard; see `transport::shards`): built from
    /// the same SDK configuration (credentials and their cache, retries, timeouts, endpoints), but
    /// each with an HTTP client, so a connection pool, of its own. The SDK gives every client it
    /// builds its own default HTTPS client, since the configuration names none; connections are
    /// opened, and driven, by the runtime that first needs them, which is the shard's.
    pub fn for_another_thread(&self) -> Bedrock {
        Bedrock { clients: self.clients.for_another_thread(), metrics: self.metrics.clone() }
    }

    /// The client that calls `to`'s region, in `to`'s account.
    async fn client(&self, to: &Destination<'_>) -> Client {
        self.clients.get(to.region, to.role_arn).await
    }

    /// Starts a ConverseStream call on `target`; returns once Bedrock accepted it and its stream
    /// is open.
    pub async fn converse_stream(
        &self,
        to: &Destination<'_>,
        request: BedrockRequest,
    ) -> Result<BedrockStream, GatewayError> {
        let guardrail = to.guardrail.map(|guardrail| {
            let mode = match guardrail.stream_processing_mode {
                StreamProcessingMode::Sync => GuardrailStreamProcessingMode::Sync,
                StreamProcessingMode::Async => GuardrailStreamProcessingMode::Async,
            };
            GuardrailStreamConfiguration::builder()
                .guardrail_identifier(&guardrail.id)
                .guardrail_version(&guardrail.version)
                .stream_processing_mode(mode)
                .build()
        });
        let additional_fields = request.additional_fields_for(to.additional_fields);
        let output = self
            .client(to)
            .await
            .converse_stream()
            .model_id(to.model_id)
            .set_messages(Some(request.messages))
            .set_system(non_empty(request.system))
            .inference_config(request.inference)
            .set_tool_config(request.tool_config)
            .set_guardrail_config(guardrail)
            .set_additional_model_request_fields(additional_fields)
            .set_output_config(request.output_config)
            .send()
            .await
            .map_err(|err| classify(err, to.alias, to.model_id, false, &self.metrics))?;
        Ok(output.stream)
    }

    /// Makes a Converse call on `target`, within `bounds`.
    pub async fn converse(
        &self,
        to: &Destination<'_>,
        request: BedrockRequest,
        bounds: &UnaryBounds,
    ) -> Result<ConverseOutput, GatewayError> {
        let guardrail = to.guardrail.map(|guardrail| {
            GuardrailConfiguration::builder()
                .guardrail_identifier(&guardrail.id)
                .guardrail_version(&guardrail.version)
                .build()
        });
        let additional_fields = request.additional_fields_for(to.additional_fields);
        let (watch, progress) = unary::watch();
        let call = self
            .client(to)
            .await
            .converse()
            .model_id(to.model_id)
            .set_messages(Some(request.messages))
            .set_system(non_empty(request.system))
            .inference_config(request.inference)
            .set_tool_config(request.tool_config)
            .set_guardrail_config(guardrail)
            .set_additional_model_request_fields(additional_fields)
            .set_output_config(request.output_config)
            .customize()
            .interceptor(watch)
            .send();
        unary::within(call, &progress, bounds, to.alias)
            .await?
            .map_err(|err| classify(err, to.alias, to.model_id, false, &self.metrics))
    }

    /// Counts the input tokens of `request` on `target` with Bedrock's CountTokens, which takes
    /// the Converse fields that make up the input (no inference settings, no guardrail), within
    /// `bounds`.
    pub async fn count_tokens(
        &self,
        to: &Destination<'_>,
        request: BedrockRequest,
        bounds: &UnaryBounds,
    ) -> Result<u32, GatewayError> {
        let additional_fields = request.additional_fields_for(to.additional_fields);
        let input = ConverseTokensRequest::builder()
            .set_messages(Some(request.messages))
            .set_system(non_empty(request.system))
            .set_tool_config(request.tool_config)
            .set_additional_model_request_fields(additional_fields)
            .build();
        let (watch, progress) = unary::watch();
        let call = self
            .client(to)
            .await
            .count_tokens()
            .model_id(to.model_id)
            .input(CountTokensInput::Converse(input))
            .customize()
            .interceptor(watch)
            .send();
        let output = unary::within(call, &progress, bounds, to.alias)
            .await?
            .map_err(|err| classify(err, to.alias, to.model_id, false, &self.metrics))?;
        Ok(u32::try_from(output.input_tokens).unwrap_or(0))
    }

    /// Calls InvokeModel on `target` with a JSON `body` in the model family's own shape, within
    /// `bounds`.
    pub async fn invoke_model(
        &self,
        to: &Destination<'_>,
        body: Vec<u8>,
        bounds: &UnaryBounds,
    ) -> Result<Invoked, GatewayError> {
        let input_tokens = Arc::new(AtomicU64::new(u64::MAX));
        let (watch, progress) = unary::watch();
        let call = self
            .client(to)
            .await
            .invoke_model()
            .model_id(to.model_id)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(body))
            .customize()
            .interceptor(InputTokenHeader(Arc::clone(&input_tokens)))
            .interceptor(watch)
            .send();
        let output = unary::within(call, &progress, bounds, to.alias)
            .await?
            .map_err(|err| classify(err, to.alias, to.model_id, false, &self.metrics))?;
        let input_tokens = input_tokens.load(Ordering::Relaxed);
        Ok(Invoked {
            body: output.body.into_inner(),
            input_tokens: (input_tokens != u64::MAX).then(|| u32::try_from(input_tokens).unwrap_or(u32::MAX)),
        })
    }
}

/// An InvokeModel answer.
#[derive(Debug)]
pub struct Invoked {
    /// The model's JSON answer.
    pub body: Vec<u8>,
    /// The input tokens Bedrock counted, from the `X-Amzn-Bedrock-Input-Token-Count` header.
    pub input_tokens: Option<u32>,
}

/// Bedrock reports InvokeModel's input tokens in a response header, which the SDK's output does
/// not carry: this reads it off the raw response.
#[derive(Debug)]
struct InputTokenHeader(Arc<AtomicU64>);

impl Intercept for InputTokenHeader {
    fn name(&self) -> &'static str {
        "InputTokenHeader"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let count = context.response().headers().get("x-amzn-bedrock-input-token-count");
        if let Some(count) = count.and_then(|count| count.trim().parse().ok()) {
            self.0.store(count, Ordering::Relaxed);
        }
        Ok(())
    }
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

/// Classifies an SDK error, counting it in `metrics`. `incomplete` says whether part of the answer
/// was already streamed.
/// Bedrock's own message is kept whole for the log; it may name the Bedrock model id or the
/// account, which [`GatewayError`] scrubs from whatever the client sees.
pub fn classify<E, R>(
    err: SdkError<E, R>,
    alias: &str,
    model_id: &str,
    incomplete: bool,
    metrics: &Metrics,
) -> GatewayError
where
    E: ExceptionName + ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let (kind, message) = match &err {
        SdkError::ServiceError(service) => {
            let service_err = service.err();
            let exception = service_err.exception_name();
            metrics.bedrock_error(exception.unwrap_or("unknown"));
            (failure_of(exception), service_err.message().unwrap_or_default().to_owned())
        }
        SdkError::DispatchFailure(failure) if failure.as_connector_error().is_some_and(lacks_credentials) => {
            metrics.bedrock_error("credentials");
            (BedrockFailure::Credentials, DisplayErrorContext(&err).to_string())
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            metrics.bedrock_error("connection");
            (BedrockFailure::Unavailable, DisplayErrorContext(&err).to_string())
        }
        _ => {
            metrics.bedrock_error("unknown");
            (BedrockFailure::Other, DisplayErrorContext(&err).to_string())
        }
    };
    GatewayError::Bedrock { kind, message, model_id: model_id.to_owned(), alias: alias.to_owned(), incomplete }
}

/// Whether the call failed before it was sent because its credentials could not be obtained: the
/// role of a target in another account could not be assumed (STS refused, or could not be
/// reached), or the gateway's own credentials are missing. The SDK reports it as a dispatch
/// failure caused by the credentials provider's error.
fn lacks_credentials(err: &ConnectorError) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(err) = cause {
        if err.is::<CredentialsError>() {
            return true;
        }
        cause = err.source();
    }
    false
}

/// The Bedrock exception an SDK error stands for. HTTP errors carry it as their error code; errors
/// inside an event stream carry it only in their type, so those are matched by variant.
pub trait ExceptionName {
    /// The exception's name, such as `ThrottlingException`.
    fn exception_name(&self) -> Option<&str>;
}

impl ExceptionName for ConverseError {
    fn exception_name(&self) -> Option<&str> {
        self.code()
    }
}

impl ExceptionName for CountTokensError {
    fn exception_name(&self) -> Option<&str> {
        self.code()
    }
}

impl ExceptionName for InvokeModelError {
    fn exception_name(&self) -> Option<&str> {
        self.code()
    }
}

impl ExceptionName for ConverseStreamError {
    fn exception_name(&self) -> Option<&str> {
        self.code()
    }
}

impl ExceptionName for ConverseStreamOutputError {
    fn exception_name(&self) -> Option<&str> {
        Some(match self {
            ConverseStreamOutputError::InternalServerException(_) => "InternalServerException",
            ConverseStreamOutputError::ModelStreamErrorException(_) => "ModelStreamErrorException",
            ConverseStreamOutputError::ValidationException(_) => "ValidationException",
            ConverseStreamOutputError::ThrottlingException(_) => "ThrottlingException",
            ConverseStreamOutputError::ServiceUnavailableException(_) => "ServiceUnavailableException",
            _ => return self.code(),
        })
    }
}

fn failure_of(code: Option<&str>) -> BedrockFailure {
    match code {
        Some("ValidationException") => BedrockFailure::Validation,
        Some("ThrottlingException" | "ServiceQuotaExceededException") => BedrockFailure::Throttled,
        Some("AccessDeniedException") => BedrockFailure::AccessDenied,
        Some("ResourceNotFoundException") => BedrockFailure::ModelNotFound,
        Some("ModelTimeoutException") => BedrockFailure::ModelTimeout,
        Some("ServiceUnavailableException" | "ModelNotReadyException" | "InternalServerException") => {
            BedrockFailure::Unavailable
        }
        Some("ModelErrorException" | "ModelStreamErrorException") => BedrockFailure::ModelFailed,
        _ => BedrockFailure::Other,
    }
}

#[cfg(test)]
mod tests {
    /// The workspace's `.cargo/config.toml` builds aws-lc, the SDK's TLS crypto, to seed its random
    /// generator from the operating system. Without that, every gateway process spends about 50 ms
    /// of CPU on jitter sampling before its first Bedrock handshake (BENCHMARKS.md, cold start).
    #[test]
    fn aws_lc_is_built_without_cpu_jitter_seeding() {
        assert_eq!(option_env!("AWS_LC_SYS_NO_JITTER_ENTROPY"), Some("1"));
    }
}
