//! The one error type of the gateway's request path, and the only place that turns an error into a
//! gRPC status. Keeping the mapping here makes the status codes a client sees reviewable at a glance.

use std::borrow::Cow;
use std::sync::LazyLock;
use std::time::Duration;

use regex_lite::Regex;
use tonic::{Code, Status};

/// The pushback of a request refused a concurrency place: a place frees when some request of the
/// tenant ends, which nobody can know in advance, so the client is told to try again soon.
pub const PLACE_RETRY: Duration = Duration::from_secs(1);

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
    /// The request is not gRPC with protobuf messages.
    #[error("{}", describe_content_type(.content_type.as_deref()))]
    UnsupportedContentType {
        /// Its content type (the start of it), or `None` when it has none.
        content_type: Option<String>,
    },
    /// The logical model name is not in the catalog.
    #[error("model: unknown model {alias:?}; this gateway offers: {known}")]
    UnknownModel {
        /// The name the client sent.
        alias: String,
        /// The names it could have sent, comma-separated.
        known: String,
    },
    /// The logical model cannot serve this RPC (a capability it lacks, such as `count_tokens`).
    #[error("model: {alias:?} does not support {rpc} (ListModels shows its capabilities.{capability} as false)")]
    Unsupported {
        /// The logical model asked for.
        alias: String,
        /// The RPC, such as `CountTokens`.
        rpc: &'static str,
        /// The capability it needs, as ModelCapabilities names it.
        capability: &'static str,
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
    #[error("{}", describe_quota(.quota, *.limit, *.retry, *.reserved, *.reserved_for))]
    QuotaExceeded {
        /// The config key of the quota that tripped, such as `tenants.payments.quotas.tokens_per_minute`.
        quota: String,
        /// Its value.
        limit: u64,
        /// When the request could fit.
        retry: QuotaRetry,
        /// The tokens the request reserves.
        reserved: u64,
        /// What they are reserved for, which says how to reserve fewer.
        reserved_for: Reservation,
    },
    /// The request bytes all requests hold are at their budget.
    #[error(
        "the gateway is holding {budget} bytes of requests being received (server.max_buffered_request_bytes), \
         its limit; retry with backoff"
    )]
    RequestMemoryFull {
        /// `server.max_buffered_request_bytes`.
        budget: usize,
    },
    /// The request bytes this caller's requests hold are at its share of the budget.
    #[error(
        "this caller's requests being received already hold {share} bytes \
         (server.max_buffered_request_bytes_per_caller), the most one caller may; finish or cancel them, then retry"
    )]
    CallerRequestMemoryFull {
        /// `server.max_buffered_request_bytes_per_caller`.
        share: usize,
    },
    /// The request message did not arrive completely in time.
    #[error("the request was not received completely within {0:?}")]
    RequestNotReceived(Duration),
    /// The client took no event for too long, so its stream was ended to free its slot.
    #[error("the client read nothing for {0:?}; the stream was ended and the answer is incomplete")]
    ClientStalled(Duration),
    /// Bedrock did not begin its answer in time: open the stream, or begin a unary response.
    #[error("the model {alias:?} did not start answering within {after:?} ({key}); retry with backoff")]
    BedrockOpenTimeout {
        /// The logical model.
        alias: String,
        /// The bound that passed.
        after: Duration,
        /// Its config key: `bedrock.stream_open_timeout_secs`, or for a unary Converse
        /// `bedrock.converse_timeout_secs`.
        key: &'static str,
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
    #[error("{}", describe_bedrock(*.kind, .message, .model_id, .alias, *.incomplete))]
    Bedrock {
        /// What kind of failure.
        kind: BedrockFailure,
        /// Bedrock's own message, for the log (never contains prompt text; may name the Bedrock
        /// model or the account, so clients see it only scrubbed).
        message: String,
        /// The Bedrock model id that was called.
        model_id: String,
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
    /// Bedrock sent nothing for too long within its answer (a stream's events, or a unary answer's body).
    #[error("the model sent nothing for {0:?} (server.stream_idle_timeout_secs); the answer is incomplete")]
    StreamIdle(Duration),
    /// The gateway stopped while the stream was still open, after the shutdown grace period.
    #[error("the gateway is shutting down; the answer is incomplete, retry it")]
    ShuttingDown,
    /// The client's deadline (or the gateway's maximum stream duration) passed.
    #[error("the deadline passed before the answer was complete")]
    DeadlineExceeded,
}

/// When a request refused by a quota could fit in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaRetry {
    /// Once the quota has refilled for this long.
    After(Duration),
    /// Once one of the tenant's requests in flight ends: the quota is a count of places.
    WhenARequestEnds,
    /// Never: the request alone reserves more tokens than the quota holds.
    Never,
}

/// What a request reserves tokens for, which tells its caller how to reserve fewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// A Converse-shaped call: its max_tokens plus an estimate of its input.
    Answer,
    /// An Embed call: an estimate of its texts' tokens.
    Texts,
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
    /// The call's credentials could not be obtained, so it was not sent: the role of a target in
    /// another account could not be assumed (STS refused or could not be reached), or the
    /// gateway's own credentials are missing.
    Credentials,
    /// ModelErrorException or ModelStreamErrorException: the model itself failed.
    ModelFailed,
    /// Anything else, including a response the SDK could not understand.
    Other,
}

fn describe_bedrock(kind: BedrockFailure, message: &str, model_id: &str, alias: &str, incomplete: bool) -> String {
    let message = scrub_bedrock_ids(message, model_id, alias);
    let what = match kind {
        BedrockFailure::Validation => format!("the model {alias:?} rejected the request: {message}"),
        BedrockFailure::Throttled => format!("the model {alias:?} is throttled; retry with backoff"),
        BedrockFailure::AccessDenied => format!("the gateway is not permitted to use the model {alias:?}"),
        BedrockFailure::ModelNotFound => format!("the model {alias:?} is unavailable"),
        BedrockFailure::ModelTimeout => format!("the model {alias:?} timed out"),
        BedrockFailure::Unavailable => format!("the model {alias:?} is temporarily unavailable"),
        BedrockFailure::Credentials => {
            format!("the gateway could not obtain the credentials to call the model {alias:?}; retry with backoff")
        }
        BedrockFailure::ModelFailed => format!("the model {alias:?} failed: {message}"),
        BedrockFailure::Other => format!("calling the model {alias:?} failed"),
    };
    if incomplete { format!("{what}; the answer is incomplete") } else { what }
}

fn describe_content_type(content_type: Option<&str>) -> String {
    let refused = match content_type {
        Some(content_type) => format!("content-type {content_type:?} is not served"),
        None => "the request has no content-type".to_owned(),
    };
    format!(
        "{refused}: this gateway speaks gRPC with protobuf messages (content-type application/grpc or application/grpc+proto)"
    )
}

/// ARNs (whichever service; they hold the account id), percent-encoded ones as the SDK writes them
/// into URLs, and Bedrock model and inference-profile ids: `<provider>.<model>` with a version
/// suffix (`-v1`, `-v1:0`, `:0`, `:0:200k`), with or without a geography prefix such as `us.`.
static BEDROCK_IDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d*:[A-Za-z0-9/_.:+=@-]*[A-Za-z0-9/_+=@-]",
        r"|arn%3[Aa]aws[A-Za-z0-9%_.+=@-]*[A-Za-z0-9_+=@-]",
        r"|\b[a-z][a-z0-9]*\.[a-z0-9][a-z0-9.-]*?(?:-v\d+(?::\d+)*|:\d+(?::\d+)*)(?::\d+k)?\b",
    ))
    .expect("the Bedrock id pattern compiles")
});

/// AWS account ids outside ARNs.
static ACCOUNT_IDS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d{12}\b").expect("the account id pattern compiles"));

/// Bedrock's `message` as a client may see it: the configured `model_id`, every ARN and anything
/// shaped like a Bedrock model or inference-profile id become the logical name `alias`, and
/// account ids become `[account]`. Which Bedrock model serves an alias, and in which account, is
/// the platform team's business, and an error must not tell.
pub fn scrub_bedrock_ids<'a>(message: &'a str, model_id: &str, alias: &str) -> Cow<'a, str> {
    let exact = replace_whole(message, model_id, alias);
    let ids = match BEDROCK_IDS.replace_all(&exact, regex_lite::NoExpand(alias)) {
        Cow::Borrowed(_) => exact,
        Cow::Owned(replaced) => Cow::Owned(replaced),
    };
    match ACCOUNT_IDS.replace_all(&ids, "[account]") {
        Cow::Borrowed(_) => ids,
        Cow::Owned(replaced) => Cow::Owned(replaced),
    }
}

/// `text` with each occurrence of `id` that is not part of a longer word or id replaced.
fn replace_whole<'a>(text: &'a str, id: &str, with: &str) -> Cow<'a, str> {
    let part_of_id = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '/');
    // A '.' or ':' right after the id continues it only when more of an id follows: "id." ends a
    // sentence, "id.2" is another id.
    let continues = |rest: &str| {
        let mut chars = rest.chars();
        match chars.next() {
            Some('.' | ':') => chars.next().is_some_and(|c| c.is_ascii_alphanumeric()),
            Some(c) => part_of_id(c),
            None => false,
        }
    };
    let mut replaced = String::new();
    let mut copied = 0;
    for (at, _) in text.match_indices(id).filter(|_| !id.is_empty()) {
        let before = text[..at].chars().next_back();
        if at >= copied && !before.is_some_and(part_of_id) && !continues(&text[at + id.len()..]) {
            replaced.push_str(&text[copied..at]);
            replaced.push_str(with);
            copied = at + id.len();
        }
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    replaced.push_str(&text[copied..]);
    Cow::Owned(replaced)
}

fn describe_quota(quota: &str, limit: u64, retry: QuotaRetry, reserved: u64, reserved_for: Reservation) -> String {
    let (what, fewer) = match reserved_for {
        Reservation::Answer => ("max_tokens plus its estimated input", "lower inference_config.max_tokens"),
        Reservation::Texts => ("its texts' estimated tokens", "send fewer or shorter texts per request"),
    };
    match retry {
        QuotaRetry::After(after) => format!(
            "quota {quota} ({limit}) is used up; capacity returns in {:.1} s",
            (after.as_secs_f64() * 10.0).ceil() / 10.0
        ),
        QuotaRetry::WhenARequestEnds => format!(
            "quota {quota} ({limit}) is used up: the tenant has that many requests in flight; retry when one of \
             them ends"
        ),
        QuotaRetry::Never => format!(
            "this request reserves {reserved} tokens ({what}), more than quota {quota} ({limit}) can ever grant; \
             {fewer}"
        ),
    }
}

impl GatewayError {
    /// The request's `field` is invalid, for `reason`: the one way a bad field is refused.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> GatewayError {
        GatewayError::InvalidArgument { field: field.into(), reason: reason.into() }
    }

    /// The gRPC code clients see for this error.
    pub fn code(&self) -> Code {
        match self {
            GatewayError::InvalidArgument { .. } | GatewayError::UnsupportedContentType { .. } => Code::InvalidArgument,
            GatewayError::UnknownModel { .. } => Code::NotFound,
            GatewayError::Unsupported { .. } => Code::Unimplemented,
            GatewayError::ModelRetired { .. } => Code::FailedPrecondition,
            GatewayError::Unauthenticated { .. } => Code::Unauthenticated,
            GatewayError::PermissionDenied { .. } | GatewayError::ModelNotAllowed { .. } => Code::PermissionDenied,
            GatewayError::AtCapacity { .. }
            | GatewayError::CallerAtCapacity { .. }
            | GatewayError::QuotaExceeded { .. }
            | GatewayError::RequestMemoryFull { .. }
            | GatewayError::CallerRequestMemoryFull { .. }
            | GatewayError::RequestTooLarge { .. } => Code::ResourceExhausted,
            GatewayError::RequestNotReceived(_) | GatewayError::ClientStalled(_) => Code::DeadlineExceeded,
            GatewayError::BedrockOpenTimeout { .. } => Code::Unavailable,
            GatewayError::Bedrock { kind, .. } => match kind {
                BedrockFailure::Validation => Code::InvalidArgument,
                BedrockFailure::Throttled => Code::ResourceExhausted,
                BedrockFailure::AccessDenied => Code::PermissionDenied,
                BedrockFailure::ModelNotFound => Code::NotFound,
                BedrockFailure::ModelTimeout => Code::DeadlineExceeded,
                BedrockFailure::Unavailable | BedrockFailure::Credentials | BedrockFailure::ModelFailed => {
                    Code::Unavailable
                }
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
            | GatewayError::RequestMemoryFull { .. }
            | GatewayError::CallerRequestMemoryFull { .. } => Some(100),
            GatewayError::Bedrock { kind: BedrockFailure::Throttled, incomplete: false, .. }
            | GatewayError::BedrockOpenTimeout { .. } => Some(1000),
            GatewayError::RequestTooLarge { .. } | GatewayError::QuotaExceeded { retry: QuotaRetry::Never, .. } => {
                Some(-1)
            }
            GatewayError::QuotaExceeded { retry: QuotaRetry::After(after), .. } => {
                Some(i64::try_from(after.as_millis()).unwrap_or(i64::MAX).max(1))
            }
            GatewayError::QuotaExceeded { retry: QuotaRetry::WhenARequestEnds, .. } => {
                Some(PLACE_RETRY.as_millis() as i64)
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
        GatewayError::Bedrock {
            kind,
            message: "m".into(),
            model_id: "x".into(),
            alias: "chat".into(),
            incomplete: false,
        }
    }

    #[test]
    fn bedrock_failures_map_to_the_documented_codes() {
        assert_eq!(bedrock(BedrockFailure::Validation).code(), Code::InvalidArgument);
        assert_eq!(bedrock(BedrockFailure::Throttled).code(), Code::ResourceExhausted);
        assert_eq!(bedrock(BedrockFailure::AccessDenied).code(), Code::PermissionDenied);
        assert_eq!(bedrock(BedrockFailure::ModelNotFound).code(), Code::NotFound);
        assert_eq!(bedrock(BedrockFailure::ModelTimeout).code(), Code::DeadlineExceeded);
        assert_eq!(bedrock(BedrockFailure::Unavailable).code(), Code::Unavailable);
        assert_eq!(bedrock(BedrockFailure::Credentials).code(), Code::Unavailable);
    }

    #[test]
    fn status_carries_request_id_and_says_incomplete() {
        let err = GatewayError::Bedrock {
            kind: BedrockFailure::ModelFailed,
            message: "boom".into(),
            model_id: "x".into(),
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
        let quota = |retry, reserved_for| GatewayError::QuotaExceeded {
            quota: "tenants.payments.quotas.tokens_per_minute".into(),
            limit: 1000,
            retry,
            reserved: 1500,
            reserved_for,
        };
        let later = quota(QuotaRetry::After(Duration::from_millis(1234)), Reservation::Answer).to_status("");
        assert_eq!(later.code(), Code::ResourceExhausted);
        assert_eq!(later.metadata().get(RETRY_PUSHBACK_HEADER).unwrap(), "1234");
        assert_eq!(
            later.message(),
            "quota tenants.payments.quotas.tokens_per_minute (1000) is used up; capacity returns in 1.3 s"
        );
        let never = quota(QuotaRetry::Never, Reservation::Answer).to_status("");
        assert_eq!(never.metadata().get(RETRY_PUSHBACK_HEADER).unwrap(), "-1");
        assert!(never.message().contains("reserves 1500 tokens"), "{}", never.message());
        assert!(never.message().ends_with("; lower inference_config.max_tokens"), "{}", never.message());
    }

    #[test]
    fn a_quota_refusal_says_what_would_make_the_request_fit() {
        let refusal = |quota: &str, retry, reserved_for| {
            let err =
                GatewayError::QuotaExceeded { quota: quota.into(), limit: 2, retry, reserved: 5000, reserved_for };
            err.to_status("")
        };
        let embed = refusal("tenants.search.quotas.tokens_per_minute", QuotaRetry::Never, Reservation::Texts);
        assert_eq!(
            embed.message(),
            "this request reserves 5000 tokens (its texts' estimated tokens), more than quota \
             tenants.search.quotas.tokens_per_minute (2) can ever grant; send fewer or shorter texts per request"
        );
        let place =
            refusal("tenants.search.quotas.concurrent_requests", QuotaRetry::WhenARequestEnds, Reservation::Answer);
        assert_eq!(
            place.message(),
            "quota tenants.search.quotas.concurrent_requests (2) is used up: the tenant has that many requests in \
             flight; retry when one of them ends"
        );
        assert_eq!(place.metadata().get(RETRY_PUSHBACK_HEADER).unwrap(), "1000");
    }

    #[test]
    fn bedrock_ids_and_accounts_never_reach_the_client() {
        let scrub = |message| scrub_bedrock_ids(message, "my-custom-id", "chat").into_owned();
        let cases = [
            (
                "Invocation of model ID anthropic.claude-3-5-haiku-20241022-v1:0 with on-demand throughput isn't supported.",
                "Invocation of model ID chat with on-demand throughput isn't supported.",
            ),
            ("The model us.anthropic.claude-sonnet-4-20250514-v1:0 failed.", "The model chat failed."),
            ("global.anthropic.claude-sonnet-4-5-20250929-v1:0, amazon.titan-text-express-v1", "chat, chat"),
            ("meta.llama3-1-70b-instruct-v1:0 openai.gpt-oss-120b-1:0 x.y-v1:0:200k", "chat chat chat"),
            (
                "Resource arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123 not found.",
                "Resource chat not found.",
            ),
            (
                "User: arn:aws:sts::123456789012:assumed-role/gateway/task is not authorized on \
                 arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/anthropic.claude-v2:1",
                "User: chat is not authorized on chat",
            ),
            (
                "path /model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ax%2Fy/converse",
                "path /model/chat/converse",
            ),
            ("account 123456789012 is over its quota", "account [account] is over its quota"),
            ("model my-custom-id is not ready", "model chat is not ready"),
            (
                "my-custom-id, not my-custom-id-2 or my-custom-id.2: my-custom-id.",
                "chat, not my-custom-id-2 or my-custom-id.2: chat.",
            ),
        ];
        for (message, scrubbed) in cases {
            assert_eq!(scrub(message), scrubbed, "{message}");
        }
        for untouched in [
            "Too many requests, please wait before trying again.",
            "Malformed input request: #: extraneous key [foo] is not permitted, please reformat your input.",
            "endpoint bedrock-runtime.us-east-1.amazonaws.com: version claude-3.5-haiku, e.g. 1.5",
        ] {
            let scrubbed = scrub_bedrock_ids(untouched, "x", "chat");
            assert!(matches!(scrubbed, Cow::Borrowed(_)), "{untouched} became {scrubbed}");
        }
        let err = GatewayError::Bedrock {
            kind: BedrockFailure::Validation,
            message: "The provided model identifier arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x-v1:0 is invalid.".into(),
            model_id: "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x-v1:0".into(),
            alias: "chat".into(),
            incomplete: false,
        };
        let status = err.to_status("r");
        assert_eq!(
            status.message(),
            "the model \"chat\" rejected the request: The provided model identifier chat is invalid."
        );
        assert!(err.detail().unwrap().contains("123456789012"), "the log keeps Bedrock's own message");
    }
}
