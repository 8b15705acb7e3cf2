//! The one error type of the client.
//!
//! A caller mostly needs two answers from an error: may I show what I already received (was the
//! answer cut short?), and is it worth trying again later (the gRPC code)? [`Error`] answers both
//! whatever went wrong: the gateway's status, the transport, the deadline or the configuration.

use std::time::Duration;

use bedrock_gateway_proto::{metadata, v1};
use tonic::Code;

/// Why a call (or building a client) failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The gateway answered with a non-OK gRPC status.
    #[error("{}{}", status_text(*.code, .message), incomplete_suffix(*.incomplete))]
    Status {
        /// The gRPC code, as documented on the API's methods.
        code: Code,
        /// The gateway's message, for example which field is invalid or which models exist.
        message: String,
        /// The gateway's id for the request, to quote when reporting a problem.
        request_id: Option<String>,
        /// Whether part of the answer had already arrived (and so the answer is incomplete).
        incomplete: bool,
    },
    /// The gateway could not be reached, or the connection broke: name resolution, TCP, TLS or HTTP/2
    /// failed.
    #[error("{}", connect_text(.endpoint, .reason, *.incomplete))]
    Connect {
        /// The endpoint URL the client was built with.
        endpoint: String,
        /// What failed, for example `connection refused`.
        reason: String,
        /// Whether part of the answer had already arrived (the connection broke mid-stream).
        incomplete: bool,
    },
    /// The call's deadline passed.
    #[error("no complete answer within the deadline of {deadline:?}{}", incomplete_suffix(*.incomplete))]
    DeadlineExceeded {
        /// The deadline the call had.
        deadline: Duration,
        /// Whether part of the answer had already arrived.
        incomplete: bool,
    },
    /// The stream ended normally, but the model stopped without a usable answer: its tool call or
    /// its output was malformed ([`v1::StopReason::is_incomplete`]). It comes after the stream's
    /// `Stop` and `Usage` events; do not run the answer's tool uses, ask again.
    #[error("{} [the answer is incomplete]", stopped_text(*.stop_reason))]
    IncompleteAnswer {
        /// Why the model stopped.
        stop_reason: v1::StopReason,
        /// The gateway's id for the request.
        request_id: String,
    },
    /// The client's settings are invalid (a malformed URL, an unreadable certificate, ...).
    #[error("invalid client configuration: {0}")]
    Config(String),
}

fn status_text(code: Code, message: &str) -> String {
    if message.is_empty() { code.description().to_owned() } else { format!("{message} ({code:?})") }
}

fn connect_text(endpoint: &str, reason: &str, incomplete: bool) -> String {
    if incomplete {
        format!("the connection to {endpoint} broke: {reason}{}", incomplete_suffix(true))
    } else {
        format!("cannot connect to {endpoint}: {reason}")
    }
}

fn stopped_text(stop_reason: v1::StopReason) -> String {
    match stop_reason {
        v1::StopReason::MalformedToolUse => "the model's tool call is malformed".to_owned(),
        v1::StopReason::MalformedModelOutput => "the model's output is malformed".to_owned(),
        other => format!("the model stopped with {}", other.as_str_name()),
    }
}

fn incomplete_suffix(incomplete: bool) -> &'static str {
    if incomplete { " [the answer is incomplete]" } else { "" }
}

impl Error {
    /// The gRPC code: the gateway's, `UNAVAILABLE` for connection failures, `DEADLINE_EXCEEDED` for
    /// the deadline, `ABORTED` for an incomplete answer (worth asking again) and `INVALID_ARGUMENT`
    /// for configuration errors.
    pub fn code(&self) -> Code {
        match self {
            Error::Status { code, .. } => *code,
            Error::Connect { .. } => Code::Unavailable,
            Error::DeadlineExceeded { .. } => Code::DeadlineExceeded,
            Error::IncompleteAnswer { .. } => Code::Aborted,
            Error::Config(_) => Code::InvalidArgument,
        }
    }

    /// The human-readable message, without the code.
    pub fn message(&self) -> String {
        match self {
            Error::Status { message, .. } => message.clone(),
            Error::Connect { reason, .. } => reason.clone(),
            Error::DeadlineExceeded { deadline, .. } => format!("deadline of {deadline:?} exceeded"),
            Error::IncompleteAnswer { stop_reason, .. } => stopped_text(*stop_reason),
            Error::Config(message) => message.clone(),
        }
    }

    /// Whether some of the answer had already been received when the call failed. Such a call is
    /// never retried by the client, so that a half answer is never repeated; whether to show,
    /// discard or re-ask is the caller's decision.
    pub fn is_incomplete(&self) -> bool {
        match self {
            Error::Status { incomplete, .. }
            | Error::Connect { incomplete, .. }
            | Error::DeadlineExceeded { incomplete, .. } => *incomplete,
            Error::IncompleteAnswer { .. } => true,
            Error::Config(_) => false,
        }
    }

    /// The gateway's request id, when the gateway sent one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Status { request_id, .. } => request_id.as_deref(),
            Error::IncompleteAnswer { request_id, .. } => Some(request_id),
            _ => None,
        }
    }

    /// Classifies a status from tonic: one the gateway sent, or one tonic made for a transport
    /// failure.
    pub(crate) fn from_status(status: &tonic::Status, endpoint: &str, incomplete: bool) -> Error {
        if let Some(reason) = transport_failure(status) {
            return Error::Connect { endpoint: endpoint.to_owned(), reason, incomplete };
        }
        Error::Status {
            code: status.code(),
            message: status.message().to_owned(),
            request_id: status.metadata().get(metadata::REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_owned),
            incomplete,
        }
    }
}

/// For a status tonic made up because the transport failed (it has an error source; the gateway's
/// own statuses have none), the innermost cause, which is the readable one ("connection refused").
fn transport_failure(status: &tonic::Status) -> Option<String> {
    let mut cause: &(dyn std::error::Error + 'static) = std::error::Error::source(status)?;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let reason = match cause.downcast_ref::<std::io::Error>() {
        Some(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
            std::io::ErrorKind::ConnectionReset => "connection reset".to_owned(),
            std::io::ErrorKind::TimedOut => "timed out".to_owned(),
            _ => io.to_string(),
        },
        None => cause.to_string(),
    };
    Some(reason)
}

/// An error and its causes, joined with ": ".
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_status_keeps_code_message_and_request_id() {
        let mut status = tonic::Status::not_found("model: unknown model \"x\"; this gateway offers: chat");
        status.metadata_mut().insert(metadata::REQUEST_ID, "req-7".parse().unwrap());
        let error = Error::from_status(&status, "http://gw", false);
        assert_eq!(error.code(), Code::NotFound);
        assert_eq!(error.request_id(), Some("req-7"));
        assert!(!error.is_incomplete());
        assert_eq!(error.to_string(), "model: unknown model \"x\"; this gateway offers: chat (NotFound)");
    }

    #[test]
    fn incomplete_errors_say_so() {
        let error = Error::from_status(&tonic::Status::unavailable("the model failed"), "http://gw", true);
        assert!(error.is_incomplete());
        assert!(error.to_string().ends_with("[the answer is incomplete]"), "{error}");
        let malformed =
            Error::IncompleteAnswer { stop_reason: v1::StopReason::MalformedToolUse, request_id: "req-8".into() };
        assert!(malformed.is_incomplete());
        assert_eq!((malformed.code(), malformed.request_id()), (Code::Aborted, Some("req-8")));
        assert_eq!(malformed.to_string(), "the model's tool call is malformed [the answer is incomplete]");
    }
}
