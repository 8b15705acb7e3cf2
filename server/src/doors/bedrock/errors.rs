//! The one place this door maps errors: a [`Status`] -> the Bedrock exception an AWS SDK raises,
//! as an HTTP response ([`error_response`]) or, mid-stream, as an event-stream exception frame
//! (whose type comes from the same [`Exception::of`], so the two cannot drift).
//!
//! Bedrock's errors are an HTTP status, the exception's name in `x-amzn-ErrorType` (what every
//! SDK dispatches on) and a JSON body `{"message": ...}`.

use axum::body::Body;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderName, HeaderValue, Response, StatusCode};
use tonic::{Code, Status};

use crate::error::{REQUEST_ID_HEADER, RETRY_PUSHBACK_HEADER};

/// The header naming the exception.
const ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");
/// The header carrying the request id, as Bedrock sends its own.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");

/// A Bedrock exception: its name and the HTTP status Bedrock answers it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Exception {
    /// The name, as in `x-amzn-ErrorType`.
    pub name: &'static str,
    /// The name as an event-stream frame's `:exception-type` says it (lower camel case).
    pub frame_name: &'static str,
    /// The HTTP status.
    pub status: StatusCode,
}

const VALIDATION: Exception =
    Exception { name: "ValidationException", frame_name: "validationException", status: StatusCode::BAD_REQUEST };
const RESOURCE_NOT_FOUND: Exception = Exception {
    name: "ResourceNotFoundException",
    frame_name: "resourceNotFoundException",
    status: StatusCode::NOT_FOUND,
};
const ACCESS_DENIED: Exception =
    Exception { name: "AccessDeniedException", frame_name: "accessDeniedException", status: StatusCode::FORBIDDEN };
const THROTTLING: Exception =
    Exception { name: "ThrottlingException", frame_name: "throttlingException", status: StatusCode::TOO_MANY_REQUESTS };
const SERVICE_UNAVAILABLE: Exception = Exception {
    name: "ServiceUnavailableException",
    frame_name: "serviceUnavailableException",
    status: StatusCode::SERVICE_UNAVAILABLE,
};
const MODEL_TIMEOUT: Exception = Exception {
    name: "ModelTimeoutException",
    frame_name: "modelTimeoutException",
    status: StatusCode::REQUEST_TIMEOUT,
};
const INTERNAL_SERVER: Exception = Exception {
    name: "InternalServerException",
    frame_name: "internalServerException",
    status: StatusCode::INTERNAL_SERVER_ERROR,
};

impl Exception {
    /// The exception for `status`.
    ///
    /// - A caller the gateway does not know (UNAUTHENTICATED) gets AccessDeniedException, as
    ///   Bedrock answers a bad API key, and an exception every SDK models for every operation (AWS's
    ///   UnrecognizedClientException is not modelled for Bedrock Runtime).
    /// - RESOURCE_EXHAUSTED that retrying cannot help (pushback -1: a request larger than the
    ///   gateway takes, or than a quota can ever grant) is ValidationException: the request must
    ///   change, and Bedrock's ServiceQuotaExceededException is modelled for InvokeModel only.
    /// - A retired model (FAILED_PRECONDITION) and a capability the alias lacks (UNIMPLEMENTED)
    ///   are ValidationException, as Bedrock refuses an operation a model does not support.
    pub(super) fn of(status: &Status) -> Exception {
        match status.code() {
            Code::InvalidArgument | Code::FailedPrecondition | Code::Unimplemented => VALIDATION,
            Code::NotFound => RESOURCE_NOT_FOUND,
            Code::PermissionDenied | Code::Unauthenticated => ACCESS_DENIED,
            Code::ResourceExhausted if pushback_ms(status).is_some_and(|pushback| pushback < 0) => VALIDATION,
            Code::ResourceExhausted => THROTTLING,
            Code::Unavailable => SERVICE_UNAVAILABLE,
            Code::DeadlineExceeded => MODEL_TIMEOUT,
            _ => INTERNAL_SERVER,
        }
    }
}

/// The retry pushback the status carries: milliseconds to wait, or -1 for never.
fn pushback_ms(status: &Status) -> Option<i64> {
    status.metadata().get(RETRY_PUSHBACK_HEADER)?.to_str().ok()?.parse().ok()
}

/// The `{"message": ...}` body of an exception.
pub(super) fn message_body(status: &Status) -> Bytes {
    Bytes::from(serde_json::json!({ "message": status.message() }).to_string())
}

/// The HTTP response for `status`: its exception's status and name, the message, the request
/// id, and, when throttled, `retry-after` in whole seconds (rounded up; the message states the
/// wait more precisely).
pub fn error_response(status: &Status) -> Response<Body> {
    let exception = Exception::of(status);
    let mut response = Response::new(Body::from(message_body(status)));
    *response.status_mut() = exception.status;
    let headers = response.headers_mut();
    headers.insert(ERROR_TYPE, HeaderValue::from_static(exception.name));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(request_id) = status.metadata().get(REQUEST_ID_HEADER).and_then(|id| id.to_str().ok())
        && let Ok(request_id) = HeaderValue::from_str(request_id)
    {
        headers.insert(REQUEST_ID, request_id);
    }
    if exception == THROTTLING
        && let Some(pushback) = pushback_ms(status).filter(|&pushback| pushback > 0)
    {
        headers.insert(RETRY_AFTER, HeaderValue::from((pushback as u64).div_ceil(1000)));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: Code, pushback: Option<&str>) -> Status {
        let mut status = Status::new(code, "what happened");
        status.metadata_mut().insert(REQUEST_ID_HEADER, "req-1".parse().unwrap());
        if let Some(pushback) = pushback {
            status.metadata_mut().insert(RETRY_PUSHBACK_HEADER, pushback.parse().unwrap());
        }
        status
    }

    #[test]
    fn every_code_maps_to_the_documented_exception_and_status() {
        let cases = [
            (Code::InvalidArgument, None, "ValidationException", 400),
            (Code::NotFound, None, "ResourceNotFoundException", 404),
            (Code::PermissionDenied, None, "AccessDeniedException", 403),
            (Code::Unauthenticated, None, "AccessDeniedException", 403),
            (Code::ResourceExhausted, Some("1500"), "ThrottlingException", 429),
            (Code::ResourceExhausted, None, "ThrottlingException", 429),
            (Code::ResourceExhausted, Some("-1"), "ValidationException", 400),
            (Code::Unavailable, None, "ServiceUnavailableException", 503),
            (Code::DeadlineExceeded, None, "ModelTimeoutException", 408),
            (Code::FailedPrecondition, None, "ValidationException", 400),
            (Code::Unimplemented, None, "ValidationException", 400),
            (Code::Internal, None, "InternalServerException", 500),
            (Code::Unknown, None, "InternalServerException", 500),
            (Code::Cancelled, None, "InternalServerException", 500),
        ];
        for (code, pushback, name, http_status) in cases {
            let response = error_response(&status(code, pushback));
            assert_eq!(response.status().as_u16(), http_status, "{code:?}");
            assert_eq!(response.headers()["x-amzn-ErrorType"], name, "{code:?}");
            assert_eq!(response.headers()["content-type"], "application/json");
            assert_eq!(response.headers()["x-amzn-RequestId"], "req-1");
        }
    }

    #[test]
    fn frame_names_are_the_names_in_lower_camel_case() {
        for exception in [
            VALIDATION,
            RESOURCE_NOT_FOUND,
            ACCESS_DENIED,
            THROTTLING,
            SERVICE_UNAVAILABLE,
            MODEL_TIMEOUT,
            INTERNAL_SERVER,
        ] {
            let (first, rest) = exception.name.split_at(1);
            assert_eq!(exception.frame_name, format!("{}{rest}", first.to_lowercase()));
        }
    }

    #[tokio::test]
    async fn the_body_is_the_message_in_json() {
        let response = error_response(&Status::invalid_argument("messages[0].content[1].image.format: \"bmp\""));
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body, serde_json::json!({"message": "messages[0].content[1].image.format: \"bmp\""}));
    }

    #[test]
    fn throttling_says_when_to_retry_in_whole_seconds_rounded_up() {
        for (pushback, seconds) in [("1", "1"), ("1000", "1"), ("1001", "2"), ("61000", "61")] {
            let response = error_response(&status(Code::ResourceExhausted, Some(pushback)));
            assert_eq!(response.headers()["retry-after"], seconds, "{pushback} ms");
        }
        for never in [status(Code::ResourceExhausted, Some("-1")), status(Code::ResourceExhausted, None)] {
            assert!(error_response(&never).headers().get("retry-after").is_none());
        }
        let unavailable = error_response(&status(Code::Unavailable, Some("100")));
        assert!(unavailable.headers().get("retry-after").is_none(), "only a throttled request is told to wait");
    }

    #[test]
    fn a_status_without_a_request_id_has_no_request_id_header() {
        let response = error_response(&Status::internal("boom"));
        assert!(response.headers().get("x-amzn-RequestId").is_none());
    }
}
