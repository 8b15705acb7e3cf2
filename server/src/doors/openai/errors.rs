//! The one place this door maps an error: every error reaches it as a tonic Status (the
//! pipeline's through `GatewayError::to_status`, the edge's refusals, a stream's error item), and
//! leaves in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, with the HTTP
//! status that makes the `openai` packages raise the matching class. The SSE error event of a
//! stream cut mid-way is made from the same table, so the two cannot drift.
//!
//! | gRPC code | HTTP | `type` | `code` |
//! |---|---|---|---|
//! | INVALID_ARGUMENT | 400 | `invalid_request_error` | null |
//! | FAILED_PRECONDITION (a retired alias) | 400 | `invalid_request_error` | `model_retired` |
//! | UNIMPLEMENTED (a capability the alias lacks) | 400 | `invalid_request_error` | `unsupported_model` |
//! | RESOURCE_EXHAUSTED that retrying cannot help (pushback -1) | 400 | `invalid_request_error` | `request_too_large` |
//! | UNAUTHENTICATED | 401 | `invalid_request_error` | `invalid_api_key` |
//! | PERMISSION_DENIED | 403 | `invalid_request_error` | `permission_denied` |
//! | NOT_FOUND | 404 | `invalid_request_error` | `model_not_found` |
//! | RESOURCE_EXHAUSTED otherwise | 429, `retry-after`, `retry-after-ms` | `rate_limit_error` | `rate_limit_exceeded` |
//! | UNAVAILABLE | 503 | `server_error` | `service_unavailable` |
//! | DEADLINE_EXCEEDED | 504 | `server_error` | `timeout` |
//! | anything else | 500 | `server_error` | null |
//!
//! A request that can never fit (larger than the gateway takes, or reserving more tokens than its
//! quota holds) is a 400, not a 429 nor a 413: the `openai` packages retry a 429 by default, which
//! cannot help, and raise a 413 as a bare APIStatusError, where a 400 is a BadRequestError whose
//! message says what to send instead. `param` names the field when the message begins with one,
//! as every refusal of a field does.

use axum::body::Body;
use bedrock_gateway_proto::metadata::{REQUEST_ID, RETRY_PUSHBACK_MS};
use bedrock_gateway_proto::v1;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;
use tonic::{Code, Status};

const INVALID_REQUEST: &str = "invalid_request_error";
const SERVER_ERROR: &str = "server_error";

/// An error in OpenAI's terms.
#[derive(Debug, PartialEq)]
struct Refusal<'a> {
    status: StatusCode,
    kind: &'static str,
    code: Option<&'static str>,
    param: Option<&'a str>,
    message: &'a str,
    /// For a 429: how long to wait before retrying.
    retry_after_ms: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Envelope<'a> {
    error: ErrorObject<'a>,
}

#[derive(Debug, Serialize)]
struct ErrorObject<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<&'a str>,
    code: Option<&'static str>,
}

impl<'a> Refusal<'a> {
    fn of(status: &'a Status) -> Refusal<'a> {
        let pushback = status
            .metadata()
            .get(RETRY_PUSHBACK_MS)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<i64>().ok());
        let (http, kind, code) = match status.code() {
            Code::InvalidArgument => (StatusCode::BAD_REQUEST, INVALID_REQUEST, None),
            Code::FailedPrecondition => (StatusCode::BAD_REQUEST, INVALID_REQUEST, Some("model_retired")),
            Code::Unimplemented => (StatusCode::BAD_REQUEST, INVALID_REQUEST, Some("unsupported_model")),
            Code::ResourceExhausted if pushback.is_some_and(|ms| ms < 0) => {
                (StatusCode::BAD_REQUEST, INVALID_REQUEST, Some("request_too_large"))
            }
            Code::Unauthenticated => (StatusCode::UNAUTHORIZED, INVALID_REQUEST, Some("invalid_api_key")),
            Code::PermissionDenied => (StatusCode::FORBIDDEN, INVALID_REQUEST, Some("permission_denied")),
            Code::NotFound => (StatusCode::NOT_FOUND, INVALID_REQUEST, Some("model_not_found")),
            Code::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", Some("rate_limit_exceeded")),
            Code::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, SERVER_ERROR, Some("service_unavailable")),
            Code::DeadlineExceeded => (StatusCode::GATEWAY_TIMEOUT, SERVER_ERROR, Some("timeout")),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, SERVER_ERROR, None),
        };
        Refusal {
            status: http,
            kind,
            code,
            param: if http.is_client_error() { param(status.message()) } else { None },
            message: status.message(),
            retry_after_ms: pushback
                .filter(|_| http == StatusCode::TOO_MANY_REQUESTS)
                .and_then(|ms| ms.try_into().ok()),
        }
    }

    fn body(&self) -> Vec<u8> {
        let envelope = Envelope {
            error: ErrorObject { message: self.message, kind: self.kind, param: self.param, code: self.code },
        };
        serde_json::to_vec(&envelope).expect("an error serializes")
    }
}

/// The field a refusal's message begins with (`messages[0].content: must not be empty`), if any.
fn param(message: &str) -> Option<&str> {
    let (field, _) = message.split_once(": ")?;
    let in_path = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | '"' | '-');
    (!field.is_empty() && field.chars().all(in_path)).then_some(field)
}

/// The HTTP response of `status`, in OpenAI's shape.
pub fn error_response(status: &Status) -> Response<Body> {
    let refusal = Refusal::of(status);
    let mut response = Response::new(Body::from(refusal.body()));
    *response.status_mut() = refusal.status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(request_id) =
        status.metadata().get(REQUEST_ID).and_then(|id| HeaderValue::from_bytes(id.as_bytes()).ok())
    {
        headers.insert(REQUEST_ID, request_id);
    }
    if let Some(ms) = refusal.retry_after_ms {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(ms.div_ceil(1000)));
        headers.insert("retry-after-ms", HeaderValue::from(ms));
    }
    response
}

/// The SSE event that ends a stream cut by `status`: OpenAI's error object, and no `[DONE]` after it.
pub(super) fn error_event(status: &Status) -> Bytes {
    let mut event = b"data: ".to_vec();
    event.extend_from_slice(&Refusal::of(status).body());
    event.extend_from_slice(b"\n\n");
    Bytes::from(event)
}

/// The error of an answer the model left incomplete although it stopped normally: its tool call
/// or its output was malformed. UNAVAILABLE, as asking again is what helps (the `openai`
/// packages retry it).
pub(super) fn incomplete(reason: v1::StopReason, request_id: &str) -> Status {
    let what = match reason {
        v1::StopReason::MalformedToolUse => "the model's tool call was malformed",
        _ => "the model's output was malformed",
    };
    let mut status = Status::unavailable(format!("{what}; the answer is incomplete, ask again"));
    if let Ok(id) = request_id.parse() {
        status.metadata_mut().insert(REQUEST_ID, id);
    }
    status
}
