//! The one error type of the gateway's request path, and the only place that turns an error into a
//! gRPC status. Keeping the mapping here makes the status codes a client sees reviewable at a glance.

use std::time::Duration;

use tonic::{Code, Status};

pub use bedrock_gateway_proto::metadata::{
    REQUEST_ID as REQUEST_ID_HEADER, RETRY_PUSHBACK_MS as RETRY_PUSHBACK_HEADER,
};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A request field is invalid; nothing was sent to Bedrock.
    #[error("{field}: {reason}")]
    InvalidArgument {
        /// Path of the field, as in `messages[1].content[0].image.format`.
        field: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// The logical model name is not in the catalog.
    #[error("model: unknown model {alias:?}; this gateway offers: {known}")]
    UnknownModel {
        /// The name the client sent.
        alias: String,
        /// The names it could have sent, comma-separated.
        known: String,
    },
    /// The logical model exists but no longer serves.
    #[error("model: {alias:?} is retired; use {replacement:?} instead")]
    ModelRetired {
        /// The retired name.
        alias: String,
        /// The name to use instead.
        replacement: String,
    },
    /// The caller could not be identified, or presented a credential the gateway does not know.
    #[error("{reason}")]
    Unauthenticated {
        /// What is missing or wrong, never naming a tenant.
        reason: String,
    },
    /// The caller is identified but its credentials may not be used this way.
    #[error("{reason}")]
    PermissionDenied {
        /// What is not allowed, never naming another tenant.
        reason: String,
    },
    /// The caller's tenant may not use this logical model.
    #[error("model: this caller may not use {alias:?}; ListModels shows the models it may use")]
    ModelNotAllowed {
        /// The logical model asked for.
        alias: String,
    },
    /// The gateway is at its configured concurrency limit.
    #[error("the gateway is at capacity ({limit} requests in flight); retry with backoff")]
    AtCapacity {
        /// `server.max_concurrent_requests`.
        limit: usize,
    },
    /// The caller already has as many requests in flight as one caller may.
    #[error(
        "this caller has {limit} requests in flight, the most one caller may have on a gateway task; retry with backoff"
    )]
    CallerAtCapacity {
        /// `server.max_concurrent_requests_per_caller`.
        limit: usize,
    },
    /// The caller's tenant is over one of its quotas.
    #[error("{}", describe_quota(.quota, .limit, .retry_after.as_ref(), .reserved))]
    QuotaExceeded {
        /// The config key of the quota that tripped, such as `tenants.payments.quotas.tokens_per_minute`.
        quota: String,
        /// Its value.
        limit: u64,
        /// When enough of it is back; `None` when this request can never fit in it.
        retry_after: Option<Duration>,
        /// The tokens the request reserves (its max_tokens plus an estimate of its input).
        reserved: u64,
    },
    /// The request bytes all requests hold are at their budget.
    #[error("the gateway is holding {budget} bytes of requests, its limit; retry with backoff")]
    RequestMemoryFull {
        /// `server.max_buffered_request_bytes`.
        budget: usize,
    },
    /// The request message did not arrive completely in time.
    #[error("the request was not received completely within {0:?}")]
    RequestNotReceived(Duration),
    /// The client took no event for too long, so its stream was ended to free its slot.
    #[error("the client read nothing for {0:?}; the stream was ended and the answer is incomplete")]
    ClientStalled(Duration),
    /// Bedrock did not open the stream in time.
    #[error("the model {alias:?} did not start answering within {after:?}; retry with backoff")]
    BedrockOpenTimeout {
        /// The logical model.
        alias: String,
        /// `bedrock.stream_open_timeout_secs`.
        after: Duration,
    },
    /// The request message is larger than allowed.
    #[error(
        "the request is larger than the gateway's limit of {limit} bytes; send less content (images, documents) per request"
    )]
    RequestTooLarge {
        /// `server.max_request_bytes`.
        limit: usize,
    },
    /// Bedrock refused or failed the call.
    #[error("{}", describe_bedrock(*.kind, .message, .alias, *.incomplete))]
    Bedrock {
        /// What kind of failure.
        kind: BedrockFailure,
        /// Bedrock's own message (never contains prompt text).
        message: String,
        /// The logical model that was called.
        alias: String,
        /// Whether part of an answer had already been streamed.
        incomplete: bool,
    },
    /// The stream ended without the terminal events Bedrock always sends last.
    #[error("the model's stream ended early ({reason}); the answer is incomplete")]
    StreamTruncated {
        /// What was missing.
        reason: &'static str,
    },
    /// Bedrock sent nothing for too long.
    #[error("the model sent nothing for {0:?}; the answer is incomplete")]
    StreamIdle(Duration),
    /// The gateway stopped while the stream was still open, after the shutdown grace period.
    #[error("the gateway is shutting down; the answer is incomplete, retry it")]
    ShuttingDown,
    /// The client's deadline (or the gateway's maximum stream duration) passed.
    #[error("the deadline passed before the answer was complete")]
    DeadlineExceeded,
}

/// The kinds of Bedrock failure, each with its own gRPC code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BedrockFailure {
    /// ValidationException: Bedrock rejected the request's content.
    Validation,
    /// ThrottlingException or ServiceQuotaExceededException.
    Throttled,
    /// AccessDeniedException: the gateway's role may not call this model.
    AccessDenied,
    /// ResourceNotFoundException: the catalog points at a model Bedrock does not have.
    ModelNotFound,
    /// ModelTimeoutException.
    ModelTimeout,
    /// ServiceUnavailable, ModelNotReady, InternalServerException, or the connection failed.
    Unavailable,
    /// ModelErrorException or ModelStreamErrorException: the model itself failed.
    ModelFailed,
    /// Anything else, including a response the SDK could not understand.
    Other,
}

fn describe_bedrock(kind: BedrockFailure, message: &str, alias: &str, incomplete: bool) -> String {
    let what = match kind {
        BedrockFailure::Validation => format!("the model {alias:?} rejected the request: {message}"),
        BedrockFailure::Throttled => format!("the model {alias:?} is throttled; retry with backoff"),
        BedrockFailure::AccessDenied => format!("the gateway is not permitted to use the model {alias:?}"),
        BedrockFailure::ModelNotFound => format!("the model {alias:?} is unavailable"),
        BedrockFailure::ModelTimeout => format!("the model {alias:?} timed out"),
        BedrockFailure::Unavailable => format!("the model {alias:?} is temporarily unavailable"),
        BedrockFailure::ModelFailed => format!("the model {alias:?} failed: {message}"),
        BedrockFailure::Other => format!("calling the model {alias:?} failed"),
    };
    if incomplete { format!("{what}; the answer is incomplete") } else { what }
}

fn describe_quota(quota: &str, limit: &u64, retry_after: Option<&Duration>, reserved: &u64) -> String {
    match retry_after {
        Some(after) => format!(
            "quota {quota} ({limit}) is used up; capacity returns in {:.1} s",
            (after.as_secs_f64() * 10.0).ceil() / 10.0
        ),
        None => format!(
            "this request reserves {reserved} tokens (max_tokens plus its estimated input), more than quota {quota} \
             ({limit}) can ever grant; lower inference_config.max_tokens"
        ),
    }
}

impl GatewayError {
    /// The gRPC code clients see for this error.
    pub fn code(&self) -> Code {
        match self {
            GatewayError::InvalidArgument { .. } => Code::InvalidArgument,
            GatewayError::UnknownModel { .. } => Code::NotFound,
            GatewayError::ModelRetired { .. } => Code::FailedPrecondition,
            GatewayError::Unauthenticated { .. } => Code::Unauthenticated,
            GatewayError::PermissionDenied { .. } | GatewayError::ModelNotAllowed { .. } => Code::PermissionDenied,
            GatewayError::AtCapacity { .. }
            | GatewayError::CallerAtCapacity { .. }
            | GatewayError::QuotaExceeded { .. }
            | GatewayError::RequestMemoryFull { .. }
            | GatewayError::RequestTooLarge { .. } => Code::ResourceExhausted,
            GatewayError::RequestNotReceived(_) | GatewayError::ClientStalled(_) => Code::DeadlineExceeded,
            GatewayError::BedrockOpenTimeout { .. } => Code::Unavailable,
            GatewayError::Bedrock { kind, .. } => match kind {
                BedrockFailure::Validation => Code::InvalidArgument,
                BedrockFailure::Throttled => Code::ResourceExhausted,
                BedrockFailure::AccessDenied => Code::PermissionDenied,
                BedrockFailure::ModelNotFound => Code::NotFound,
                BedrockFailure::ModelTimeout => Code::DeadlineExceeded,
                BedrockFailure::Unavailable | BedrockFailure::ModelFailed => Code::Unavailable,
                BedrockFailure::Other => Code::Internal,
            },
            GatewayError::StreamTruncated { .. } | GatewayError::StreamIdle(_) | GatewayError::ShuttingDown => {
                Code::Unavailable
            }
            GatewayError::DeadlineExceeded => Code::DeadlineExceeded,
        }
    }

    /// Bedrock's own message, for the log: kept out of the client's message where it may name the
    /// model or the account, but the cause an operator needs.
    pub fn detail(&self) -> Option<&str> {
        match self {
            GatewayError::Bedrock { message, .. } if !message.is_empty() => Some(message),
            _ => None,
        }
    }

    /// Whether the platform team, not the caller, has something to fix.
    pub fn is_misconfiguration(&self) -> bool {
        matches!(self, GatewayError::Bedrock { kind: BedrockFailure::AccessDenied | BedrockFailure::ModelNotFound, .. })
    }

    /// gRPC's retry pushback for RESOURCE_EXHAUSTED errors: milliseconds to wait before retrying,
    /// or -1 where retrying cannot help. Bedrock quotas refill per minute, so a throttled call is
    /// pushed back further than a full gateway task, where another task behind the load balancer
    /// may have room at once; a request that is too large stays too large.
    pub fn retry_pushback_ms(&self) -> Option<i64> {
        match self {
            GatewayError::AtCapacity { .. }
            | GatewayError::CallerAtCapacity { .. }
            | GatewayError::RequestMemoryFull { .. } => Some(100),
            GatewayError::Bedrock { kind: BedrockFailure::Throttled, incomplete: false, .. }
            | GatewayError::BedrockOpenTimeout { .. } => Some(1000),
            GatewayError::RequestTooLarge { .. } | GatewayError::QuotaExceeded { retry_after: None, .. } => Some(-1),
            GatewayError::QuotaExceeded { retry_after: Some(after), .. } => {
                Some(i64::try_from(after.as_millis()).unwrap_or(i64::MAX).max(1))
            }
            _ => None,
        }
    }

    /// The status sent to the client, tagged with the request id (when there is one yet) and
    /// the retry pushback (when one applies).
    pub fn to_status(&self, request_id: &str) -> Status {
        let mut status = Status::new(self.code(), self.to_string());
        if !request_id.is_empty()
            && let Ok(value) = request_id.parse()
        {
            status.metadata_mut().insert(REQUEST_ID_HEADER, value);
        }
        if let Some(pushback) = self.retry_pushback_ms()
            && let Ok(value) = pushback.to_string().parse()
        {
            status.metadata_mut().insert(RETRY_PUSHBACK_HEADER, value);
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bedrock(kind: BedrockFailure) -> GatewayError {
        GatewayError::Bedrock { kind, message: "m".into(), alias: "chat".into(), incomplete: false }
    }

    #[test]
    fn bedrock_failures_map_to_the_documented_codes() {
        assert_eq!(bedrock(BedrockFailure::Validation).code(), Code::InvalidArgument);
        assert_eq!(bedrock(BedrockFailure::Throttled).code(), Code::ResourceExhausted);
        assert_eq!(bedrock(BedrockFailure::AccessDenied).code(), Code::PermissionDenied);
        assert_eq!(bedrock(BedrockFailure::ModelNotFound).code(), Code::NotFound);
        assert_eq!(bedrock(BedrockFailure::ModelTimeout).code(), Code::DeadlineExceeded);
        assert_eq!(bedrock(BedrockFailure::Unavailable).code(), Code::Unavailable);
    }

    #[test]
    fn status_carries_request_id_and_says_incomplete() {
        let err = GatewayError::Bedrock {
            kind: BedrockFailure::ModelFailed,
            message: "boom".into(),
            alias: "chat".into(),
            incomplete: true,
        };
        let status = err.to_status("req-1");
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.message().ends_with("the answer is incomplete"), "{}", status.message());
        assert_eq!(status.metadata().get(REQUEST_ID_HEADER).unwrap(), "req-1");
        assert!(status.metadata().get(RETRY_PUSHBACK_HEADER).is_none());
    }

    #[test]
    fn throttling_and_capacity_tell_the_client_when_to_retry() {
        let throttled = bedrock(BedrockFailure::Throttled).to_status("r");
        assert_eq!(throttled.metadata().get(RETRY_PUSHBACK_HEADER).unwrap(), "1000");
        let full = GatewayError::AtCapacity { limit: 1 }.to_status("");
        assert_eq!(full.metadata().get(RETRY_PUSHBACK_HEADER).unwrap(), "100");
        assert!(full.metadata().get(REQUEST_ID_HEADER).is_none());
        let too_large = GatewayError::RequestTooLarge { limit: 1 }.to_status("");
        assert_eq!(too_large.metadata().get(RETRY_PUSHBACK_HEADER).unwrap(), "-1", "retrying cannot help");
    }

    #[test]
    fn a_quota_refusal_names_the_quota_and_when_it_returns() {
        let quota = |retry_after| GatewayError::QuotaExceeded {
            quota: "tenants.payments.quotas.tokens_per_minute".into(),
            limit: 1000,
            retry_after,
            reserved: 1500,
        };
        let later = quota(Some(Duration::from_millis(1234))).to_status("");
        assert_eq!(later.code(), Code::ResourceExhausted);
        assert_eq!(later.metadata().get(RETRY_PUSHBACK_HEADER).unwrap(), "1234");
        assert_eq!(
            later.message(),
            "quota tenants.payments.quotas.tokens_per_minute (1000) is used up; capacity returns in 1.3 s"
        );
        let never = quota(None).to_status("");
        assert_eq!(never.metadata().get(RETRY_PUSHBACK_HEADER).unwrap(), "-1");
        assert!(never.message().contains("reserves 1500 tokens"), "{}", never.message());
    }
}
