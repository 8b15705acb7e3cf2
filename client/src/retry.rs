//! Retries: when a failed call is tried again, after how long, and how often overall.
//!
//! A call is retried only while no event of its answer has arrived, so a half answer is never
//! generated (and billed, and shown) twice; the caller of [`Client`](crate::Client) sees either a
//! whole stream or an error that says it is incomplete. Only transient codes are retried:
//! `UNAVAILABLE` (the gateway or the model is briefly unreachable, a connection was closed under
//! the call), `RESOURCE_EXHAUSTED` (throttled, or the gateway is at capacity), and a `CANCELLED`
//! made by the transport itself for a request it could not send on a connection that was closing.
//!
//! Waits grow exponentially with full jitter (a random wait between zero and the exponential
//! step), so clients that failed together do not come back together. When the server says how long
//! to wait (`grpc-retry-pushback-ms`, as in gRPC's retry design) that wait is used instead, and a
//! negative or malformed value means "do not retry".
//!
//! A retry budget caps retries at a share of recent calls (plus a small floor per second), like
//! gRPC's retry throttling: when the gateway is down for everyone, clients do not multiply the
//! load by their attempt count just as it comes back.

use std::time::Duration;

use bedrock_gateway_proto::metadata;
use tonic::{Code, Status};
use tower::retry::budget::{Budget, TpsBudget};

/// The retry settings of a client; see the module docs.
#[derive(Debug)]
pub(crate) struct Retry {
    /// Attempts per call, the first included.
    pub(crate) max_attempts: u32,
    /// The first backoff step.
    pub(crate) base_delay: Duration,
    /// The largest backoff step.
    pub(crate) max_delay: Duration,
    /// Shared by all clones of a client.
    pub(crate) budget: TpsBudget,
}

impl Retry {
    /// Counts a new call, which earns the budget a share of a retry.
    pub(crate) fn start_call(&self) {
        self.budget.deposit();
    }

    /// How long to wait before trying again after attempt number `attempt` (from 1) failed with
    /// `status` before any event arrived, or `None` to give up. `remaining` is the time left
    /// before the call's deadline.
    pub(crate) fn delay(&self, attempt: u32, status: &Status, remaining: Option<Duration>) -> Option<Duration> {
        if attempt >= self.max_attempts || !retryable(status) {
            return None;
        }
        let delay = match status.metadata().get(metadata::RETRY_PUSHBACK_MS) {
            Some(value) => pushback(value.to_str().ok()?)?,
            None => self.backoff(attempt),
        };
        if remaining.is_some_and(|remaining| delay >= remaining) {
            return None;
        }
        self.budget.withdraw().then_some(delay)
    }

    /// Full jitter: uniformly between zero and `base * 2^(attempt-1)`, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let step = self.base_delay.saturating_mul(1 << (attempt - 1).min(16)).min(self.max_delay);
        step.mul_f64(fastrand::f64())
    }
}

/// Whether the code says trying again may help.
fn retryable(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable | Code::ResourceExhausted => true,
        // A status tonic made from a transport error (it has a source): hyper cancels requests it
        // could not send because their connection was closing after a GOAWAY, so they never
        // reached the gateway. (A deadline that passed is the other such case; the caller checks
        // the deadline first.)
        Code::Cancelled => std::error::Error::source(status).is_some(),
        _ => false,
    }
}

/// The server's pushback: a non-negative number of milliseconds; anything else means no retry.
fn pushback(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(max_attempts: u32) -> Retry {
        Retry {
            max_attempts,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
            budget: TpsBudget::new(Duration::from_secs(10), 100, 0.1),
        }
    }

    fn with_pushback(value: &str) -> Status {
        let mut status = Status::resource_exhausted("throttled");
        status.metadata_mut().insert(metadata::RETRY_PUSHBACK_MS, value.parse().unwrap());
        status
    }

    #[test]
    fn retries_only_transient_codes_within_max_attempts() {
        let retry = retry(3);
        assert!(retry.delay(1, &Status::unavailable("x"), None).is_some());
        assert!(retry.delay(2, &Status::resource_exhausted("x"), None).is_some());
        assert!(retry.delay(3, &Status::unavailable("x"), None).is_none());
        for code in [Code::InvalidArgument, Code::NotFound, Code::PermissionDenied, Code::Internal, Code::Cancelled] {
            // A gateway's CANCELLED (no error source) is final; the transport's is covered by the
            // GOAWAY test in tests/connections.rs.
            assert!(retry.delay(1, &Status::new(code, "x"), None).is_none(), "{code:?}");
        }
    }

    #[test]
    fn backoff_is_jittered_exponential_and_capped() {
        let retry = retry(10);
        for _ in 0..100 {
            assert!(retry.backoff(1) <= Duration::from_millis(100));
            assert!(retry.backoff(2) <= Duration::from_millis(200));
            assert!(retry.backoff(9) <= Duration::from_millis(300));
        }
        let distinct: std::collections::HashSet<_> = (0..20).map(|_| retry.backoff(3)).collect();
        assert!(distinct.len() > 1, "jittered");
    }

    #[test]
    fn honours_the_servers_pushback() {
        let retry = retry(3);
        assert_eq!(retry.delay(1, &with_pushback("250"), None), Some(Duration::from_millis(250)));
        assert_eq!(retry.delay(1, &with_pushback("-1"), None), None);
        assert_eq!(retry.delay(1, &with_pushback("soon"), None), None);
    }

    #[test]
    fn does_not_wait_past_the_deadline() {
        let retry = retry(3);
        assert_eq!(retry.delay(1, &with_pushback("250"), Some(Duration::from_millis(200))), None);
    }

    #[test]
    fn the_budget_caps_retries_at_a_share_of_calls() {
        let retry = Retry { budget: TpsBudget::new(Duration::from_secs(1), 1, 0.1), ..retry(3) };
        for _ in 0..20 {
            retry.start_call();
        }
        let allowed = (0..100).filter(|_| retry.delay(1, &Status::unavailable("x"), None).is_some()).count();
        // The floor (1 per second over the 1 s window) plus 10% of 20 calls.
        assert!((2..=4).contains(&allowed), "{allowed} retries allowed");
    }
}
