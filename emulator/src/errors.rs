//! Bedrock's modelled errors, as they travel on the wire.
//!
//! restJson1 errors are identified by the `x-amzn-errortype` header (the SDK
//! keeps the part before the first `:`), carry their message in a JSON body,
//! and use the HTTP status from the service model's `@httpError` trait.

use http::StatusCode;

/// An error Bedrock returns instead of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServiceError {
    AccessDenied,
    InternalServer,
    ModelError,
    ModelNotReady,
    ModelTimeout,
    ResourceNotFound,
    ServiceQuotaExceeded,
    ServiceUnavailable,
    Throttling,
    Validation,
}

impl ServiceError {
    /// The shape name, which is also the error code the SDK dispatches on.
    pub(crate) fn name(self) -> &'static str {
        let error_type = self.error_type();
        error_type.split_once(':').map_or(error_type, |(name, _)| name)
    }

    /// The `x-amzn-errortype` header value, in the `Name:namespace` form
    /// Bedrock sends.
    pub(crate) fn error_type(self) -> &'static str {
        macro_rules! coral {
            ($name:literal) => {
                concat!($name, ":http://internal.amazon.com/coral/com.amazon.bedrock/")
            };
        }
        match self {
            ServiceError::AccessDenied => coral!("AccessDeniedException"),
            ServiceError::InternalServer => coral!("InternalServerException"),
            ServiceError::ModelError => coral!("ModelErrorException"),
            ServiceError::ModelNotReady => coral!("ModelNotReadyException"),
            ServiceError::ModelTimeout => coral!("ModelTimeoutException"),
            ServiceError::ResourceNotFound => coral!("ResourceNotFoundException"),
            ServiceError::ServiceQuotaExceeded => coral!("ServiceQuotaExceededException"),
            ServiceError::ServiceUnavailable => coral!("ServiceUnavailableException"),
            ServiceError::Throttling => coral!("ThrottlingException"),
            ServiceError::Validation => coral!("ValidationException"),
        }
    }

    /// The status from the `@httpError` trait in the Bedrock Runtime model.
    pub(crate) fn status(self) -> StatusCode {
        match self {
            ServiceError::AccessDenied => StatusCode::FORBIDDEN,
            ServiceError::InternalServer => StatusCode::INTERNAL_SERVER_ERROR,
            ServiceError::ModelError => StatusCode::FAILED_DEPENDENCY,
            ServiceError::ModelNotReady | ServiceError::Throttling => StatusCode::TOO_MANY_REQUESTS,
            ServiceError::ModelTimeout => StatusCode::REQUEST_TIMEOUT,
            ServiceError::ResourceNotFound => StatusCode::NOT_FOUND,
            ServiceError::ServiceQuotaExceeded | ServiceError::Validation => StatusCode::BAD_REQUEST,
            ServiceError::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The message used when a fault, rather than a real problem, causes the
    /// error. It names the model id, as many of Bedrock's own messages do, so
    /// tests can check that a gateway keeps it from its clients.
    pub(crate) fn injected_message(self, model_id: &str) -> String {
        format!("{} injected by bedrock-emulator for model {model_id}", self.name())
    }
}

/// Why a request body is rejected with a `ValidationException`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    #[error("The request body is not a valid Converse request: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("The messages field must contain at least one message.")]
    NoMessages,
    #[error("The maxTokens field must be at least 1.")]
    ZeroMaxTokens,
    #[error("The tool {0} named by toolChoice is not in toolConfig.tools.")]
    UnknownTool(String),
    #[error("thinking.budget_tokens must be at least 1024 and less than maxTokens.")]
    ThinkingBudget,
    #[error(
        "outputConfig.textFormat must be of type json_schema with a structure.jsonSchema.schema holding a JSON object: {0}"
    )]
    OutputFormat(String),
    #[error(
        "A reasoningContent block must hold either reasoningText with text or base64 redactedContent, in an assistant message."
    )]
    ReasoningContent,
    #[error("{0}")]
    CachePoints(String),
}
