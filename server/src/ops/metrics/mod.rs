//! The gateway's metrics: every series name is defined here, once, because dashboards, alarms and
//! autoscaling policies are built on them. The rest of the server records through this module and
//! never names a series itself.
//!
//! One [`Metrics`] value, made by `serve` and handed to what records, feeds both outputs from the
//! same recordings: the Prometheus series, through the `metrics` facade and the process's recorder
//! ([`install`], rendered by the admin listener), and the figures of the CloudWatch EMF lines
//! (`interval.rs`; `emf.rs` has their names), which the EMF writer takes from the value at each
//! interval. Nothing on the request path takes a lock to record. The series EMF does not carry
//! (quota checks and store, catalog and tenants reloads, fallbacks, deprecated calls) have no
//! figures to keep, so they are recorded by the free functions below, straight into the facade.
//! API key expiry times are state, not recordings: `key_expiry.rs` renders them.

mod interval;
mod key_expiry;
mod prometheus;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use interval::Figures;
pub(crate) use interval::{IntervalSample, TenantCounts};
pub use key_expiry::{KeyExpiries, KeyExpiry};
pub use prometheus::{install, render};

/// Requests that reached a final status, by logical model, version, tenant, caller and gRPC code.
pub const REQUESTS_TOTAL: &str = "bedrock_gateway_requests_total";
/// Requests refused before reaching Bedrock, by reason.
pub const REJECTIONS_TOTAL: &str = "bedrock_gateway_rejections_total";
/// Requests admitted and not yet finished, streams included.
pub const STREAMS_IN_FLIGHT: &str = "bedrock_gateway_streams_in_flight";
/// Open client connections.
pub const CONNECTIONS_OPEN: &str = "bedrock_gateway_connections_open";
/// Time from receiving a request to its first content, by logical model and version.
pub const TIME_TO_FIRST_TOKEN_SECONDS: &str = "bedrock_gateway_time_to_first_token_seconds";
/// Time from receiving a request to its end, by logical model.
pub const REQUEST_DURATION_SECONDS: &str = "bedrock_gateway_request_duration_seconds";
/// Tokens, by logical model, tenant, caller and direction (`input`, `output`, and for prompt
/// caching `cache_read` and `cache_write`).
pub const TOKENS_TOTAL: &str = "bedrock_gateway_tokens_total";
/// Bedrock errors, by exception name.
pub const BEDROCK_ERRORS_TOTAL: &str = "bedrock_gateway_bedrock_errors_total";
/// Calls to deprecated logical models, by model, tenant and caller: who still has to move before
/// the model retires.
pub const DEPRECATED_CALLS_TOTAL: &str = "bedrock_gateway_deprecated_calls_total";
/// 1 while the Redis quota store answers, 0 while quotas are decided on the fallback limits;
/// absent with the in-process store.
pub const QUOTA_STORE_UP: &str = "bedrock_gateway_quota_store_up";
/// Calls to the Redis quota store that failed or timed out.
pub const QUOTA_STORE_ERRORS_TOTAL: &str = "bedrock_gateway_quota_store_errors_total";
/// Quota checks of requests with at least one quota, by result.
pub const QUOTA_CHECKS_TOTAL: &str = "bedrock_gateway_quota_checks_total";
/// Requests that went on to a model's next target because one had no capacity for them, by
/// logical model and the versions fallen back from and to.
pub const FALLBACKS_TOTAL: &str = "bedrock_gateway_fallbacks_total";
/// Checks of the catalog's source, by source (`file`, `s3`) and result.
pub const CATALOG_RELOADS_TOTAL: &str = "bedrock_gateway_catalog_reloads_total";
/// Checks of the tenants' source, by source (`file`, `s3`) and result.
pub const TENANTS_RELOADS_TOTAL: &str = "bedrock_gateway_tenants_reloads_total";
/// When each API key with an `expires_on` expires (Unix time), by tenant and key name.
pub const API_KEY_EXPIRY_TIMESTAMP_SECONDS: &str = "bedrock_gateway_api_key_expiry_timestamp_seconds";
/// How long quota checks held requests before Bedrock was called, by what decided them.
pub const QUOTA_CHECK_DURATION_SECONDS: &str = "bedrock_gateway_quota_check_duration_seconds";

/// Why a request was refused before reaching Bedrock: the `reason` label of
/// [`REJECTIONS_TOTAL`] and of the request's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The caller could not be identified, or sent an unknown credential.
    Auth,
    /// The caller may not do this: a model its tenant may not use, or a credential used outside
    /// its tenant's endpoints.
    Permission,
    /// The tenant is over one of its quotas.
    Quota,
    /// The gateway's in-flight limit was reached.
    Capacity,
    /// The caller's own in-flight limit was reached.
    CallerCapacity,
    /// The request message was over the size limit.
    Size,
    /// The request bytes held by all requests were at their budget.
    RequestMemory,
    /// The request bytes held by the caller's requests were at its share of the budget.
    CallerRequestMemory,
    /// The request message did not arrive in time.
    ReceiveTimeout,
    /// The request could not be decoded.
    Decode,
    /// Too many connections were open (`server.max_connections`).
    Connections,
    /// Too many connections were open from the connection's client address or PrivateLink
    /// endpoint (`server.max_connections_per_address`, `server.max_connections_per_endpoint`).
    ConnectionsPerSource,
    /// A connection's TLS handshake failed or timed out (no or a bad client certificate, a
    /// plaintext client, ...).
    Tls,
}

impl Rejection {
    /// Every reason, for series that start at zero.
    pub const ALL: [Rejection; 13] = [
        Rejection::Auth,
        Rejection::Permission,
        Rejection::Quota,
        Rejection::Capacity,
        Rejection::CallerCapacity,
        Rejection::Size,
        Rejection::RequestMemory,
        Rejection::CallerRequestMemory,
        Rejection::ReceiveTimeout,
        Rejection::Decode,
        Rejection::Connections,
        Rejection::ConnectionsPerSource,
        Rejection::Tls,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Auth => "auth",
            Rejection::Permission => "permission",
            Rejection::Quota => "quota",
            Rejection::Capacity => "capacity",
            Rejection::CallerCapacity => "caller_capacity",
            Rejection::Size => "size",
            Rejection::RequestMemory => "request_memory",
            Rejection::CallerRequestMemory => "caller_request_memory",
            Rejection::ReceiveTimeout => "receive_timeout",
            Rejection::Decode => "decode",
            Rejection::Connections => "connections",
            Rejection::ConnectionsPerSource => "connections_per_source",
            Rejection::Tls => "tls",
        }
    }
}

/// The outcome of a quota check: the `result` label of [`QUOTA_CHECKS_TOTAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaCheck {
    /// Within quota, decided by the configured store.
    Granted,
    /// Over quota, decided by the configured store.
    Exceeded,
    /// Within the fallback limits, decided in-process while the Redis store was unreachable.
    FallbackGranted,
    /// Over the fallback limits, decided in-process while the Redis store was unreachable.
    FallbackExceeded,
}

impl QuotaCheck {
    /// Every result, for series that start at zero.
    pub const ALL: [QuotaCheck; 4] =
        [QuotaCheck::Granted, QuotaCheck::Exceeded, QuotaCheck::FallbackGranted, QuotaCheck::FallbackExceeded];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaCheck::Granted => "granted",
            QuotaCheck::Exceeded => "exceeded",
            QuotaCheck::FallbackGranted => "fallback_granted",
            QuotaCheck::FallbackExceeded => "fallback_exceeded",
        }
    }
}

/// What a check of a reloaded document's source found: the `result` label of
/// [`CATALOG_RELOADS_TOTAL`] and [`TENANTS_RELOADS_TOTAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// A new document, now serving.
    Applied,
    /// Read again, and the same as the one serving.
    Unchanged,
    /// Not read again: the source answered that nothing changed (S3's 304 to a conditional GET).
    NotModified,
    /// A new document that failed validation; the current one keeps serving.
    Invalid,
    /// The source could not be read; the current document keeps serving.
    Unreachable,
}

impl Reload {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reload::Applied => "applied",
            Reload::Unchanged => "unchanged",
            Reload::NotModified => "not_modified",
            Reload::Invalid => "invalid",
            Reload::Unreachable => "unreachable",
        }
    }
}

/// Records a request going from the target of version `from` to the one of `to`.
pub fn fell_back(model: &str, from: &str, to: &str) {
    metrics::counter!(FALLBACKS_TOTAL, "model" => model.to_owned(), "from_version" => from.to_owned(), "to_version" => to.to_owned())
        .increment(1);
}

/// Records a check of the catalog's source.
pub fn catalog_reloaded(source: &'static str, result: Reload) {
    metrics::counter!(CATALOG_RELOADS_TOTAL, "source" => source, "result" => result.as_str()).increment(1);
}

/// Records a check of the tenants' source.
pub fn tenants_reloaded(source: &'static str, result: Reload) {
    metrics::counter!(TENANTS_RELOADS_TOTAL, "source" => source, "result" => result.as_str()).increment(1);
}

/// What decided a quota check: the `decided_by` label of [`QUOTA_CHECK_DURATION_SECONDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaDecider {
    /// The in-process store (`quotas.store = "memory"`).
    Memory,
    /// On Redis, the task's allowances taken ahead: no round trip.
    Allowance,
    /// A round trip to Redis.
    Redis,
    /// The fallback limits, while Redis does not answer (including a check that timed out on it).
    Fallback,
}

impl QuotaDecider {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaDecider::Memory => "memory",
            QuotaDecider::Allowance => "allowance",
            QuotaDecider::Redis => "redis",
            QuotaDecider::Fallback => "fallback",
        }
    }
}

/// Records a quota check, which held its request for `duration`.
pub fn quota_checked(result: QuotaCheck, decider: QuotaDecider, duration: Duration) {
    metrics::counter!(QUOTA_CHECKS_TOTAL, "result" => result.as_str()).increment(1);
    metrics::histogram!(QUOTA_CHECK_DURATION_SECONDS, "decided_by" => decider.as_str()).record(duration.as_secs_f64());
}

/// Records a failed or timed-out call to the Redis quota store.
pub fn quota_store_error() {
    metrics::counter!(QUOTA_STORE_ERRORS_TOTAL).increment(1);
}

/// Records whether the Redis quota store answers; the series stays absent with the in-process store.
pub fn quota_store_up(up: bool) {
    metrics::gauge!(QUOTA_STORE_UP).set(f64::from(u8::from(up)));
}

/// Records a call to a deprecated logical model by `caller` of `tenant` (`-` when unidentified).
pub fn deprecated_call(model: &str, tenant: &str, caller: &str) {
    let labels = [("model", model.to_owned()), ("tenant", tenant.to_owned()), ("caller", caller.to_owned())];
    metrics::counter!(DEPRECATED_CALLS_TOTAL, &labels).increment(1);
}

/// What one finished request contributes to the metrics.
#[derive(Debug, Clone, Copy)]
pub struct Finished<'a> {
    /// The RPC, such as `ConverseStream` or `Embed` (`unknown` for paths outside the API).
    pub rpc: &'a str,
    /// The protocol the request came in by: `grpc`, `bedrock` or `openai`.
    pub protocol: &'a str,
    /// Logical model, or `unknown` for names outside the catalog (bounded cardinality).
    pub model: &'a str,
    /// The version of the model's target that answered (or was tried last); `-` before one was chosen.
    pub version: &'a str,
    /// Caller label (API key name, or the tenant's own endpoint id; `-` when neither).
    pub caller: &'a str,
    /// The tenant, once identified (tenants are configured, so bounded).
    pub tenant: Option<&'a str>,
    /// Whether the request was refused before reaching Bedrock.
    pub refused: bool,
    /// gRPC code name, such as `OK` or `ResourceExhausted`.
    pub code: &'static str,
    /// Time to first content, for streams that produced any.
    pub time_to_first_token: Option<Duration>,
    /// Time from receipt to the end.
    pub duration: Duration,
    /// Input and output tokens, when Bedrock reported usage; for a stream that ended without it,
    /// what its quotas were charged on an estimate.
    pub tokens: Option<(u64, u64)>,
    /// Input tokens read from and written to the prompt cache, when Bedrock reported usage.
    pub cache_tokens: Option<(u64, u64)>,
}

/// The gateway's metrics; cheap to clone, every clone recording into the same figures.
#[derive(Debug, Clone)]
pub struct Metrics(Arc<Figures>);

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// Metrics starting at zero, with the Prometheus recorder installed first ([`install`]).
    pub fn new() -> Metrics {
        install();
        Metrics(Arc::default())
    }

    /// Records a finished request.
    pub fn request_finished(&self, finished: &Finished<'_>) {
        let Finished {
            rpc,
            protocol,
            model,
            version,
            caller,
            tenant,
            refused,
            code,
            time_to_first_token,
            duration,
            tokens,
            cache_tokens,
        } = *finished;
        self.0.count_request(tenant, refused, time_to_first_token, tokens);
        let tenant = tenant.unwrap_or("-");
        let labels = [
            ("rpc", rpc.to_owned()),
            ("protocol", protocol.to_owned()),
            ("model", model.to_owned()),
            ("version", version.to_owned()),
            ("tenant", tenant.to_owned()),
            ("caller", caller.to_owned()),
            ("code", code.to_owned()),
        ];
        metrics::counter!(REQUESTS_TOTAL, &labels).increment(1);
        let by_model = [("rpc", rpc.to_owned()), ("protocol", protocol.to_owned()), ("model", model.to_owned())];
        metrics::histogram!(REQUEST_DURATION_SECONDS, &by_model).record(duration.as_secs_f64());
        if let Some(ttft) = time_to_first_token {
            let by_version = [("model", model.to_owned()), ("version", version.to_owned())];
            metrics::histogram!(TIME_TO_FIRST_TOKEN_SECONDS, &by_version).record(ttft.as_secs_f64());
        }
        if let Some((input, output)) = tokens {
            let (cache_read, cache_write) = cache_tokens.unwrap_or_default();
            // The cache's series appear once a request used the cache: most never do.
            let cache =
                [("cache_read", cache_read), ("cache_write", cache_write)].into_iter().filter(|&(_, count)| count > 0);
            for (direction, count) in [("input", input), ("output", output)].into_iter().chain(cache) {
                let labels = [
                    ("model", model.to_owned()),
                    ("tenant", tenant.to_owned()),
                    ("caller", caller.to_owned()),
                    ("direction", direction.to_owned()),
                ];
                metrics::counter!(TOKENS_TOTAL, &labels).increment(count);
            }
        }
    }

    /// Records a refusal.
    pub fn rejected(&self, reason: Rejection) {
        self.0.rejections.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(REJECTIONS_TOTAL, "reason" => reason.as_str()).increment(1);
    }

    /// Records a Bedrock error by its exception name (`ThrottlingException`, ..., or `connection`).
    pub fn bedrock_error(&self, exception: &str) {
        self.0.bedrock_errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(BEDROCK_ERRORS_TOTAL, "exception" => exception.to_owned()).increment(1);
    }

    /// Counts one admitted request in [`STREAMS_IN_FLIGHT`] while the returned value lives.
    pub fn in_flight(&self) -> InFlight {
        self.0.streams_in_flight.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!(STREAMS_IN_FLIGHT).increment(1.0);
        InFlight(self.clone())
    }

    /// Counts one client connection in [`CONNECTIONS_OPEN`] while the returned value lives.
    pub fn connection_opened(&self) -> OpenConnection {
        self.0.connections_open.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!(CONNECTIONS_OPEN).increment(1.0);
        OpenConnection(self.clone())
    }

    /// Reads the gauges and takes the interval's counts, starting the next interval at zero: what
    /// one EMF interval is made of.
    pub(crate) fn take_interval(&self) -> IntervalSample {
        self.0.take()
    }
}

/// One admitted request, counted in [`STREAMS_IN_FLIGHT`] until dropped.
#[derive(Debug)]
pub struct InFlight(Metrics);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.0.streams_in_flight.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!(STREAMS_IN_FLIGHT).decrement(1.0);
    }
}

/// One client connection, counted in [`CONNECTIONS_OPEN`] until dropped.
#[derive(Debug)]
pub struct OpenConnection(Metrics);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.0.connections_open.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!(CONNECTIONS_OPEN).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rejection_is_listed_once() {
        let mut names: Vec<_> = Rejection::ALL.iter().map(|reason| reason.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Rejection::ALL.len());
    }

    #[test]
    fn recordings_reach_the_interval_counts() {
        let metrics = Metrics::new();
        let in_flight = metrics.in_flight();
        let _connection = metrics.connection_opened();
        let finished = Finished {
            rpc: "ConverseStream",
            protocol: "grpc",
            model: "chat",
            version: "v1",
            caller: "-",
            tenant: Some("metrics-unit-tenant"),
            refused: false,
            code: "OK",
            time_to_first_token: Some(Duration::from_millis(250)),
            duration: Duration::from_secs(2),
            tokens: Some((10, 20)),
            cache_tokens: Some((0, 0)),
        };
        metrics.request_finished(&finished);
        metrics.rejected(Rejection::Capacity);
        metrics.bedrock_error("ThrottlingException");
        // These metrics are this test's own: the counts are exact.
        let sample = metrics.take_interval();
        assert_eq!((sample.streams_in_flight, sample.connections_open), (1, 1));
        assert_eq!((sample.requests, sample.rejections, sample.bedrock_errors), (1, 1, 1));
        assert_eq!(sample.time_to_first_token_ms.iter().map(|&(_, count)| count).sum::<u64>(), 1);
        let tenant = sample.tenants["metrics-unit-tenant"];
        assert_eq!((tenant.requests, tenant.input_tokens, tenant.output_tokens), (1, 10, 20));
        drop(in_flight);
        let next = metrics.take_interval();
        assert_eq!((next.streams_in_flight, next.connections_open, next.requests), (0, 1, 0));
    }
}
