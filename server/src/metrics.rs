//! The gateway's metrics: every series name is defined here, once, because dashboards, alarms and
//! autoscaling policies are built on them. The rest of the server records through the functions
//! below and never names a series itself.
//!
//! Recording goes through the `metrics` facade; with no recorder installed (as in unit tests) it
//! costs next to nothing.

use std::time::Duration;

/// Requests that reached a final status, by logical model, caller and gRPC code.
pub const REQUESTS_TOTAL: &str = "bedrock_gateway_requests_total";
/// Requests refused before reaching Bedrock, by reason.
pub const REJECTIONS_TOTAL: &str = "bedrock_gateway_rejections_total";
/// Requests admitted and not yet finished, streams included.
pub const STREAMS_IN_FLIGHT: &str = "bedrock_gateway_streams_in_flight";
/// Open client connections.
pub const CONNECTIONS_OPEN: &str = "bedrock_gateway_connections_open";
/// Time from receiving a request to its first content, by logical model.
pub const TIME_TO_FIRST_TOKEN_SECONDS: &str = "bedrock_gateway_time_to_first_token_seconds";
/// Time from receiving a request to its end, by logical model.
pub const REQUEST_DURATION_SECONDS: &str = "bedrock_gateway_request_duration_seconds";
/// Tokens, by logical model, caller and direction (`input` or `output`).
pub const TOKENS_TOTAL: &str = "bedrock_gateway_tokens_total";
/// Bedrock errors, by exception name.
pub const BEDROCK_ERRORS_TOTAL: &str = "bedrock_gateway_bedrock_errors_total";

/// Why a request was refused before reaching Bedrock: the `reason` label of
/// [`REJECTIONS_TOTAL`] and of the request's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No or an unknown API key.
    Auth,
    /// The gateway's in-flight limit was reached.
    Capacity,
    /// The caller's own in-flight limit was reached.
    CallerCapacity,
    /// The request message was over the size limit.
    Size,
    /// The request message did not arrive in time.
    ReceiveTimeout,
    /// The request could not be decoded.
    Decode,
    /// Too many connections were open.
    Connections,
}

impl Rejection {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Auth => "auth",
            Rejection::Capacity => "capacity",
            Rejection::CallerCapacity => "caller_capacity",
            Rejection::Size => "size",
            Rejection::ReceiveTimeout => "receive_timeout",
            Rejection::Decode => "decode",
            Rejection::Connections => "connections",
        }
    }
}

/// What one finished request contributes to the metrics.
#[derive(Debug, Clone, Copy)]
pub struct Finished<'a> {
    /// Logical model, or `unknown` for names outside the catalog (bounded cardinality).
    pub model: &'a str,
    /// Caller label (API key name or endpoint id; `-` when neither is known).
    pub caller: &'a str,
    /// gRPC code name, such as `OK` or `ResourceExhausted`.
    pub code: &'static str,
    /// Time to first content, for streams that produced any.
    pub time_to_first_token: Option<Duration>,
    /// Time from receipt to the end.
    pub duration: Duration,
    /// Input and output tokens, when Bedrock reported usage.
    pub tokens: Option<(u64, u64)>,
}

/// Records a finished request.
pub fn request_finished(finished: &Finished<'_>) {
    let Finished { model, caller, code, time_to_first_token, duration, tokens } = *finished;
    let labels = [("model", model.to_owned()), ("caller", caller.to_owned()), ("code", code.to_owned())];
    metrics::counter!(REQUESTS_TOTAL, &labels).increment(1);
    let by_model = [("model", model.to_owned())];
    metrics::histogram!(REQUEST_DURATION_SECONDS, &by_model).record(duration.as_secs_f64());
    if let Some(ttft) = time_to_first_token {
        metrics::histogram!(TIME_TO_FIRST_TOKEN_SECONDS, &by_model).record(ttft.as_secs_f64());
    }
    if let Some((input, output)) = tokens {
        for (direction, count) in [("input", input), ("output", output)] {
            let labels =
                [("model", model.to_owned()), ("caller", caller.to_owned()), ("direction", direction.to_owned())];
            metrics::counter!(TOKENS_TOTAL, &labels).increment(count);
        }
    }
}

/// Records a refusal.
pub fn rejected(reason: Rejection) {
    metrics::counter!(REJECTIONS_TOTAL, "reason" => reason.as_str()).increment(1);
}

/// Records a Bedrock error by its exception name (`ThrottlingException`, ..., or `connection`).
pub fn bedrock_error(exception: &str) {
    metrics::counter!(BEDROCK_ERRORS_TOTAL, "exception" => exception.to_owned()).increment(1);
}

/// Counts one admitted request in [`STREAMS_IN_FLIGHT`] while it lives.
#[derive(Debug)]
pub struct InFlight(());

impl InFlight {
    /// Starts counting.
    pub fn start() -> InFlight {
        metrics::gauge!(STREAMS_IN_FLIGHT).increment(1.0);
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!(STREAMS_IN_FLIGHT).decrement(1.0);
    }
}

/// Counts one connection in [`CONNECTIONS_OPEN`] while it lives.
#[derive(Debug)]
pub struct OpenConnection(());

impl OpenConnection {
    /// Starts counting.
    pub fn start() -> OpenConnection {
        metrics::gauge!(CONNECTIONS_OPEN).increment(1.0);
        OpenConnection(())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!(CONNECTIONS_OPEN).decrement(1.0);
    }
}
