//! Fault injection: which failure a request asked for.
//!
//! Tests select a fault per request through the model id (`fault.<name>`)
//! so that it survives any gateway in between, or through the
//! `x-emulator-fault` header for direct SDK users. See the crate docs for
//! the list.

use std::collections::HashSet;
use std::sync::Mutex;

use crate::errors::ServiceError;
use crate::generate::{MALFORMED_MODEL_OUTPUT, MALFORMED_TOOL_USE};

/// Prefix of model ids (and header values) that select a fault.
const PREFIX: &str = "fault.";

/// A failure to inject into one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Answer with this error instead of a response.
    Reject(ServiceError),
    /// Answer with a `ThrottlingException` the first time a prompt is seen.
    ThrottleOnce,
    /// Stream this many text deltas, then a `modelStreamErrorException`.
    StreamError(usize),
    /// Stream `messageStart` and this many text deltas, then nothing more.
    Stall(usize),
    /// Stream this many text deltas, then drop the connection mid-body.
    Close(usize),
    /// Stream a normal answer without the final `metadata` event.
    NoMetadata,
    /// Accept the request and never answer: no status line, no headers.
    Hang,
    /// Send the response's headers and the first half of its body, then nothing more.
    StallBody,
    /// Answer normally, but stop with this stop reason.
    StopReason(&'static str),
    /// Answer normally, after a content block of a kind the SDK does not know.
    UnknownBlock,
}

/// A `fault.*` name that is not in the list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unknown emulator fault {0:?}.")]
pub(crate) struct UnknownFault(String);

impl Fault {
    /// The fault `name` selects: `Ok(None)` for names without the `fault.`
    /// prefix, which are ordinary model ids. In an ARN the resource id
    /// selects, so that `arn:aws:bedrock:...:application-inference-profile/fault.throttle`
    /// is a throttled inference profile.
    pub(crate) fn parse(name: &str) -> Result<Option<Fault>, UnknownFault> {
        let selector = if name.starts_with("arn:") { name.rsplit('/').next().unwrap_or(name) } else { name };
        let Some(fault) = selector.strip_prefix(PREFIX) else {
            return Ok(None);
        };
        let unknown = || UnknownFault(name.to_owned());
        let (kind, count) = match fault.split_once('.') {
            Some((kind, count)) => (kind, Some(count.parse::<usize>().map_err(|_| unknown())?)),
            None => (fault, None),
        };
        let fault = match (kind, count) {
            ("throttle", None) => Fault::Reject(ServiceError::Throttling),
            ("validation", None) => Fault::Reject(ServiceError::Validation),
            ("access-denied", None) => Fault::Reject(ServiceError::AccessDenied),
            ("not-found", None) => Fault::Reject(ServiceError::ResourceNotFound),
            ("model-timeout", None) => Fault::Reject(ServiceError::ModelTimeout),
            ("model-error", None) => Fault::Reject(ServiceError::ModelError),
            ("unavailable", None) => Fault::Reject(ServiceError::ServiceUnavailable),
            ("not-ready", None) => Fault::Reject(ServiceError::ModelNotReady),
            ("quota", None) => Fault::Reject(ServiceError::ServiceQuotaExceeded),
            ("internal", None) => Fault::Reject(ServiceError::InternalServer),
            ("throttle-once", None) => Fault::ThrottleOnce,
            ("no-metadata", None) => Fault::NoMetadata,
            ("hang", None) => Fault::Hang,
            ("stall-body", None) => Fault::StallBody,
            ("malformed-tool-use", None) => Fault::StopReason(MALFORMED_TOOL_USE),
            ("malformed-model-output", None) => Fault::StopReason(MALFORMED_MODEL_OUTPUT),
            ("unknown-block", None) => Fault::UnknownBlock,
            ("stall", count) => Fault::Stall(count.unwrap_or(0)),
            ("stream-error", Some(n)) => Fault::StreamError(n),
            ("close", Some(n)) => Fault::Close(n),
            _ => return Err(unknown()),
        };
        Ok(Some(fault))
    }
}

/// Prompts that already got their `fault.throttle-once` throttle.
#[derive(Debug, Default)]
pub(crate) struct ThrottleOnce {
    seen: Mutex<HashSet<String>>,
}

impl ThrottleOnce {
    /// Whether this request is the first with `prompt`, and so is throttled.
    pub(crate) fn first_time(&self, prompt: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if seen.contains(prompt) {
            false
        } else {
            seen.insert(prompt.to_owned());
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_fault_list() {
        assert_eq!(Fault::parse("anthropic.claude-v2"), Ok(None));
        assert_eq!(Fault::parse("fault.throttle"), Ok(Some(Fault::Reject(ServiceError::Throttling))));
        assert_eq!(Fault::parse("fault.stall"), Ok(Some(Fault::Stall(0))));
        assert_eq!(Fault::parse("fault.stall.3"), Ok(Some(Fault::Stall(3))));
        assert_eq!(Fault::parse("fault.close.2"), Ok(Some(Fault::Close(2))));
        assert_eq!(Fault::parse("fault.hang"), Ok(Some(Fault::Hang)));
        assert_eq!(Fault::parse("fault.stall-body"), Ok(Some(Fault::StallBody)));
        assert_eq!(Fault::parse("fault.stream-error.0"), Ok(Some(Fault::StreamError(0))));
        assert_eq!(Fault::parse("fault.malformed-tool-use"), Ok(Some(Fault::StopReason("malformed_tool_use"))));
        let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/fault.validation";
        assert_eq!(Fault::parse(arn), Ok(Some(Fault::Reject(ServiceError::Validation))));
        let plain = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123";
        assert_eq!(Fault::parse(plain), Ok(None));
        for bad in ["fault.nope", "fault.close", "fault.throttle.1", "fault.stall.x", "fault."] {
            assert!(Fault::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn throttle_once_is_per_prompt() {
        let t = ThrottleOnce::default();
        assert!(t.first_time("a"));
        assert!(!t.first_time("a"));
        assert!(t.first_time("b"));
    }
}
