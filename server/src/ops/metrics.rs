//! The gateway's metrics: every series name is defined here, once, because dashboards, alarms and
//! autoscaling policies are built on them. The rest of the server records through the functions
//! below and never names a series itself.
//!
//! Recording goes through the `metrics` facade; with no recorder installed (as in unit tests) it
//! costs next to nothing. [`install`] makes it a Prometheus recorder, once per process, which the
//! admin listener renders. The same functions also keep the gauges and a few per-interval counts
//! in atomics, which the CloudWatch EMF lines (`emf.rs`, where their names are) are made of, so
//! both outputs come from one set of recordings.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI8, AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

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

/// What a check of the catalog's source found: the `result` label of [`CATALOG_RELOADS_TOTAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogReload {
    /// A new catalog, now serving.
    Applied,
    /// Read again, and the same catalog as the one serving.
    Unchanged,
    /// Not read again: the source answered that nothing changed (S3's 304 to a conditional GET).
    NotModified,
    /// A new catalog that failed validation; the current one keeps serving.
    Invalid,
    /// The source could not be read; the current catalog keeps serving.
    Unreachable,
}

impl CatalogReload {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CatalogReload::Applied => "applied",
            CatalogReload::Unchanged => "unchanged",
            CatalogReload::NotModified => "not_modified",
            CatalogReload::Invalid => "invalid",
            CatalogReload::Unreachable => "unreachable",
        }
    }
}

/// Records a request going from the target of version `from` to the one of `to`.
pub fn fell_back(model: &str, from: &str, to: &str) {
    metrics::counter!(FALLBACKS_TOTAL, "model" => model.to_owned(), "from_version" => from.to_owned(), "to_version" => to.to_owned())
        .increment(1);
}

/// Records a check of the catalog's source.
pub fn catalog_reloaded(source: &'static str, result: CatalogReload) {
    metrics::counter!(CATALOG_RELOADS_TOTAL, "source" => source, "result" => result.as_str()).increment(1);
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

/// Records whether the Redis quota store answers.
pub fn quota_store_up(up: bool) {
    QUOTA_STORE_NOW.store(i8::from(up), Ordering::Relaxed);
}

/// What one finished request contributes to the metrics.
#[derive(Debug, Clone, Copy)]
pub struct Finished<'a> {
    /// The RPC, such as `ConverseStream` or `Embed` (`unknown` for paths outside the API).
    pub rpc: &'a str,
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

/// Records a finished request.
pub fn request_finished(finished: &Finished<'_>) {
    let Finished {
        rpc,
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
    INTERVAL.requests.fetch_add(1, Ordering::Relaxed);
    if let Some(tenant) = tenant {
        count_for_tenant(tenant, refused, tokens);
    }
    let tenant = tenant.unwrap_or("-");
    let labels = [
        ("rpc", rpc.to_owned()),
        ("model", model.to_owned()),
        ("version", version.to_owned()),
        ("tenant", tenant.to_owned()),
        ("caller", caller.to_owned()),
        ("code", code.to_owned()),
    ];
    metrics::counter!(REQUESTS_TOTAL, &labels).increment(1);
    let by_model = [("rpc", rpc.to_owned()), ("model", model.to_owned())];
    metrics::histogram!(REQUEST_DURATION_SECONDS, &by_model).record(duration.as_secs_f64());
    if let Some(ttft) = time_to_first_token {
        let by_version = [("model", model.to_owned()), ("version", version.to_owned())];
        metrics::histogram!(TIME_TO_FIRST_TOKEN_SECONDS, &by_version).record(ttft.as_secs_f64());
        INTERVAL.time_to_first_token[ttft_slot(ttft)].fetch_add(1, Ordering::Relaxed);
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

/// Adds a finished request to its tenant's counts of the interval.
fn count_for_tenant(tenant: &str, refused: bool, tokens: Option<(u64, u64)>) {
    let mut by_tenant = TENANT_INTERVAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let counts = match by_tenant.get_mut(tenant) {
        Some(counts) => counts,
        None => by_tenant.entry(tenant.to_owned()).or_default(),
    };
    counts.requests += 1;
    counts.rejections += u64::from(refused);
    if let Some((input, output)) = tokens {
        counts.input_tokens += input;
        counts.output_tokens += output;
    }
}

/// Records a refusal.
pub fn rejected(reason: Rejection) {
    INTERVAL.rejections.fetch_add(1, Ordering::Relaxed);
    metrics::counter!(REJECTIONS_TOTAL, "reason" => reason.as_str()).increment(1);
}

/// Records a Bedrock error by its exception name (`ThrottlingException`, ..., or `connection`).
pub fn bedrock_error(exception: &str) {
    INTERVAL.bedrock_errors.fetch_add(1, Ordering::Relaxed);
    metrics::counter!(BEDROCK_ERRORS_TOTAL, "exception" => exception.to_owned()).increment(1);
}

/// Records a call to a deprecated logical model by `caller` of `tenant` (`-` when unidentified).
pub fn deprecated_call(model: &str, tenant: &str, caller: &str) {
    let labels = [("model", model.to_owned()), ("tenant", tenant.to_owned()), ("caller", caller.to_owned())];
    metrics::counter!(DEPRECATED_CALLS_TOTAL, &labels).increment(1);
}

/// Counts one admitted request in [`STREAMS_IN_FLIGHT`] while it lives.
#[derive(Debug)]
pub struct InFlight(());

impl InFlight {
    /// Starts counting.
    pub fn start() -> InFlight {
        STREAMS_NOW.fetch_add(1, Ordering::Relaxed);
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        STREAMS_NOW.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts one connection in [`CONNECTIONS_OPEN`] while it lives.
#[derive(Debug)]
pub struct OpenConnection(());

impl OpenConnection {
    /// Starts counting.
    pub fn start() -> OpenConnection {
        CONNECTIONS_NOW.fetch_add(1, Ordering::Relaxed);
        OpenConnection(())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        CONNECTIONS_NOW.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The gauges' values. They are kept here rather than in the recorder so that they are right from
/// process start, whenever the recorder is installed, and so that EMF reads the same numbers.
static STREAMS_NOW: AtomicI64 = AtomicI64::new(0);
static CONNECTIONS_NOW: AtomicI64 = AtomicI64::new(0);
/// [`QUOTA_STORE_UP`]'s value, or -1 while there is no Redis store (the series is then absent).
static QUOTA_STORE_NOW: AtomicI8 = AtomicI8::new(-1);

/// Slots of the per-interval time-to-first-token distribution: a quarter of a doubling each, from
/// 1 ms (slot 0 also holds anything faster) to 2^18 ms, about 4.4 minutes (the last slot also
/// holds anything slower). Within CloudWatch's 100 distinct values per EMF metric.
const TTFT_SLOTS: usize = 72;
const TTFT_SLOTS_PER_DOUBLING: f64 = 4.0;

/// Counts since the last EMF line.
struct IntervalCounts {
    requests: AtomicU64,
    rejections: AtomicU64,
    bedrock_errors: AtomicU64,
    time_to_first_token: [AtomicU64; TTFT_SLOTS],
}

/// One tenant's counts in an EMF interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TenantCounts {
    pub(crate) requests: u64,
    pub(crate) rejections: u64,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
}

/// Per-tenant counts since the last EMF line: one lock per finished request, never per event.
static TENANT_INTERVAL: Mutex<BTreeMap<String, TenantCounts>> = Mutex::new(BTreeMap::new());

static INTERVAL: IntervalCounts = IntervalCounts {
    requests: AtomicU64::new(0),
    rejections: AtomicU64::new(0),
    bedrock_errors: AtomicU64::new(0),
    time_to_first_token: [const { AtomicU64::new(0) }; TTFT_SLOTS],
};

fn ttft_slot(ttft: Duration) -> usize {
    let ms = ttft.as_secs_f64() * 1e3;
    if ms < 1.0 {
        return 0;
    }
    // Truncation is the intent: the slot whose range holds `ms`.
    ((ms.log2() * TTFT_SLOTS_PER_DOUBLING) as usize).min(TTFT_SLOTS - 1)
}

/// The value that stands for a slot: the geometric middle of its range, within 9% of any time in it.
fn ttft_slot_ms(slot: usize) -> f64 {
    let ms = ((slot as f64 + 0.5) / TTFT_SLOTS_PER_DOUBLING).exp2();
    (ms * 100.0).round() / 100.0
}

/// One EMF interval: the gauges now, and the counts since the previous [`take_interval`].
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct IntervalSample {
    pub(crate) streams_in_flight: i64,
    pub(crate) connections_open: i64,
    pub(crate) requests: u64,
    pub(crate) rejections: u64,
    pub(crate) bedrock_errors: u64,
    /// (milliseconds, count) for each slot that has any, fastest first.
    pub(crate) time_to_first_token_ms: Vec<(f64, u64)>,
    /// Each tenant with requests in the interval, by name.
    pub(crate) tenants: BTreeMap<String, TenantCounts>,
}

/// Held by the unit tests that take an interval and read their own counts in it, which another
/// test taking the interval at the same moment would steal.
#[cfg(test)]
pub(crate) static INTERVAL_TEST_LOCK: Mutex<()> = Mutex::new(());

/// Reads the gauges and takes the interval's counts, starting the next interval at zero.
pub(crate) fn take_interval() -> IntervalSample {
    let take = |count: &AtomicU64| count.swap(0, Ordering::Relaxed);
    IntervalSample {
        streams_in_flight: STREAMS_NOW.load(Ordering::Relaxed),
        connections_open: CONNECTIONS_NOW.load(Ordering::Relaxed),
        requests: take(&INTERVAL.requests),
        rejections: take(&INTERVAL.rejections),
        bedrock_errors: take(&INTERVAL.bedrock_errors),
        time_to_first_token_ms: INTERVAL
            .time_to_first_token
            .iter()
            .enumerate()
            .filter_map(|(slot, count)| Some((ttft_slot_ms(slot), take(count))).filter(|(_, count)| *count > 0))
            .collect(),
        tenants: std::mem::take(&mut *TENANT_INTERVAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())),
    }
}

/// Buckets of [`TIME_TO_FIRST_TOKEN_SECONDS`], from a cached prompt to a long reasoning model.
const TIME_TO_FIRST_TOKEN_BUCKETS: [f64; 18] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0];
/// Buckets of [`REQUEST_DURATION_SECONDS`], from a rejected call to the longest stream allowed.
const REQUEST_DURATION_BUCKETS: [f64; 15] =
    [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0];
/// Buckets of [`QUOTA_CHECK_DURATION_SECONDS`], from a check in process to a timed-out store.
const QUOTA_CHECK_DURATION_BUCKETS: [f64; 14] =
    [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25];
/// How often histogram samples are folded into their buckets when nothing scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder as the process's recorder and describes every series; later
/// calls (as from the many gateways of a test process) only return the same handle. Recordings
/// made before the first call are not counted, except the gauges.
pub fn install() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(TIME_TO_FIRST_TOKEN_SECONDS.to_owned()), &TIME_TO_FIRST_TOKEN_BUCKETS)
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full(REQUEST_DURATION_SECONDS.to_owned()),
                    &REQUEST_DURATION_BUCKETS,
                )
            })
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full(QUOTA_CHECK_DURATION_SECONDS.to_owned()),
                    &QUOTA_CHECK_DURATION_BUCKETS,
                )
            })
            .expect("bucket lists are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder was installed first; /metrics stays empty");
            return handle;
        }
        describe();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new().name("metrics-upkeep".to_owned()).spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            }
        });
        if let Err(err) = spawned {
            tracing::warn!(%err, "cannot start the metrics upkeep thread; histograms are folded at scrapes only");
        }
        handle
    })
}

/// The Prometheus text exposition of every series, installing the recorder if needed.
pub fn render() -> String {
    let handle = install();
    metrics::gauge!(STREAMS_IN_FLIGHT).set(STREAMS_NOW.load(Ordering::Relaxed) as f64);
    metrics::gauge!(CONNECTIONS_OPEN).set(CONNECTIONS_NOW.load(Ordering::Relaxed) as f64);
    let quota_store = QUOTA_STORE_NOW.load(Ordering::Relaxed);
    if quota_store >= 0 {
        metrics::gauge!(QUOTA_STORE_UP).set(f64::from(quota_store));
    }
    handle.render()
}

fn describe() {
    describe_counter!(
        REQUESTS_TOTAL,
        Unit::Count,
        "Requests that reached a final status, by RPC, logical model, version, tenant, caller and gRPC code."
    );
    describe_counter!(REJECTIONS_TOTAL, Unit::Count, "Requests refused before reaching Bedrock, by reason.");
    describe_gauge!(STREAMS_IN_FLIGHT, Unit::Count, "Requests admitted and not yet finished, streams included.");
    describe_gauge!(CONNECTIONS_OPEN, Unit::Count, "Open client connections.");
    describe_histogram!(
        TIME_TO_FIRST_TOKEN_SECONDS,
        Unit::Seconds,
        "Time from receiving a request to its first content, by logical model and version."
    );
    describe_histogram!(
        REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Time from receiving a request to its end, by RPC and logical model."
    );
    describe_counter!(
        TOKENS_TOTAL,
        Unit::Count,
        "Tokens, by logical model, tenant, caller and direction (input, output, cache_read, cache_write)."
    );
    describe_counter!(BEDROCK_ERRORS_TOTAL, Unit::Count, "Bedrock errors, by exception name.");
    describe_counter!(
        DEPRECATED_CALLS_TOTAL,
        Unit::Count,
        "Calls to deprecated logical models, by model, tenant and caller."
    );
    describe_gauge!(
        QUOTA_STORE_UP,
        Unit::Count,
        "1 while the Redis quota store answers, 0 while quotas are decided on the fallback limits."
    );
    describe_counter!(
        QUOTA_STORE_ERRORS_TOTAL,
        Unit::Count,
        "Calls to the Redis quota store that failed or timed out."
    );
    describe_counter!(QUOTA_CHECKS_TOTAL, Unit::Count, "Quota checks of requests with at least one quota, by result.");
    describe_counter!(
        FALLBACKS_TOTAL,
        Unit::Count,
        "Requests that went on to a model's next target because one had no capacity for them, by model, from_version and to_version."
    );
    describe_counter!(
        CATALOG_RELOADS_TOTAL,
        Unit::Count,
        "Checks of the catalog's source, by source (file, s3) and result (applied, unchanged, not_modified, invalid, unreachable)."
    );
    describe_histogram!(
        QUOTA_CHECK_DURATION_SECONDS,
        Unit::Seconds,
        "How long quota checks held requests before Bedrock was called, by what decided them."
    );
    // Series whose labels are known up front start at zero, so that rates and alarms see their
    // first increase.
    for reason in Rejection::ALL {
        metrics::counter!(REJECTIONS_TOTAL, "reason" => reason.as_str()).increment(0);
    }
    for result in QuotaCheck::ALL {
        metrics::counter!(QUOTA_CHECKS_TOTAL, "result" => result.as_str()).increment(0);
    }
    metrics::counter!(QUOTA_STORE_ERRORS_TOTAL).increment(0);
    metrics::gauge!(STREAMS_IN_FLIGHT).increment(0.0);
    metrics::gauge!(CONNECTIONS_OPEN).increment(0.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttft_slots_hold_their_times() {
        for ms in [0.2, 1.0, 3.7, 42.0, 250.0, 1_234.0, 29_000.0, 200_000.0] {
            let slot = ttft_slot(Duration::from_secs_f64(ms / 1e3));
            let ratio = ttft_slot_ms(slot) / ms.max(1.0);
            assert!((0.91..=1.10).contains(&ratio), "{ms} ms -> slot {slot} ({} ms)", ttft_slot_ms(slot));
        }
        assert_eq!(ttft_slot(Duration::from_secs(3600)), TTFT_SLOTS - 1);
        assert_eq!(ttft_slot(Duration::ZERO), 0);
    }

    #[test]
    fn every_rejection_is_listed_once() {
        let mut names: Vec<_> = Rejection::ALL.iter().map(|reason| reason.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Rejection::ALL.len());
    }

    #[test]
    fn recordings_reach_the_interval_counts() {
        let _interval = INTERVAL_TEST_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let _in_flight = InFlight::start();
        let finished = Finished {
            rpc: "ConverseStream",
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
        request_finished(&finished);
        rejected(Rejection::Capacity);
        bedrock_error("ThrottlingException");
        // Other tests may record at the same time, hence the lower bounds.
        let sample = take_interval();
        assert!(sample.streams_in_flight >= 1);
        assert!(sample.requests >= 1 && sample.rejections >= 1 && sample.bedrock_errors >= 1, "{sample:?}");
        let slot_ms = ttft_slot_ms(ttft_slot(Duration::from_millis(250)));
        assert!(sample.time_to_first_token_ms.iter().any(|&(ms, count)| ms == slot_ms && count >= 1), "{sample:?}");
        let tenant = sample.tenants["metrics-unit-tenant"];
        assert_eq!((tenant.requests, tenant.input_tokens, tenant.output_tokens), (1, 10, 20));
    }
}
